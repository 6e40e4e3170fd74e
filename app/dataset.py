"""MNIST for the pages: loaded once per server, read-only, or the reason it cannot be and how to fix it."""

import os

import streamlit as st

import mnist_cnn as mc
from mnist_cnn.data import ENV_VAR, Split

SUBSET_VAR = "MNIST_CNN_TRAIN_SUBSET"  # train on the first N training images (tests, small machines)


@st.cache_resource(show_spinner="Loading MNIST…")
def _mnist(path: str | None) -> tuple[Split, Split]:
    data = mc.load_mnist(path)
    for array in (*data[0], *data[1]):
        array.flags.writeable = False  # shared by every session
    return data


def source() -> str | None:
    """The MNIST file the app reads: $MNIST_NPZ, or None for keras' download."""
    return os.environ.get(ENV_VAR)


def mnist() -> tuple[Split, Split]:
    """((x_train, y_train), (x_test, y_test)) from source(); raises mc.DataError."""
    return _mnist(source())


def mnist_or_stop() -> tuple[Split, Split]:
    """mnist(); if it cannot be loaded, say why and how to fix it, and stop the page."""
    try:
        return mnist()
    except mc.DataError as e:
        st.error(f"MNIST could not be loaded: {e}", icon=":material/cloud_off:")
        st.info(
            "This page needs the MNIST data. Keras downloads it on first use, which needs internet access; "
            f"offline, put `mnist.npz` (keras' layout) on this machine and start the app with "
            f"`{ENV_VAR}=/path/to/mnist.npz streamlit run streamlit_app.py`. Drawing digits works without it."
        )
        st.page_link("pages/canvas.py", label="Draw a digit", icon=":material/draw:")
        st.stop()


def training_subset() -> int | None:
    """How many training images the app trains on: $MNIST_CNN_TRAIN_SUBSET, else all."""
    subset = os.environ.get(SUBSET_VAR)
    return int(subset) if subset else None
