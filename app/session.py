"""This browser session's model: the shipped one, shared and never changed, until the visitor trains, resets
or uploads; from then on a model of its own in st.session_state, freed with the session (or, kept for a reload,
when its work expires: app/keep.py)."""

import gc
import threading
import weakref

import keras
import numpy as np
import streamlit as st

import mnist_cnn as mc
from app import dataset, keep, runtime, workers

# Sessions with a model of their own at once, so the server stays within Community Cloud's ~1 GB however many
# visitors train: with 8 (one working session, 2 that trained the shipped model, 5 a new one) it peaked at
# 775-834 MB (bench/run.py --only memory, 3 runs), leaving room for what the bench does not do in each (an index, 8 MB,
# whose build peaks 85 MB higher).
MAX_OWN_MODELS = 8
FULL = ("The server is full: {count} visitors have a model of their own right now, as many as its memory allows. "
        "Drawing and the shipped model work as before; please try again in a few minutes.")
_own: "weakref.WeakSet[keras.Model]" = weakref.WeakSet()  # every session's own model, gone with its kept work
# seconds: a session's model goes at most this long after its kept work expires (keep.KEEP_FOR after its last run)
COLLECT_EVERY = 30


class ServerFull(Exception):
    """No room for one more model of a session's own (the message says so to the visitor)."""


@st.cache_resource
def free_ended_sessions() -> threading.Event:
    """Once per server: while sessions have models of their own or kept work just expired, a full garbage
    collection every COLLECT_EVERY seconds frees those of ended sessions (and their place under MAX_OWN_MODELS)."""
    return runtime.collect_garbage_every(COLLECT_EVERY, when=lambda: keep.expire() > 0 or len(_own) > 0)


@st.cache_resource(show_spinner="Loading the shipped model…")
def shipped_model() -> keras.Model:
    model = mc.load_model()
    runtime.page_out_library_pages()  # what loading TensorFlow and the model read once
    return model


@st.cache_resource(show_spinner="Classifying the 10,000 test images…")
def _shipped_evaluation(source: str | None) -> mc.Evaluation:  # keyed on the data file
    _, (x_test, y_test) = dataset.mnist()
    return mc.evaluate(shipped_model(), x_test, y_test)


def model() -> keras.Model:
    """The model this session reads drawings with and trains."""
    if "model" not in st.session_state:
        set_model(shipped_model(), "the shipped model")
    return st.session_state.model


def is_shipped() -> bool:
    return model() is shipped_model()


def set_model(new: keras.Model, origin: str) -> None:
    """Make `new` this session's model; `origin` says where it came from. Raises ServerFull if it would be one
    model of a session's own too many."""
    if new is not shipped_model():
        if is_shipped() or keep.visitors() > 1:  # the model it replaces may stay with another tab of its work
            _room_for_one_more()
        _own.add(new)
    state = st.session_state
    state.model, state.origin, state.evaluation = new, origin, None
    state.model_id = state.get("model_id", 0) + 1  # widgets keyed on it start from the new model's settings
    state.curve = mc.Curve()  # the per-batch training curve, this session's only
    keep.save(start=new is not shipped_model())  # the kept work lets the model it replaces go now


def own_model(stop: bool = True) -> keras.Model:
    """The session's model, first copied if it is the shared shipped one, ready to be changed. If the server is
    full, says so and stops the page; with stop=False, raises ServerFull instead."""
    if is_shipped():
        try:
            _room_for_one_more()
        except ServerFull as e:
            if not stop:
                raise
            st.error(str(e), icon=":material/hourglass_disabled:")
            st.stop()
        with st.spinner("Copying the shipped model for this session…"):
            set_model(mc.copy_model(shipped_model()), "the shipped model, trained further in this session")
    st.session_state.evaluation = None  # its weights are about to change
    return st.session_state.model


def _room_for_one_more() -> None:
    """Raises ServerFull if MAX_OWN_MODELS sessions have a model of their own. Work kept for a reload that no
    session shows gives its model up first, the longest unvisited first: a visitor here goes before one who left."""
    if len(_own) >= MAX_OWN_MODELS:
        gc.collect()  # an ended session's model is freed by the cycle collector, which may not have run yet
    if len(_own) >= MAX_OWN_MODELS and keep.give_up(lambda work: work.get("model") in _own,
                                                    len(_own) - MAX_OWN_MODELS + 1):
        gc.collect()
    if len(_own) >= MAX_OWN_MODELS:
        raise ServerFull(FULL.format(count=len(_own)))


def test_evaluation() -> mc.Evaluation:
    """The session's model on the 10k test images, computed once per model state."""
    if is_shipped():
        return _shipped_evaluation(dataset.source())
    state = st.session_state
    if state.evaluation is None:
        _, (x_test, y_test) = dataset.mnist_or_stop()
        with st.spinner("Classifying the 10,000 test images…"):
            state.evaluation = workers.call(mc.evaluate, model(), x_test, y_test)
    return state.evaluation


def explain(image: np.ndarray) -> tuple[mc.Explanation, np.ndarray | None]:
    """Why the session's model reads `image` (28x28 in [0, 1]) as it does, with the training images it is
    compared to (None without the data). Their index is built once per model state, on a worker: for the shipped
    model once per server."""
    try:
        (x_train, y_train), _ = dataset.mnist()
    except mc.DataError:
        return mc.explain(model(), image), None
    index = mc.neighbour_index(model(), x_train, y_train, build=False)  # a stroke does not queue for a worker
    if index is None:
        with st.spinner("Indexing the 60,000 training images under this model (once per model state)…"):
            index = workers.call(mc.neighbour_index, model(), x_train, y_train)
    return mc.explain(model(), image, index=index), x_train
