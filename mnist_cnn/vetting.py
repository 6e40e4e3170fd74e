"""Vetting a `.keras` archive's config.json before Keras reads it: only Keras' own MNIST-CNN classes pass.

Keras' safe mode alone has let files through that ran code at load time (a `function` from `os` inside a Lambda
layer), so the config is parsed here and every object in it, however deeply nested, is held to an allowlist.
"""

import json

from .errors import ModelFileError

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
        "SpatialDropout2D", "Add", "Concatenate",
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


def check_config(config_json: bytes, name: str) -> None:
    """Raise ModelFileError, saying what and where, unless every object in `config_json` is allowed."""
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
