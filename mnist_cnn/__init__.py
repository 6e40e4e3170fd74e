"""mnist_cnn: handwritten digits with Keras CNNs. Data, models, training, evaluation, drawings, model files.

Names load on first use, so `import mnist_cnn` costs nothing a caller does not touch (TensorFlow included);
editors and type checkers read the same names from the imports under TYPE_CHECKING.
"""

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .data import INPUT_SHAPE, NUM_CLASSES, load_mnist
    from .drawing import Stages, canvas_stages, canvas_to_mnist, read_image
    from .errors import DataError, ImageError, MnistCnnError, ModelFileError
    from .evaluation import Evaluation, evaluate, predict_proba
    from .files import copy_model, load_model, model_bytes, save_model, shipped_record
    from .models import ARCHS, Arch, build_model, summary
    from .training import Curve, Progress, Snapshot, epochs_trained, train, training_log

_HOMES = {
    "INPUT_SHAPE": "data",
    "NUM_CLASSES": "data",
    "load_mnist": "data",
    "ARCHS": "models",
    "Arch": "models",
    "build_model": "models",
    "summary": "models",
    "train": "training",
    "epochs_trained": "training",
    "training_log": "training",
    "Progress": "training",
    "Snapshot": "training",
    "Curve": "training",
    "evaluate": "evaluation",
    "Evaluation": "evaluation",
    "predict_proba": "evaluation",
    "canvas_to_mnist": "drawing",
    "canvas_stages": "drawing",
    "Stages": "drawing",
    "read_image": "drawing",
    "load_model": "files",
    "save_model": "files",
    "model_bytes": "files",
    "copy_model": "files",
    "shipped_record": "files",
    "MnistCnnError": "errors",
    "DataError": "errors",
    "ModelFileError": "errors",
    "ImageError": "errors",
}
__all__ = [
    "ARCHS",
    "INPUT_SHAPE",
    "NUM_CLASSES",
    "Arch",
    "Curve",
    "DataError",
    "Evaluation",
    "ImageError",
    "MnistCnnError",
    "ModelFileError",
    "Progress",
    "Snapshot",
    "Stages",
    "build_model",
    "canvas_stages",
    "canvas_to_mnist",
    "copy_model",
    "epochs_trained",
    "evaluate",
    "load_mnist",
    "load_model",
    "model_bytes",
    "predict_proba",
    "read_image",
    "save_model",
    "shipped_record",
    "summary",
    "train",
    "training_log",
]


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f".{_HOMES[name]}", __name__), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
