"""This session's runs: every training click on the Train page records (or updates) one, kept as bytes in
st.session_state[KEY] and nowhere else in the session, within a budget per session and per server."""

import dataclasses
import gc
import threading
import weakref
from collections import OrderedDict

import keras
import numpy as np
import streamlit as st

import mnist_cnn as mc
from app import dataset, session, workers
from mnist_cnn import runs as core
from mnist_cnn.export import export_script
from mnist_cnn.runs import MAX_RUN_BYTES, MAX_RUNS, Run

KEY = "runs"  # session-state key: a tuple of Run, the least recently trained first (replaced, never changed in place)
# All sessions' runs together (the issue: 8 sessions with 10 runs each within 100 MB of the 8-session figure): 10
# runs of the registry's five architectures twice take 8.8 MB, 10 of deep_bn, the largest, 14.7 MB (MAX_RUN_BYTES).
MAX_SERVER_BYTES = 96 * 2**20
SERVER_FULL = ("This training is not kept as a run: the server holds as many runs as its memory allows ({mb:.0f} MB). "
               "The model is still yours; delete or download runs on the Compare page to keep the next one.")
# runs whose 10,000 test predictions are cached (10 KB each): every run the sessions with a model of their own can
# hold, so a run recorded here is never restored to be compared (an uploaded one, once)
PREDICTIONS_KEPT = session.MAX_OWN_MODELS * MAX_RUNS

_held: "weakref.WeakValueDictionary[int, Run]" = weakref.WeakValueDictionary()  # every session's runs, by id()
_lineage: "weakref.WeakKeyDictionary[keras.Model, str]" = weakref.WeakKeyDictionary()  # a model -> its run's id
_predicted: "OrderedDict[tuple[str, str], np.ndarray]" = OrderedDict()
_lock = threading.Lock()  # for both: sessions' script threads change them at once


def kept() -> tuple[Run, ...]:
    """This session's runs, the least recently trained first."""
    return st.session_state.get(KEY, ())


def get(run_id: str) -> Run | None:
    return next((run for run in kept() if run.id == run_id), None)


def before_training(model: keras.Model) -> str | None:
    """What training `model` next will do to the runs, when it is not plain: which run it replaces."""
    runs = kept()
    if get(_lineage.get(model, "")) is None and len(runs) >= MAX_RUNS:
        return (f"This session keeps {MAX_RUNS} runs, the most it can: the next training replaces the oldest, "
                f"`{runs[0].name}`. Download the runs on the Compare page to keep them all.")
    return None


def record_training(model: keras.Model, hyper: dict, seconds: float) -> str:
    """After a training click on the Train page: `model` (the session's) becomes a run, or updates its own run if
    it is one already (a run is one model's lineage). `hyper`: the click's epochs, batch_size, validation_split,
    learning_rate, seed and augment; `seconds`: the click's training time. Returns a sentence for the page: the
    run's name, and the run it replaced if the session had no room."""
    if model is not session.model():
        raise ValueError("record_training() records the session's model")
    evaluation = session.test_evaluation()  # cached for the gallery too
    before, old = kept(), get(_lineage.get(model, ""))
    run = core.record(model, old.name if old else _new_name(model.name, before), hyper, evaluation,
                      seconds / max(int(hyper.get("epochs") or 1), 1))
    if old is not None:
        run = dataclasses.replace(run, id=old.id)
    after, dropped = _fitted([r for r in before if r.id != run.id] + [run])
    if not _room(after, before):
        return SERVER_FULL.format(mb=MAX_SERVER_BYTES / 2**20)
    _store(after)
    _lineage[model] = run.id
    _remember(run, evaluation.predicted)
    said = f"{'Updated' if old else 'Kept as'} run `{run.name}` on the Compare page."
    if dropped:
        said += (f" The session keeps {MAX_RUNS} runs ({MAX_RUN_BYTES // 2**20} MB) at most, so it replaced the "
                 f"oldest: {', '.join(f'`{r.name}`' for r in dropped)}.")
    return said


def restore(run_id: str) -> None:
    """The run's model becomes the session's (training it goes on updating that run). Raises
    session.ServerFull."""
    run = get(run_id)
    model = core.restore(run)
    session.set_model(model, f"run `{run.name}`, made the session's model again")
    _lineage[model] = run.id


def rename(run_id: str, name: str) -> None:
    """Raises ValueError (one line) for an empty or overlong name."""
    renamed = core.renamed(get(run_id), name)
    _store(tuple(renamed if r.id == run_id else r for r in kept()))


def delete(run_id: str) -> None:
    _store(tuple(r for r in kept() if r.id != run_id))


