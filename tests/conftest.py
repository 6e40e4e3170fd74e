"""Shared fixtures and helpers: MNIST from $MNIST_NPZ (or keras' download), small subsets, a briefly trained
model, the app in Streamlit's AppTest, and image encoding."""

import gc
import io
import os
import re
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest
from PIL import Image

import mnist_cnn

SUBSET = 3000  # training images for tests that train: enough to learn, quick on a CPU
APP = str(Path(__file__).resolve().parent.parent / "streamlit_app.py")
# (path, title) of each page, in the menu's order, read from the entry script so that a new page is tested everywhere
PAGES = re.findall(r'st\.Page\("([^"]+)", title="([^"]+)"', Path(APP).read_text())
SHIPPED_EPOCHS = 30  # the epochs in the shipped model's training log, as its card says (models/mnist_cnn.json)


@pytest.fixture(autouse=True)
def _forget_kept_work():
    """The work app/keep.py keeps for a reload is the server's, and a test's AppTest sessions end with the test: their
    work goes with them, or it would hold places under session.MAX_OWN_MODELS for the tests that follow."""
    yield
    keep = sys.modules.get("app.keep")
    if keep is not None and keep._kept:
        keep._kept.clear()
        gc.collect()  # a Keras model is a reference cycle: only the collector frees it, and its place


@pytest.fixture(scope="session")
def mnist():
    return mnist_cnn.load_mnist()


@pytest.fixture(scope="session")
def small(mnist):
    """A training subset and a test subset: ((x, y), (x_test, y_test))."""
    (x_train, y_train), (x_test, y_test) = mnist
    return (x_train[:SUBSET], y_train[:SUBSET]), (x_test[:1000], y_test[:1000])


@pytest.fixture(scope="session")
def trained(small):
    """A default-architecture model trained two epochs on the subset (shared: do not train it further)."""
    model = mnist_cnn.build_model("default", seed=0)
    mnist_cnn.train(model, small[0], epochs=2, seed=0)
    return model


@pytest.fixture(scope="session")
def shipped():
    return mnist_cnn.load_model()


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def new_session():
    """Opens a new browser session of the app in Streamlit's AppTest, run once: new_session(timeout=180)."""
    from streamlit.testing.v1 import AppTest

    return lambda timeout=180: AppTest.from_file(APP, default_timeout=timeout).run()


@pytest.fixture(scope="session")
def encode():
    """encode(image, fmt="PNG", **options): a numpy array or PIL image as the bytes of an image file."""

    def encoded(image, fmt="PNG", **options):
        buffer = io.BytesIO()
        (image if isinstance(image, Image.Image) else Image.fromarray(image)).save(buffer, format=fmt, **options)
        return buffer.getvalue()

    return encoded
