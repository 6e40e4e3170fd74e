"""mnist_cnn: handwritten digits with Keras CNNs. Data, models, training, evaluation, drawings, model files.

Names load on first use, so `import mnist_cnn` costs nothing a caller does not touch (TensorFlow included).
"""

from importlib import import_module

_HOMES = {
    "load_mnist": "data",
    "ARCHS": "models",
    "build_model": "models",
    "summary": "models",
    "train": "training",
    "epochs_trained": "training",
    "training_log": "training",
    "Progress": "training",
    "evaluate": "evaluation",
    "predict_proba": "evaluation",
    "canvas_to_mnist": "drawing",
    "canvas_stages": "drawing",
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
__all__ = list(_HOMES)


def __getattr__(name):
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f".{_HOMES[name]}", __name__), name)
