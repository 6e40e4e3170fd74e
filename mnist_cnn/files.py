"""Model files: Keras 3 `.keras` archives, loaded safely and checked, saved atomically, with their history."""

import json
import os
import tempfile
import zipfile
import zlib
from pathlib import Path

import keras
import numpy as np

from .archives import open_zip, read_member
from .data import INPUT_SHAPE, NUM_CLASSES
from .errors import ModelFileError
from .evaluation import predict_proba
from .limits import DesignError, check_limits, model_cost
from .memory import memory_params, network_layers
from .models import ARCHS, spec_of
from .spec import MAX_SPEC_BYTES, parse_spec, spec_cost, spec_layers
from .state import state_of
from .training import model_lock, training_log
from .vetting import MAX_SLOTS, check_config, check_weights

DEFAULT_MODEL = Path(__file__).resolve().parent.parent / "models" / "mnist_cnn.keras"
HISTORY_MEMBER = "mnist_cnn.json"  # our own entries in the archive; Keras ignores them
SPEC_MEMBER = "mnist_cnn.spec.json"  # the design it was built from (spec.py), when it has one
CONFIG, WEIGHTS = "config.json", "model.weights.h5"
# What a .keras file may hold, and the most each member may unpack to: the shipped model's config is 10 KB (64
# layers, limits.MAX_LAYERS, stay under 256 KB), its history 1.8 KB for 23 epochs, Keras' metadata 64 bytes, a
# design with spec.MAX_BLOCKS blocks 2 KB.
# The weights file's own limit comes from its config (_weights_file_limit), checked on what it unpacks to.
MEMBERS = {"metadata.json": 2**12, CONFIG: 2**18, WEIGHTS: 2**27, HISTORY_MEMBER: 2**20, SPEC_MEMBER: MAX_SPEC_BYTES}
MAX_FILE = 32 * 2**20  # a model at limits.MAX_PARAMS with Adam's slots saves to ~12 MB
WEIGHTS_OVERHEAD = 2**20


def load_model(source: str | os.PathLike | bytes | None = None) -> keras.Model:
    """A model from a `.keras` file (path or bytes); None is the shipped model.

    Before Keras reads a byte of it, the archive is judged from its directory (archives.py: its members and their
    declared sizes), its config is vetted (vetting.py: only Keras' own classes for an MNIST CNN, no code) and
    costed (limits.py: parameters, activations, FLOPs within an MNIST CNN's limits), and its weights file's
    metadata must match that config; then Keras loads it in safe mode, and the model must take (28, 28, 1)
    images and give 10 probabilities. Any problem raises ModelFileError with a one-line reason.
    """
    if isinstance(source, (bytes, bytearray)):
        return _load(bytes(source), "the uploaded file")
    path = Path(source) if source is not None else DEFAULT_MODEL
    if not path.is_file():
        raise ModelFileError(f"model file not found: {path}")
    if path.stat().st_size > MAX_FILE:
        raise ModelFileError(f"{path} is {path.stat().st_size / 2**20:.1f} MB; a model file is at most "
                             f"{MAX_FILE // 2**20} MB")
    return _load(path.read_bytes(), str(path), path.suffix)


def _load(data, name, suffix=".keras"):
    if len(data) > MAX_FILE:
        raise ModelFileError(f"{name} is {len(data) / 2**20:.1f} MB; a model file is at most {MAX_FILE // 2**20} MB")
    with open_zip(data, name, MEMBERS, ModelFileError, "a Keras .keras") as zf:
        if suffix != ".keras":  # Keras reads other names as other formats (.h5), whose config was never vetted
            raise ModelFileError(f"{name} is not a Keras .keras file (its name does not end in .keras)")
        if CONFIG not in zf.namelist():
            raise ModelFileError(f"{name} is not a Keras .keras file (no config.json inside)")
        try:
            members = {member: read_member(zf, member) for member in zf.namelist()}
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as e:  # a bad CRC, broken deflate data
            raise ModelFileError(f"{name} is not a readable .keras archive ({str(e)[:120]})") from None
    try:
        config = check_config(members[CONFIG], name)  # before Keras reads a byte: its safe mode has let code in
        cost = model_cost(config)
        check_limits(cost)
    except DesignError as e:
        raise ModelFileError(f"{name} is refused: {e}") from None
    if WEIGHTS in members:
        size, most = len(members[WEIGHTS]), _weights_file_limit(cost)
        if size > most:
            raise ModelFileError(f"{name}: its weights file unpacks to {size / 2**20:.1f} MB, more than its "
                                 f"config's {cost.params:,} parameters take ({most / 2**20:.1f} MB at most)")
        check_weights(members[WEIGHTS], cost, name)
    try:
        history = json.loads(members[HISTORY_MEMBER]) if HISTORY_MEMBER in members else []
    except (ValueError, RecursionError):
        history = None
    if not isinstance(history, list) or not all(isinstance(r, dict) for r in history):
        raise ModelFileError(f"{name} has a malformed training history ({HISTORY_MEMBER})")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            # Keras reads a path, and each member with one unbounded read(): it gets the members vetted above,
            # stored as they are, never the sender's deflate streams
            path = Path(tmp) / "model.keras"
            with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as rebuilt:
                for member, content in members.items():
                    rebuilt.writestr(member, content)
            model = keras.saving.load_model(path, safe_mode=True)
    except Exception as e:  # Keras raises many kinds; the user needs the reason, not the kind
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ModelFileError(f"{name} could not be loaded as a Keras model: {reason}") from None
    _check(model, name)
    state_of(model).spec = _spec(members.get(SPEC_MEMBER), model, name)
    if getattr(model, "optimizer", None) is None:  # saved without training configuration: make it trainable
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    training_log(model).extend(history)
    return model


def _weights_file_limit(cost):
    """The most bytes a weights file of this config may unpack to: every weight, MAX_SLOTS optimizer slots of
    each, and HDF5's own overhead (the shipped model's file: 1.0 MB of data, 0.05 MB of overhead)."""
    return (1 + MAX_SLOTS) * cost.weight_bytes + WEIGHTS_OVERHEAD


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


def _spec(saved, model, name):
    """The design saved with a model; for a file without one (the shipped model's, older files) the registry
    architecture it is named after, if its layers are that architecture's."""
    try:
        named = ARCHS[model.name].spec if model.name in ARCHS else None
        spec = parse_spec(saved.decode()) if saved is not None else named
        params = spec_cost(spec).params if spec is not None else None
    except (DesignError, UnicodeDecodeError) as e:
        raise ModelFileError(f"{name} has a malformed design ({SPEC_MEMBER}: {e})") from None
    if spec is None:
        return None
    made = [type(layer).__name__ for layer in spec_layers(spec)]
    network = [type(layer).__name__ for layer in network_layers(model)]
    if made != network or params != model.count_params() - memory_params(model):
        if saved is None:
            return None  # a model of its own named like an architecture
        raise ModelFileError(f"{name}: its design ({SPEC_MEMBER}) does not match its layers")
    return spec


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
            if (spec := spec_of(model)) is not None:
                zf.writestr(SPEC_MEMBER, spec.to_json())
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
