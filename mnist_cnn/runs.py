"""Runs: what one training made, kept compactly to compare later and to make a model of again.

A run holds its model as the bytes of a `.keras` file (weights, optimizer slots, history and design: restoring
it gives the model exactly as it was, training included), its members deflated, not a live Keras model: a run of
deep_bn, the registry's largest, is 1.4 MB, and 9 runs of the registry's architectures held 8 MB as bytes against
+105 MB as live models that had answered (BENCHMARKS.md, "Runs"). A runs file holds up to MAX_RUNS of them:
`runs.json` (names, hyperparameters, test results) and one `.keras` member each, read like an uploaded model
(files.load_model) before anything is kept.
"""

import dataclasses
import io
import json
import math
import uuid
import zipfile
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

import keras
import numpy as np

from .archives import open_zip, read_member
from .data import NUM_CLASSES
from .errors import ModelFileError
from .evaluation import Evaluation
from .files import MAX_FILE, load_model, model_bytes
from .models import spec_of
from .training import training_log

MAX_RUNS = 10  # a session's, and a runs file's
# All of a session's runs' model bytes together, and a runs file's: 10 runs of deep_bn, the registry's largest
# model, take 14.7 MB; a design at the parameter limit (limits.py, with Adam's slots) ~11 MB on its own.
MAX_RUN_BYTES = 16 * 2**20
MAX_NAME = 60  # characters
HYPER = ("epochs", "batch_size", "validation_split", "learning_rate", "seed", "augment")
INDEX = "runs.json"
MODEL = "run{}.keras"
# a runs file: its index (10 runs' names and numbers take ~4 KB) and the models, stored as they are (a run's
# bytes are deflated already)
MEMBERS = {INDEX: 2**18, **{MODEL.format(i): MAX_FILE for i in range(1, MAX_RUNS + 1)}}
MAX_RUNS_FILE = MAX_RUN_BYTES + 2**20  # the models, the index and the archive's own records
FORMAT = "mnist_cnn runs"


@dataclass(frozen=True)
class Run:
    """One training: how it was made, what it reached, and its model as `.keras` bytes."""

    id: str  # unique to this server: a runs file's runs get new ones
    name: str
    architecture: str  # the model's name: a registry architecture, "custom", or an uploaded model's own
    params: int
    spec: dict | None  # the design (spec.Spec.to_dict()), None for a model from elsewhere
    hyper: Mapping[str, object]  # HYPER: epochs (trained in all), batch_size, validation_split, learning_rate, ...
    history: tuple[dict[str, float], ...]  # training_log(model): one record per epoch
    test_accuracy: float
    per_digit: tuple[float, ...]  # accuracy on each true digit of the test set (nan: no such digit)
    epoch_seconds: float  # one epoch's training time, measured where it trained
    when: str  # ISO 8601, UTC, when it was recorded
    weights: bytes  # the model as a .keras file


def record(model: keras.Model, name: str, hyper: Mapping[str, object], evaluation: Evaluation,
           epoch_seconds: float) -> Run:
    """A run of `model` as it is now: `evaluation` is its test-set result (evaluate()), `hyper` how it trained
    (keys of HYPER; `epochs` is taken from its history)."""
    history = tuple(dict(r) for r in training_log(model))
    return Run(
        id=uuid.uuid4().hex[:12], name=_name(name, ValueError, "a run's name"), architecture=model.name,
        params=model.count_params(), spec=None if spec_of(model) is None else spec_of(model).to_dict(),
        hyper=_hyper({**hyper, "epochs": len(history)}, ValueError, "hyper"), history=history,
        test_accuracy=float(evaluation.accuracy), per_digit=tuple(float(a) for a in evaluation.per_class),
        epoch_seconds=float(epoch_seconds), when=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        weights=_deflated(model_bytes(model)),
    )


def renamed(run: Run, name: str) -> Run:
    """The run under a new name (1 to MAX_NAME characters, else ValueError)."""
    return dataclasses.replace(run, name=_name(name, ValueError, "a run's name"))


