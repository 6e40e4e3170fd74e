"""How robust models are, for the pages: each one's accuracy under every perturbation (mnist_cnn.robustness), on a
worker once per model state, kept in the session (the shipped model's once per server); one chart a perturbation,
a line a model, and a preview of one digit under the perturbation and level picked."""

from collections.abc import Callable, Mapping

import keras
import numpy as np
import streamlit as st

import mnist_cnn as mc
from app import charts, dataset, session, widgets, workers
from mnist_cnn.robustness import Curves

# Test images the app measures on, 100 of each digit: half the CLI's robustness.SUBSET, half the work (the shipped
# model's curves: 13 CPU-seconds where the CLI's 2,000 images take 23, BENCHMARKS.md)
SIZE = 1000
KEY = "robustness"  # session-state key: {model state key: its curves}, the most recently computed last
KEPT = 8  # models whose curves a session keeps (~2 KB each; never the models themselves)
SHIPPED = "shipped"  # the key of the shipped model, whose curves are kept once per server


@st.cache_resource(show_spinner=False)
def _subset(source: str | None, size: int) -> tuple[np.ndarray, np.ndarray]:  # keyed on the data file and size
    _, (x_test, y_test) = dataset.mnist()
    x, y = mc.test_subset(x_test, y_test, size)
    x.flags.writeable = y.flags.writeable = False  # shared by every session
    return x, y


@st.cache_resource(show_spinner=False)
def _shipped_curves(source: str | None, size: int) -> Curves:
    return workers.call(mc.robustness_curves, session.shipped_model(), *_subset(source, size))


def session_key() -> str:
    """The key of the session's model as it is now: it changes when the model is replaced (set_model) or trains
    (its optimizer steps, teaching included)."""
    if session.is_shipped():
        return SHIPPED
    model = session.model()
    optimizer = getattr(model, "optimizer", None)
    return f"model {st.session_state.model_id} at step {int(optimizer.iterations) if optimizer is not None else 0}"


def curves(key: str, model: Callable[[], keras.Model]) -> Curves:
    """The curves of the model that model() gives, computed on a worker unless kept under `key`."""
    if key == SHIPPED:
        return _shipped_curves(dataset.source(), SIZE)
    kept = st.session_state.setdefault(KEY, {})
    if key not in kept:
        kept[key] = workers.call(mc.robustness_curves, model(), *_subset(dataset.source(), SIZE))
        while len(kept) > KEPT:
            del kept[next(iter(kept))]
    return kept[key]


def show(models: Mapping[str, tuple[str, Callable[[], keras.Model]]]) -> None:
    """For each label -> (a key that changes with the model's weights, a function giving the model): its accuracy
    under every perturbation, one chart a perturbation; above them a preview of a digit, read by the first model."""
    dataset.mnist_or_stop()
    x, y = _subset(dataset.source(), SIZE)
    results = {}
    for label, (key, model) in models.items():
        with st.spinner(f"Testing {label} on {len(y):,} digits under {len(mc.PERTURBATIONS)} perturbations "
                        "(once per model state)…"):
            results[label] = curves(key, model)
    _preview(x, y, *next(iter(models.items())))
    st.caption(f"Accuracy on the same {len(y):,} test images ({len(y) // mc.NUM_CLASSES} of each digit) under each "
               "perturbation, from the clean images (the first point) to where the model breaks.")
    columns = st.columns(2)
    for i, (name, perturbation) in enumerate(mc.PERTURBATIONS.items()):
        with columns[i % 2]:
            by_model = {label: result[name] for label, result in results.items()}
            widgets.chart(charts.robustness(by_model, name.capitalize(), perturbation.unit), key=f"robustness_{name}")


def _preview(x: np.ndarray, y: np.ndarray, label: str, entry: tuple[str, Callable[[], keras.Model]]) -> None:
    """A test digit, picked by its class, under the perturbation and level picked, and what `label` reads it as."""
    with st.container(border=True):
        left, middle, right = st.columns([1, 1, 2])
        digit = left.selectbox("Digit", charts.DIGITS, key="robustness_digit")
        name = middle.selectbox("Perturbation", list(mc.PERTURBATIONS), key="robustness_name")
        perturbation = mc.PERTURBATIONS[name]
        level = right.select_slider(f"Level ({perturbation.unit})", perturbation.levels, key=f"robustness_{name}_level")
        image = x[np.flatnonzero(y == digit)[0]]
        shown = np.stack([image, mc.perturb(image[None], name, level)[0]])
        proba = mc.predict_proba(entry[1](), shown)
        captions = [f"{what}: read as {p.argmax()} ({p.max():.0%})"
                    for what, p in zip(["clean", f"{name} {level:g}"], proba, strict=True)]
        widgets.digit_grid(shown, captions, frames=[widgets.RIGHT if p.argmax() == digit else widgets.WRONG
                                                    for p in proba], size=140,
                           alt=[f"a {digit}, clean", f"a {digit}, {name} {level:g}"])
        st.caption(f"Read by {label}; blue when right, red when wrong.")
