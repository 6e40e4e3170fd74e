"""Model files: Keras 3 `.keras` archives, loaded safely and checked, saved atomically, with their history."""

import json
import os
import tempfile
import zipfile
from pathlib import Path

import keras
import numpy as np

from .data import INPUT_SHAPE, NUM_CLASSES
from .errors import ModelFileError
from .evaluation import predict_proba
from .training import model_lock, training_log
from .vetting import check_config

DEFAULT_MODEL = Path(__file__).resolve().parent.parent / "models" / "mnist_cnn.keras"
HISTORY_MEMBER = "mnist_cnn.json"  # our own entry in the archive; Keras ignores it
MAX_UNPACKED = 256 * 2**20  # an archive that unpacks to more is refused (zip bombs)


def load_model(source: str | os.PathLike | bytes | None = None) -> keras.Model:
    """A model from a `.keras` file (path or bytes); None is the shipped model.

    Its config is vetted before Keras reads it (vetting.py: only Keras' own classes for an MNIST CNN, no code),
    then Keras loads it in safe mode; the model must take (28, 28, 1) images and give 10 probabilities. Any
    problem raises ModelFileError with a one-line reason.
    """
    if isinstance(source, (bytes, bytearray)):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "upload.keras"
            path.write_bytes(source)
            return _load(path, "the uploaded file")
    path = Path(source) if source is not None else DEFAULT_MODEL
    return _load(path, str(path))


def _load(path, name):
    if not path.is_file():
        raise ModelFileError(f"model file not found: {name}")
    if not zipfile.is_zipfile(path):
        raise ModelFileError(f"{name} is not a Keras .keras file (not a zip archive)")
    if path.suffix != ".keras":  # Keras reads other names as other formats (.h5), whose config was never vetted
        raise ModelFileError(f"{name} is not a Keras .keras file (its name does not end in .keras)")
    try:
        with zipfile.ZipFile(path) as zf:
            members = {info.filename: info for info in zf.infolist()}
            if "config.json" not in members:
                raise ModelFileError(f"{name} is not a Keras .keras file (no config.json inside)")
            if sum(info.file_size for info in members.values()) > MAX_UNPACKED:
                raise ModelFileError(f"{name} unpacks to more than {MAX_UNPACKED // 2**20} MB")
            # before Keras reads a byte of it: Keras' safe mode alone has let code through
            check_config(zf.read("config.json"), name)
            history = json.loads(zf.read(HISTORY_MEMBER)) if HISTORY_MEMBER in members else []
            if not isinstance(history, list) or not all(isinstance(r, dict) for r in history):
                raise ModelFileError(f"{name} has a malformed training history ({HISTORY_MEMBER})")
        model = keras.saving.load_model(path, safe_mode=True)
    except ModelFileError:
        raise
    except Exception as e:  # Keras raises many kinds; the user needs the reason, not the kind
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ModelFileError(f"{name} could not be loaded as a Keras model: {reason}") from None
    _check(model, name)
    if getattr(model, "optimizer", None) is None:  # saved without training configuration: make it trainable
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    training_log(model).extend(history)
    return model


def _check(model, name):
    inputs = getattr(model, "inputs", None) or []
    if len(inputs) != 1 or tuple(inputs[0].shape[1:]) != INPUT_SHAPE:
        shapes = [tuple(i.shape[1:]) for i in inputs]
        raise ModelFileError(f"{name} must take one {INPUT_SHAPE} image input, it takes {shapes or 'no fixed input'}")
    outputs = getattr(model, "outputs", None) or []
    if len(outputs) != 1 or tuple(outputs[0].shape[1:]) != (NUM_CLASSES,):
        shapes = [tuple(o.shape[1:]) for o in outputs]
        raise ModelFileError(f"{name} must give one output of {NUM_CLASSES} digit probabilities, it gives {shapes}")
    probe = predict_proba(model, np.random.default_rng(0).random((2, *INPUT_SHAPE), np.float32))
    if not (np.all(probe >= 0) and np.allclose(probe.sum(axis=1), 1, atol=1e-3)):
        raise ModelFileError(f"{name} does not output probabilities: its last layer needs a softmax")


def save_model(model: keras.Model, path: str | os.PathLike) -> None:
    """Write `model` (with its training history) to a `.keras` file, atomically: a crash leaves the old file.

    Safe while another thread trains the model: it saves between two batches.
    """
    path = Path(path)
    if path.suffix != ".keras":
        raise ValueError(f"model files end in .keras: {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".keras", prefix=f".{path.stem}-", dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o644)  # mkstemp's 0600 would make the saved model private
    try:
        with model_lock(model):  # if another thread is training it, between two batches
            keras.saving.save_model(model, tmp)
            history = json.dumps(training_log(model))
        with zipfile.ZipFile(tmp, "a") as zf:
            zf.writestr(HISTORY_MEMBER, history)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def copy_model(model: keras.Model) -> keras.Model:
    """An independent copy of a model: weights, optimizer state and history."""
    return load_model(model_bytes(model))


def shipped_record() -> dict:
    """The record of how the shipped model was made (command, seed, test accuracy...), {} if there is none."""
    record = DEFAULT_MODEL.with_suffix(".json")
    return json.loads(record.read_text()) if record.is_file() else {}


def model_bytes(model: keras.Model) -> bytes:
    """The model as the bytes of a `.keras` file, for a download."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.keras"
        save_model(model, path)
        return path.read_bytes()
