"""Shared fixtures: MNIST from $MNIST_NPZ (or keras' download), small subsets, a briefly trained model."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest

import mnist_cnn

SUBSET = 3000  # training images for tests that train: enough to learn, quick on a CPU


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
