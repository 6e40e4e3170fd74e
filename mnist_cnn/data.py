"""MNIST: loaded from a given file, from $MNIST_NPZ, or through keras' own download."""

import os
import zipfile
from pathlib import Path

import numpy as np

from .errors import DataError

INPUT_SHAPE = (28, 28, 1)  # what every model takes: one grey 28x28 image
NUM_CLASSES = 10  # the digits 0-9
ENV_VAR = "MNIST_NPZ"
# keras.datasets.mnist.load_data() layout; anything else is refused rather than half-used
LAYOUT = {
    "x_train": (60000, *INPUT_SHAPE[:2]),
    "y_train": (60000,),
    "x_test": (10000, *INPUT_SHAPE[:2]),
    "y_test": (10000,),
}

Split = tuple[np.ndarray, np.ndarray]  # (images, labels)


def load_mnist(path: str | os.PathLike | None = None) -> tuple[Split, Split]:
    """Return ((x_train, y_train), (x_test, y_test)) as uint8 arrays, exactly as keras loads them.

    The file comes from `path`, else $MNIST_NPZ, else keras' cache or download.
    """
    path = path or os.environ.get(ENV_VAR)
    arrays = _read_npz(Path(path)) if path else _download()
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])


def _read_npz(path):
    if not path.is_file():
        raise DataError(f"MNIST file not found: {path}")
    try:
        # allow_pickle=False: a data file never runs code
        with np.load(path, allow_pickle=False) as npz:
            missing = sorted(set(LAYOUT) - set(npz.files))
            if missing:
                raise DataError(f"{path} is not an MNIST .npz: it lacks {', '.join(missing)}")
            arrays = {key: npz[key] for key in LAYOUT}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise DataError(f"{path} is not a readable .npz file ({e})") from None
    return _checked(arrays, str(path))


def _download():
    from keras.datasets import mnist

    try:
        (x_train, y_train), (x_test, y_test) = mnist.load_data()
    except Exception as e:  # keras raises plain Exception for a failed fetch
        raise DataError(
            f"could not download MNIST through keras ({e}). If this machine is offline, point at a local "
            f"copy of mnist.npz: set {ENV_VAR}=/path/to/mnist.npz or pass --data /path/to/mnist.npz"
        ) from None
    arrays = {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}
    return _checked(arrays, "keras' mnist.npz")


def _checked(arrays, source):
    for key, shape in LAYOUT.items():
        a = arrays[key]
        if a.shape != shape or a.dtype != np.uint8:
            raise DataError(f"{source}: {key} is {a.dtype}{list(a.shape)}, expected uint8{list(shape)}")
    for key in ("y_train", "y_test"):
        if arrays[key].max() >= NUM_CLASSES:
            raise DataError(f"{source}: {key} holds labels above 9")
    return arrays


def as_images(images: np.ndarray) -> np.ndarray:
    """(N,28,28) or (N,28,28,1) images, uint8 0..255 or float 0..1, as a (N,28,28,1) array of the same kind."""
    x = np.asarray(images)
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[1:] != INPUT_SHAPE:
        raise ValueError(f"expected images of shape (N, 28, 28) or (N, 28, 28, 1), got {x.shape}")
    if x.dtype != np.uint8 and not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"expected uint8 or float images, got {x.dtype}")
    return x


def as_input(images: np.ndarray) -> np.ndarray:
    """Images as the float32 (N,28,28,1) in [0,1] that models take."""
    x = as_images(images)
    return x.astype(np.float32) / 255 if x.dtype == np.uint8 else x.astype(np.float32, copy=False)


def as_labels(labels: np.ndarray, n: int, one_hot: bool) -> np.ndarray:
    """Integer (N,) or one-hot (N,10) labels as what a loss needs: one-hot float32 or integer."""
    y = np.asarray(labels)
    if y.ndim == 2 and y.shape[1] == NUM_CLASSES:
        y = y.argmax(axis=1)
    if y.shape != (n,) or not np.issubdtype(y.dtype, np.integer) or (n and (y.min() < 0 or y.max() >= NUM_CLASSES)):
        raise ValueError(f"expected {n} labels 0..9, as integers (N,) or one-hot (N, 10); got {y.dtype}{list(y.shape)}")
    return np.eye(NUM_CLASSES, dtype=np.float32)[y] if one_hot else y.astype(np.int32)
