"""Vetting a `.keras` archive before Keras reads it: its config.json may name only Keras' own MNIST-CNN classes,
and its weights file may hold only the weights that config makes.

Keras' safe mode alone has let files through that ran code at load time (a `function` from `os` inside a Lambda
layer), so the config is parsed here and every object in it, however deeply nested, is held to an allowlist.
Keras reads every dataset of the weights file whole before it compares shapes, so the file's metadata is read
first (h5py reads no data for it) and every dataset must be a weight of the config's (limits.model_cost), or an
optimizer slot of one, stored plainly in the file.
"""

import io
import json
import math
from collections import Counter

import h5py

from .errors import ModelFileError
from .limits import Cost

# The classes an MNIST CNN is built, compiled and saved with, under the module Keras writes for each.
# Anything else is refused: an unknown class may carry code (Lambda, TFSMLayer) or load what we have not vetted.
ALLOWED_CLASSES = {
    "keras": {"Sequential", "DTypePolicy", "FloatDTypePolicy"},
    "keras.dtype_policies": {"DTypePolicy", "FloatDTypePolicy"},  # where some Keras 3 versions put them
    "keras.src.models.functional": {"Functional"},  # Functional is not public API: Keras writes its source module
    "keras.layers": {
        "InputLayer", "Conv2D", "SeparableConv2D", "DepthwiseConv2D", "MaxPooling2D", "AveragePooling2D",
        "GlobalAveragePooling2D", "GlobalMaxPooling2D", "ZeroPadding2D", "BatchNormalization", "LayerNormalization",
        "ReLU", "LeakyReLU", "ELU", "Softmax", "Activation", "Flatten", "Reshape", "Rescaling", "Dense", "Dropout",
        "SpatialDropout2D", "Add", "Concatenate", "UnitNormalization",
    },
    "keras.optimizers": {"SGD", "Adam", "AdamW", "Adamax", "Nadam", "RMSprop", "Adagrad", "Adadelta"},
    "keras.optimizers.schedules": {
        "ExponentialDecay", "PiecewiseConstantDecay", "PolynomialDecay", "InverseTimeDecay", "CosineDecay",
        "CosineDecayRestarts",
    },
    "keras.losses": {"CategoricalCrossentropy", "SparseCategoricalCrossentropy", "CategoricalFocalCrossentropy"},
    "keras.metrics": {
        "Accuracy", "CategoricalAccuracy", "SparseCategoricalAccuracy", "TopKCategoricalAccuracy",
        "SparseTopKCategoricalAccuracy", "CategoricalCrossentropy", "SparseCategoricalCrossentropy", "Mean",
        "Precision", "Recall",
    },
    "keras.initializers": {
        "GlorotUniform", "GlorotNormal", "HeUniform", "HeNormal", "LecunUniform", "LecunNormal", "Zeros", "Ones",
        "Constant", "RandomNormal", "RandomUniform", "TruncatedNormal", "VarianceScaling", "Orthogonal",
    },
    "keras.regularizers": {"L1", "L2", "L1L2"},
    "keras.constraints": {"MaxNorm", "MinMaxNorm", "NonNeg", "UnitNorm"},
}
# Keras' markers for plain data (tensors, arrays, bytes, slices): it builds them without importing anything.
DATA_MARKERS = {"__keras_tensor__", "__tensor__", "__numpy__", "__bytes__", "__ellipsis__", "__slice__"}
# Python code: Keras would import a named function, or unmarshal a lambda's bytecode, for these.
CODE_CLASSES = {"function", "__lambda__"}
SHOWN = 80  # characters of a name or JSON path quoted in a message: the message stays one short line
# The weights file: Keras writes each weight under layers/.../vars/N and the optimizer's under optimizer/vars/N,
# its step count and learning rate as scalars, and at most 3 slots a weight (Adam with amsgrad), 4 with EMA.
MAX_SLOTS = 4
MAX_OBJECTS = 4096  # groups and datasets: the shipped model's file has 80; HDF5 links may loop
MAX_ATTRIBUTES = 2**16  # bytes of attributes in all (Keras writes a layer's name on each group)


def check_config(config_json: bytes, name: str) -> dict:
    """The parsed config; ModelFileError, saying what and where, unless every object in `config_json` is
    allowed."""
    try:
        config = json.loads(config_json.decode("utf-8"))
    except UnicodeDecodeError:
        raise ModelFileError(f"{name} is refused: its config.json is not UTF-8 text") from None
    except (ValueError, RecursionError) as e:
        raise ModelFileError(f"{name} is refused: its config.json is not valid JSON ({_shown(str(e))})") from None
    if not isinstance(config, dict):
        raise ModelFileError(f"{name} is refused: its config.json is not a JSON object")
    stack = [("", config)]  # (JSON path, value); a stack, not recursion: nesting depth is the file's choice
    while stack:
        path, value = stack.pop()
        if isinstance(value, dict):
            _check_object(value, path, name)
            children = [(f"{path}.{key}" if path else str(key), item) for key, item in value.items()]
        elif isinstance(value, list):
            children = [(f"{path}[{i}]", item) for i, item in enumerate(value)]
        else:
            continue
        stack.extend(reversed(children))  # reversed: the first problem in the file is the one reported
    return config


