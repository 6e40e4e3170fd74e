"""MNIST at a glance: shapes, types, pixel range, class balance, samples and one image's pixels."""

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from pages import ui

SAMPLES = 24

ui.model_card()
st.title("The MNIST data")
(x_train, y_train), (x_test, y_test) = ui.mnist_or_stop()

st.dataframe(
    [
        {"split": name, "images": str(x.shape), "image dtype": str(x.dtype), "pixel range": f"{x.min()}-{x.max()}",
         "labels": str(y.shape), "label dtype": str(y.dtype)}
        for name, x, y in (("train", x_train, y_train), ("test", x_test, y_test))
    ],
    hide_index=True,
)
st.caption("The models take these as float32 (N, 28, 28, 1) in [0, 1]: divided by 255, a channel axis added.")

digits = list(range(10))
counts = go.Figure(
    [go.Bar(x=digits, y=np.bincount(y, minlength=10), name=name, text=np.bincount(y, minlength=10))
     for name, y in (("train", y_train), ("test", y_test))]
)
counts.update_layout(title="Images per digit", barmode="group", height=320, margin=dict(l=10, r=10, t=40, b=10),
                     xaxis=dict(tickmode="linear", title="digit"))
st.plotly_chart(counts, config={"displayModeBar": False})

st.subheader("Random training images")
if st.button("Reshuffle", key="reshuffle", icon=":material/shuffle:"):
    st.session_state.sample_seed = st.session_state.get("sample_seed", 0) + 1
picked = np.random.default_rng(st.session_state.get("sample_seed", 0)).choice(len(x_train), SAMPLES, replace=False)
ui.digit_grid(x_train[picked], [f"{y_train[i]} (#{i})" for i in picked])

st.subheader("One image, pixel by pixel")
index = st.number_input("Training image", 0, len(x_train) - 1, int(picked[0]), key="pixel_index")
pixels = go.Figure(go.Heatmap(z=x_train[index], text=x_train[index], texttemplate="%{text}",
                              textfont=dict(size=8), colorscale="gray", zmin=0, zmax=255))
pixels.update_layout(title=f"Training image #{index}: a {y_train[index]}", height=640, width=680,
                     margin=dict(l=10, r=10, t=40, b=10), yaxis=dict(autorange="reversed", scaleanchor="x"))
st.plotly_chart(pixels, width="content", config={"displayModeBar": False})