def add(uploaded: list[Run]) -> str:
    """Runs from a runs file, after this session's; a sentence for the page. Raises ValueError (one line) when
    they do not fit the session's or the server's budget: nothing is replaced for an upload."""
    before = kept()
    after = (*before, *uploaded)
    if len(after) > MAX_RUNS or sum(len(r.weights) for r in after) > MAX_RUN_BYTES:
        raise ValueError(f"this session has {len(before)} runs and the file {len(uploaded)}: a session keeps "
                         f"{MAX_RUNS} ({MAX_RUN_BYTES // 2**20} MB) at most. Delete some runs first.")
    if not _room(after, before):
        raise ValueError(f"the server holds as many runs as its memory allows ({MAX_SERVER_BYTES / 2**20:.0f} MB); "
                         "please try again in a few minutes")
    _store(after)
    return f"Added {len(uploaded)} run{'s' * (len(uploaded) != 1)} from the file."


def read_file(data: bytes, name: str) -> list[Run]:
    """A runs file's runs (mnist_cnn.load_runs), read on a worker; raises mc.ModelFileError."""
    return workers.call(_collected, core.load_runs, data, name)


def cached_predictions(run: Run) -> np.ndarray | None:
    """The digits the run's model reads for the 10,000 test images, if they are at hand (a run trained in this
    server, or one compared before); None if reading them takes its model restored (predictions())."""
    with _lock:
        digits = _predicted.get((run.id, run.when))
        if digits is not None:
            _predicted.move_to_end((run.id, run.when))
        return digits


def predictions(run: Run) -> np.ndarray:
    """The digits the run's model reads for the 10,000 test images: computed once per run state on a worker,
    kept for every session (PREDICTIONS_KEPT)."""
    if (digits := cached_predictions(run)) is not None:
        return digits
    _, (x_test, _) = dataset.mnist_or_stop()
    with st.spinner(f"Classifying the 10,000 test images with `{run.name}`…"):
        digits = workers.call(_collected, _predict, run, x_test)
    _remember(run, digits)
    return digits


def code(run: Run) -> str:
    """A standalone script that trains the run's design as it was trained (mnist_cnn.export)."""
    hyper = run.hyper
    return export_script(
        mc.parse_spec(run.spec), epochs=max(int(hyper.get("epochs") or 1), 1),
        validation_split=float(hyper.get("validation_split") or 0.0), seed=int(hyper.get("seed") or 0),
        batch_size=hyper.get("batch_size"), learning_rate=hyper.get("learning_rate"), augment=hyper.get("augment"),
    )


def _collected(fn, *args):
    """fn(*args), then a garbage collection: a model loaded and dropped sits in reference cycles until the next
    one (session.COLLECT_EVERY s; Streamlit's after every rerun is off): reading a runs file of 9 left +29 MB,
    +10 MB once collected, 8 MB of it the runs' bytes (BENCHMARKS.md, "Runs")."""
    try:
        return fn(*args)
    finally:
        gc.collect()


def _predict(run: Run, images: np.ndarray) -> np.ndarray:
    return mc.predict_proba(core.restore(run), images).argmax(axis=1).astype(np.uint8)


def _remember(run: Run, predicted: np.ndarray) -> None:
    digits = np.asarray(predicted, np.uint8)
    digits.flags.writeable = False  # shared by every session
    with _lock:
        _predicted[(run.id, run.when)] = digits
        while len(_predicted) > PREDICTIONS_KEPT:
            _predicted.popitem(last=False)


def _new_name(architecture: str, runs: tuple[Run, ...]) -> str:
    names, n = {r.name for r in runs}, 1
    while f"{architecture} {n}" in names:
        n += 1
    return f"{architecture} {n}"


def _fitted(runs: list[Run]) -> tuple[tuple[Run, ...], list[Run]]:
    """The runs within the session's budget, the oldest dropped first (never the last, the one just trained)."""
    dropped = []
    while len(runs) > 1 and (len(runs) > MAX_RUNS or sum(len(r.weights) for r in runs) > MAX_RUN_BYTES):
        dropped.append(runs.pop(0))
    return tuple(runs), dropped


def _room(after: tuple[Run, ...], before: tuple[Run, ...]) -> bool:
    """Whether the server's runs stay within MAX_SERVER_BYTES with this session's `before` replaced by `after`."""
    def others():
        mine = {id(r) for r in before}
        with _lock:
            return sum(len(r.weights) for key, r in _held.items() if key not in mine)

    mine = sum(len(r.weights) for r in after)
    if others() + mine > MAX_SERVER_BYTES:
        gc.collect()  # an ended session's state is freed by the cycle collector, which may not have run yet
    return others() + mine <= MAX_SERVER_BYTES


def _store(runs: tuple[Run, ...]) -> None:
    with _lock:
        for run in runs:
            _held[id(run)] = run
    st.session_state[KEY] = runs