def check_weights(weights_h5: bytes, cost: Cost, name: str) -> None:
    """ModelFileError unless every dataset in the weights file is one the config accounts for: a weight of one of
    its layers (each at most once), or an optimizer slot shaped like a trained weight (at most MAX_SLOTS each),
    stored whole in the file: no external or virtual storage, no filters, no chunk larger than its data, no
    links but HDF5's hard ones. Only metadata is read."""
    weights = Counter(shape for layer in cost.layers for shape in layer.weights)
    trained = Counter(shape for layer in cost.layers
                      for shape, is_trained in zip(layer.weights, layer.trainable, strict=True) if is_trained)
    slots = Counter({shape: MAX_SLOTS * count for shape, count in trained.items()})
    slots[()] = MAX_SLOTS  # the optimizer's step count, learning rate
    try:
        with h5py.File(io.BytesIO(weights_h5), "r") as f:
            _check_group(f, name, weights, slots, [0, 0])
    except ModelFileError:
        raise
    except Exception as e:  # h5py raises OSError, KeyError, ValueError, RuntimeError for malformed files
        raise ModelFileError(f"{name}: its weights file (model.weights.h5) is not readable HDF5 ({_shown(str(e))})")\
            from None


def _check_group(group, name, weights, slots, seen):
    """Every object under `group`, depth first; `seen` counts objects and attribute bytes against the limits."""
    for key in group:
        path = f"{group.name.rstrip('/')}/{key}"
        link = group.get(key, getlink=True)
        if not isinstance(link, h5py.HardLink):
            raise ModelFileError(f"{name}: its weights file links {_shown(path)} elsewhere ({type(link).__name__})")
        seen[0] += 1
        if seen[0] > MAX_OBJECTS:
            raise ModelFileError(f"{name}: its weights file holds more than {MAX_OBJECTS:,} objects")
        item = group[key]
        seen[1] += sum(item.attrs.get_id(attr).get_storage_size() for attr in item.attrs)
        if seen[1] > MAX_ATTRIBUTES:
            raise ModelFileError(f"{name}: its weights file holds more than {MAX_ATTRIBUTES // 1024} KB of attributes")
        if isinstance(item, h5py.Group):
            _check_group(item, name, weights, slots, seen)
        else:
            _check_dataset(item, path, name, slots if path.startswith("/optimizer/") else weights)


def _check_dataset(dataset, path, name, allowed):
    shape, dtype = tuple(dataset.shape or ()), dataset.dtype
    where = f"{name}: its weights file's {_shown(path)}"
    if dtype.kind not in "fiub" or dtype.itemsize > 8:
        raise ModelFileError(f"{where} holds {dtype}, not numbers")
    if allowed[shape] < 1:
        what = "no layer of its config makes" if "optimizer" not in path else "no trained weight of its config has"
        raise ModelFileError(f"{where} has shape {shape}, which {what}")
    allowed[shape] -= 1
    if dataset.external or dataset.is_virtual or dataset.id.get_create_plist().get_nfilters():
        raise ModelFileError(f"{where} is stored in another file or through a filter; Keras writes plain data")
    size = math.prod(shape) * dtype.itemsize
    if dataset.chunks and math.prod(dataset.chunks) * dtype.itemsize > max(size, 2**16):
        raise ModelFileError(f"{where} is stored in chunks of {math.prod(dataset.chunks) * dtype.itemsize:,} bytes, "
                             f"larger than its {size:,} bytes of data")


def _check_object(obj, path, name):
    where = f"at {_shown(path) if path else 'the top level'}"
    module, class_name, registered = obj.get("module"), obj.get("class_name"), obj.get("registered_name")
    if module is not None and not (isinstance(module, str) and (module == "keras" or module.startswith("keras."))):
        raise ModelFileError(
            f"{name} is refused: it names module {_shown(module)} {where} (only Keras' own classes are allowed)"
        )
    if "class_name" not in obj:
        return  # a plain mapping (a layer's config, compile_config): its values are checked in turn
    if not isinstance(class_name, str):
        raise ModelFileError(f"{name} is refused: its class_name {where} is not a string")
    if class_name == "Lambda":  # a layer that calls a function: the words the app has always shown for it
        raise ModelFileError(
            f"{name} holds a Lambda layer, that is Python code; files with code are refused ({where})"
        )
    if class_name in CODE_CLASSES:
        raise ModelFileError(f"{name} is refused: it holds Python code ({_shown(class_name)}) {where}")
    if registered is not None and registered != class_name:
        raise ModelFileError(
            f"{name} is refused: it names the custom object {_shown(registered)} {where} "
            "(only Keras' own classes are allowed)"
        )
    if class_name in DATA_MARKERS and module is None:
        return
    if class_name not in ALLOWED_CLASSES.get(module, ()):
        raise ModelFileError(
            f"{name} is refused: it names the unknown class {_shown(class_name)} from module {_shown(module)} "
            f"{where} (only Keras' own classes for an MNIST CNN are allowed)"
        )


def _shown(value):
    """`value` quoted on one line and cut short: names and paths in a file are the sender's choice."""
    text = repr(value)
    return text if len(text) <= SHOWN else f"{text[: SHOWN - 1]}…"
