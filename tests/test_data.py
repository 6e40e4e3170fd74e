"""load_mnist: where the data comes from, and refusing anything that is not MNIST."""

import numpy as np
import pytest

from mnist_cnn import DataError, load_mnist
from mnist_cnn.data import LAYOUT, as_input, as_labels


def write_npz(path, **overrides):
    arrays = {key: np.zeros(shape, np.uint8) for key, shape in LAYOUT.items()}
    arrays.update(overrides)
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    return path


def test_loads_the_keras_layout(mnist):
    (x_train, y_train), (x_test, y_test) = mnist
    assert (x_train.shape, x_test.shape) == ((60000, 28, 28), (10000, 28, 28))
    assert (y_train.shape, y_test.shape) == ((60000,), (10000,))
    assert {a.dtype for a in (x_train, y_train, x_test, y_test)} == {np.dtype(np.uint8)}
    assert x_train.max() == 255 and set(np.unique(y_test)) == set(range(10))
    assert np.bincount(y_train).min() > 5000  # every digit is there, not a partial file


def test_path_argument_wins_over_environment(tmp_path, monkeypatch):
    labelled = write_npz(tmp_path / "a.npz", y_test=np.full(10000, 7, np.uint8))
    monkeypatch.setenv("MNIST_NPZ", str(write_npz(tmp_path / "b.npz")))
    assert load_mnist(labelled)[1][1][0] == 7
    assert load_mnist()[1][1][0] == 0  # the environment's file


def test_missing_file_is_named(tmp_path):
    with pytest.raises(DataError, match="not found: .*nowhere.npz"):
        load_mnist(tmp_path / "nowhere.npz")


def test_corrupt_file_is_refused(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"this is not a zip archive")
    with pytest.raises(DataError, match="bad.npz is not a readable .npz"):
        load_mnist(bad)


def test_truncated_file_is_refused(tmp_path, mnist):
    whole = tmp_path / "whole.npz"
    np.savez(whole, x_train=mnist[0][0], y_train=mnist[0][1], x_test=mnist[1][0], y_test=mnist[1][1])
    cut = tmp_path / "cut.npz"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(DataError, match="cut.npz"):
        load_mnist(cut)


@pytest.mark.parametrize(
    "override, message",
    [
        ({"x_train": np.zeros((100, 28, 28), np.uint8)}, r"x_train is uint8\[100, 28, 28\]"),
        ({"x_test": np.zeros((10000, 28, 28), np.float32)}, "x_test is float32"),
        ({"y_train": None}, "lacks y_train"),
        ({"y_test": np.full(10000, 12, np.uint8)}, "labels above 9"),
    ],
)
def test_wrong_contents_are_refused(tmp_path, override, message):
    with pytest.raises(DataError, match=message):
        load_mnist(write_npz(tmp_path / "odd.npz", **override))


def test_offline_download_says_how_to_use_a_local_file(monkeypatch):
    from keras.datasets import mnist

    def offline():
        raise Exception("URL fetch failure: no network")

    monkeypatch.delenv("MNIST_NPZ", raising=False)
    monkeypatch.setattr(mnist, "load_data", offline)
    with pytest.raises(DataError, match="MNIST_NPZ=/path/to/mnist.npz"):
        load_mnist()


def test_download_is_checked_too(monkeypatch):
    from keras.datasets import mnist

    partial = ((np.zeros((10, 28, 28), np.uint8), np.zeros(10, np.uint8)),) * 2
    monkeypatch.delenv("MNIST_NPZ", raising=False)
    monkeypatch.setattr(mnist, "load_data", lambda: partial)
    with pytest.raises(DataError, match="x_train"):
        load_mnist()


def test_as_input_scales_uint8_and_keeps_floats():
    pixels = np.zeros((1, 28, 28), np.uint8)
    pixels[0, :, 14:] = 255
    x = as_input(pixels)
    assert x.shape == (1, 28, 28, 1) and x.dtype == np.float32 and (x.min(), x.max()) == (0.0, 1.0)
    assert np.array_equal(as_input(x), x)
    with pytest.raises(ValueError, match="shape"):
        as_input(np.zeros((2, 32, 32)))


def test_as_labels_takes_integers_and_one_hot():
    y = np.array([3, 0, 9])
    assert as_labels(np.eye(10)[y], 3, one_hot=False).tolist() == [3, 0, 9]
    assert np.array_equal(as_labels(y, 3, one_hot=True), np.eye(10)[y])
    with pytest.raises(ValueError, match="labels 0..9"):
        as_labels(np.array([1, 10, 2]), 3, one_hot=False)
    with pytest.raises(ValueError, match="3 labels"):
        as_labels(np.array([1, 2]), 3, one_hot=False)
