"""MNIST at a glance: shapes, types, pixel range, class balance, samples and one image's pixels."""

import numpy as np
import streamlit as st

from app import charts, dataset, runtime, widgets

runtime.through_entry_script()

SAMPLES = 24

st.title("The MNIST data")
(x_train, y_train), (x_test, y_test) = dataset.mnist_or_stop()

st.dataframe(
    [
        {"split": name, "images": str(x.shape), "image dtype": str(x.dtype), "pixel range": f"{x.min()}-{x.max()}",
         "labels": str(y.shape), "label dtype": str(y.dtype)}
        for name, x, y in (("train", x_train, y_train), ("test", x_test, y_test))
    ],
    hide_index=True,
)
st.caption("The models take these as float32 (N, 28, 28, 1) in [0, 1]: divided by 255, a channel axis added.")
widgets.chart(charts.class_counts({"train": y_train, "test": y_test}))

st.subheader("Random training images")
if st.button("Reshuffle", key="reshuffle", icon=":material/shuffle:"):
    st.session_state.sample_seed = st.session_state.get("sample_seed", 0) + 1
picked = np.random.default_rng(st.session_state.get("sample_seed", 0)).choice(len(x_train), SAMPLES, replace=False)
widgets.digit_grid(x_train[picked], [f"{y_train[i]} (#{i})" for i in picked])

st.subheader("One image, pixel by pixel")
index = st.number_input("Training image", 0, len(x_train) - 1, int(picked[0]), key="pixel_index")
widgets.chart(charts.pixels(x_train[index], f"Training image #{index}: a {y_train[index]}"), width="content")
