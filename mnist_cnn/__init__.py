"""mnist_cnn: handwritten digits with Keras CNNs. Data, models, training, evaluation, drawings, model files.

Names load on first use, so `import mnist_cnn` costs nothing a caller does not touch (TensorFlow included);
editors and type checkers read the same names from the imports under TYPE_CHECKING.
"""

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .data import INPUT_SHAPE, NUM_CLASSES, load_mnist
    from .distributed import strategy_for
    from .drawing import Stages, canvas_stages, canvas_to_mnist, read_image
    from .errors import DataError, ImageError, MnistCnnError, ModelFileError
    from .evaluation import Evaluation, evaluate, predict_proba
    from .explanation import (
        Explanation,
        NeighbourIndex,
        Neighbours,
        attribute,
        embed,
        explain,
        neighbour_index,
    )
    from .export import export_script
    from .files import copy_model, load_model, model_bytes, save_model, shipped_record
    from .limits import Cost, DesignError, LayerCost, check_limits, model_cost
    from .memory import forget, remember, remembered
    from .models import ARCHS, Arch, build_model, spec_of, summary
    from .robustness import PERTURBATIONS, Perturbation, perturb, robustness_curves, test_subset
    from .runs import Run, disagreements, load_runs, save_runs
    from .spec import Block, Spec, parse_spec, spec_cost
    from .styles import STYLES, style_set
    from .teaching import Lesson, convention_question, fine_tune, held_out, load_drawings, save_drawings, teach
    from .training import Curve, Progress, Snapshot, epochs_trained, train, training_log

_HOMES = {
    "INPUT_SHAPE": "data",
    "NUM_CLASSES": "data",
    "load_mnist": "data",
    "ARCHS": "models",
    "Arch": "models",
    "build_model": "models",
    "summary": "models",
    "spec_of": "models",
    "Spec": "spec",
    "Block": "spec",
    "parse_spec": "spec",
    "spec_cost": "spec",
    "PERTURBATIONS": "robustness",
    "Perturbation": "robustness",
    "perturb": "robustness",
    "robustness_curves": "robustness",
    "test_subset": "robustness",
    "Run": "runs",
    "disagreements": "runs",
    "load_runs": "runs",
    "save_runs": "runs",
    "train": "training",
    "strategy_for": "distributed",
    "epochs_trained": "training",
    "training_log": "training",
    "Progress": "training",
    "Snapshot": "training",
    "Curve": "training",
    "evaluate": "evaluation",
    "export_script": "export",
    "Evaluation": "evaluation",
    "predict_proba": "evaluation",
    "explain": "explanation",
    "Explanation": "explanation",
    "attribute": "explanation",
    "embed": "explanation",
    "neighbour_index": "explanation",
    "NeighbourIndex": "explanation",
    "Neighbours": "explanation",
    "canvas_to_mnist": "drawing",
    "canvas_stages": "drawing",
    "Stages": "drawing",
    "read_image": "drawing",
    "load_model": "files",
    "save_model": "files",
    "model_bytes": "files",
    "copy_model": "files",
    "shipped_record": "files",
    "model_cost": "limits",
    "check_limits": "limits",
    "Cost": "limits",
    "LayerCost": "limits",
    "DesignError": "limits",
    "MnistCnnError": "errors",
    "DataError": "errors",
    "ModelFileError": "errors",
    "ImageError": "errors",
    "STYLES": "styles",
    "style_set": "styles",
    "fine_tune": "teaching",
    "convention_question": "teaching",
    "remember": "memory",
    "forget": "memory",
    "remembered": "memory",
    "load_drawings": "teaching",
    "save_drawings": "teaching",
    "teach": "teaching",
    "held_out": "teaching",
    "Lesson": "teaching",
}
__all__ = [
    "ARCHS",
    "INPUT_SHAPE",
    "NUM_CLASSES",
    "PERTURBATIONS",
    "STYLES",
    "Arch",
    "Block",
    "Cost",
    "Curve",
    "DataError",
    "DesignError",
    "Evaluation",
    "Explanation",
    "ImageError",
    "LayerCost",
    "Lesson",
    "MnistCnnError",
    "ModelFileError",
    "NeighbourIndex",
    "Neighbours",
    "Perturbation",
    "Progress",
    "Run",
    "Snapshot",
    "Spec",
    "Stages",
    "attribute",
    "build_model",
    "canvas_stages",
    "canvas_to_mnist",
    "check_limits",
    "convention_question",
    "copy_model",
    "disagreements",
    "embed",
    "epochs_trained",
    "evaluate",
    "explain",
    "export_script",
    "fine_tune",
    "forget",
    "held_out",
    "load_drawings",
    "load_mnist",
    "load_model",
    "load_runs",
    "model_bytes",
    "model_cost",
    "neighbour_index",
    "parse_spec",
    "perturb",
    "predict_proba",
    "read_image",
    "remember",
    "remembered",
    "robustness_curves",
    "save_drawings",
    "save_model",
    "save_runs",
    "shipped_record",
    "spec_cost",
    "spec_of",
    "strategy_for",
    "style_set",
    "summary",
    "teach",
    "test_subset",
    "train",
    "training_log",
]


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f".{_HOMES[name]}", __name__), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