def restore(run: Run) -> keras.Model:
    """The run's model, read as any model file is (files.load_model: vetted, then checked for MNIST)."""
    return load_model(run.weights)


def disagreements(a_predicted: np.ndarray, b_predicted: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Indices of the images A gets wrong and B gets right (predicted digits against the true ones)."""
    a, b, y = (np.asarray(v).ravel() for v in (a_predicted, b_predicted, labels))
    if not len(a) == len(b) == len(y):
        raise ValueError(f"predictions and labels differ in length: {len(a)}, {len(b)}, {len(y)}")
    return np.flatnonzero((a != y) & (b == y))


def save_runs(runs: Sequence[Run]) -> bytes:
    """Runs as the bytes of one runs file (a zip: runs.json and one .keras per run), for a download."""
    if not 1 <= len(runs) <= MAX_RUNS:
        raise ValueError(f"a runs file holds 1 to {MAX_RUNS} runs, got {len(runs)}")
    index = [{"name": r.name, "hyper": dict(r.hyper), "test_accuracy": r.test_accuracy, "per_digit": list(r.per_digit),
              "epoch_seconds": r.epoch_seconds, "when": r.when, "model": MODEL.format(i)}
             for i, r in enumerate(runs, 1)]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr(INDEX, json.dumps({"format": FORMAT, "runs": index}), zipfile.ZIP_DEFLATED)
        for i, run in enumerate(runs, 1):
            zf.writestr(MODEL.format(i), run.weights)  # stored: deflated inside already
    return buffer.getvalue()


def load_runs(data: bytes, name: str = "the runs file") -> list[Run]:
    """The runs of a runs file (save_runs()), each with a new id; else ModelFileError with a one-line reason.

    Judged from the archive's directory first (archives.py: at most MAX_RUNS models, their declared sizes within
    MAX_RUN_BYTES together); then its index is checked field by field and every model is read as an uploaded
    `.keras` is (files.load_model: vetted config and weights, MNIST's shapes). Its design, history, size and
    architecture come from the model itself; the index gives only names, hyperparameters and test results.
    """
    if len(data) > MAX_RUNS_FILE:
        raise ModelFileError(f"{name} is {len(data) / 2**20:.1f} MB; a runs file is at most "
                             f"{MAX_RUNS_FILE / 2**20:.0f} MB")
    with open_zip(data, name, MEMBERS, ModelFileError, "a runs") as zf:
        infos = {info.filename: info for info in zf.infolist()}
        if INDEX not in infos:
            raise ModelFileError(f"{name} is not a runs file (no {INDEX} inside)")
        declared = sum(info.file_size for member, info in infos.items() if member != INDEX)
        if declared > MAX_RUN_BYTES:
            raise ModelFileError(f"{name}: its models unpack to {declared / 2**20:.1f} MB, more than the "
                                 f"{MAX_RUN_BYTES / 2**20:.0f} MB a session keeps")
        try:
            entries = _index(read_member(zf, INDEX), name)
            used = [entry["model"] for entry in entries]
            if len(set(used)) < len(used) or not set(used) <= set(infos):
                raise ModelFileError(f"{name}: its index names models twice or models it does not hold")
            models = {member: read_member(zf, member) for member in used}
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as e:  # a bad CRC, broken deflate data
            raise ModelFileError(f"{name} is not a readable runs file ({str(e)[:120]})") from None
    return [_loaded(entry, models.pop(entry["model"]), name) for entry in entries]


def _index(text, name):
    """The runs listed in a runs file's index, each field checked."""
    try:
        index = json.loads(text)
    except (ValueError, RecursionError):
        index = None
    if not isinstance(index, dict) or index.get("format") != FORMAT or not isinstance(index.get("runs"), list):
        raise ModelFileError(f"{name} is not a runs file ({INDEX} is not an index of runs)")
    entries = index["runs"]
    if not 1 <= len(entries) <= MAX_RUNS:
        raise ModelFileError(f"{name} lists {len(entries)} runs; a runs file holds 1 to {MAX_RUNS}")
    fields = {"name", "hyper", "test_accuracy", "per_digit", "epoch_seconds", "when", "model"}
    for i, entry in enumerate(entries, 1):
        where = f"{name}, run {i}"
        if not isinstance(entry, dict) or set(entry) != fields:
            raise ModelFileError(f"{where}: a run has exactly the fields {', '.join(sorted(fields))}")
        _name(entry["name"], ModelFileError, f"{where}: its name")
        _hyper(entry["hyper"], ModelFileError, f"{where}: hyper")
        per_digit = entry["per_digit"]
        if not isinstance(per_digit, list) or len(per_digit) != NUM_CLASSES or not all(
                _share(a) or (_number(a) and math.isnan(a)) for a in per_digit):
            raise ModelFileError(f"{where}: per_digit must be {NUM_CLASSES} accuracies from 0 to 1")
        if not _share(entry["test_accuracy"]):
            raise ModelFileError(f"{where}: test_accuracy must be from 0 to 1")
        if not (_number(entry["epoch_seconds"]) and 0 <= entry["epoch_seconds"] < math.inf):
            raise ModelFileError(f"{where}: epoch_seconds must be a number of seconds")
        try:
            datetime.fromisoformat(entry["when"])
        except (TypeError, ValueError):
            raise ModelFileError(f"{where}: when must be an ISO 8601 time") from None
        if entry["model"] not in MEMBERS or entry["model"] == INDEX:
            raise ModelFileError(f"{where}: model must name one of its {MODEL.format('N')} members")
    return entries


def _loaded(entry, weights, name):
    try:
        model = load_model(weights)
    except ModelFileError as e:  # load_model names bytes "the uploaded file": here it is one member of this file
        raise ModelFileError(str(e).replace("the uploaded file", f"{name}'s {entry['model']}", 1)) from None
    for record in training_log(model):
        if not all(isinstance(k, str) and _number(v) for k, v in record.items()):
            raise ModelFileError(f"{name}'s {entry['model']} has a malformed training history")
    spec = spec_of(model)
    return Run(
        id=uuid.uuid4().hex[:12], name=entry["name"].strip(), architecture=model.name, params=model.count_params(),
        spec=None if spec is None else spec.to_dict(), hyper=dict(entry["hyper"]),
        history=tuple(dict(r) for r in training_log(model)), test_accuracy=float(entry["test_accuracy"]),
        per_digit=tuple(float(a) for a in entry["per_digit"]), epoch_seconds=float(entry["epoch_seconds"]),
        when=entry["when"], weights=weights,  # as vetted: restore() vets them again
    )


def _name(name, error, what):
    if not isinstance(name, str) or not 1 <= len(name.strip()) <= MAX_NAME:
        raise error(f"{what} must be 1 to {MAX_NAME} characters")
    return name.strip()


def _hyper(hyper, error, what):
    """The hyperparameters, each of HYPER that is given checked: whole numbers, shares, rates, a flag."""
    if not isinstance(hyper, Mapping) or not set(hyper) <= set(HYPER):
        raise error(f"{what} must be an object with some of {', '.join(HYPER)}")
    checks = {
        "epochs": lambda v: _whole(v) and v >= 0, "batch_size": lambda v: _whole(v) and v >= 1,
        "validation_split": lambda v: _number(v) and 0 <= v < 1, "learning_rate": lambda v: _number(v) and v > 0,
        "seed": _whole, "augment": lambda v: isinstance(v, bool),
    }
    for key, value in hyper.items():
        if value is not None and not checks[key](value):
            raise error(f"{what}: {key} cannot be {json.dumps(value)[:40]}")
    return dict(hyper)


def _whole(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _share(value):
    return _number(value) and 0 <= value <= 1


def _deflated(keras_file: bytes) -> bytes:
    """A .keras file's members deflated: 10-20 % smaller (weights are close to random bits), ~0.06 s for deep_bn."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(keras_file)) as source, zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as out:
        for member in source.namelist():
            out.writestr(member, source.read(member))
    return buffer.getvalue()
