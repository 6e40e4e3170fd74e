"""Every change the app makes to how Streamlit and TensorFlow behave at run time, in one place.

`apply()` runs from streamlit_app.py and sets each once per server. A workaround that leans on a private name
checks that the name is still there; if a new release removed it, the workaround is skipped with a log line
and tests/test_runtime.py fails, so nobody loses it without noticing.
"""

import contextlib
import logging
import sys
import threading
import weakref
from collections.abc import Iterator

import keras
import streamlit.runtime.scriptrunner.script_runner as script_runner
from streamlit import config
from tensorflow.python.framework import ops as tf_ops

POST_SCRIPT_GC = "runner.postScriptGC"
log = logging.getLogger(__name__)
_applied = threading.Lock()
_done = False


def apply() -> None:
    """Streamlit keeps TensorFlow warm and runs no full garbage collection after each script run. Later calls
    do nothing."""
    global _done
    with _applied:
        if not _done:
            keep_keras_session()
            skip_collection_after_runs()
            _done = True


def keep_keras_session() -> None:
    """Streamlit calls keras.backend.clear_session() after every script run, a cure for Keras 1's graph
    sessions. In Keras 3 it throws TensorFlow's kernel cache away (the next drawing took 20 ms to predict, not 2),
    from under other sessions' training too, and runs a second full garbage collection (~0.2 s with the GIL held).
    Streamlit's other clean-up, closing matplotlib's figures, stays."""
    if not callable(getattr(script_runner, "_clean_problem_modules", None)):
        log.warning("streamlit has no script_runner._clean_problem_modules: keras' session is left to it")
        return

    def close_matplotlib_figures() -> None:
        if (pyplot := sys.modules.get("matplotlib.pyplot")) is not None:
            pyplot.close("all")

    script_runner._clean_problem_modules = close_matplotlib_figures


def skip_collection_after_runs() -> None:
    """Streamlit runs a full garbage collection after every script run (runner.postScriptGC). With TensorFlow,
    Keras and the shipped model loaded, ~400k objects, each took ~200 ms with the GIL held (py-spy, 8 visitors
    drawing). Python's own collector still runs as objects pile up. (gc.freeze() of the long-lived objects did
    the same, but froze the first session's objects with them, and that session's model never went.)"""
    try:
        config.get_option(POST_SCRIPT_GC)
    except RuntimeError:  # not an option any more
        log.warning(f"streamlit has no {POST_SCRIPT_GC} option: it collects garbage after every run")
        return
    config.set_option(POST_SCRIPT_GC, False)


@contextlib.contextmanager
def gradients_freed_with(model: keras.Model) -> Iterator[None]:
    """Around a training: the gradient functions it registers in TensorFlow go when `model` does.

    Keras' optimizer step goes through tf.distribute's all_reduce, a tf.custom_gradient: each time fit() traces
    it, a gradient function goes into TensorFlow's global registry, never to leave, holding the whole traced
    step (~5 MB a model, so a server whose visitors train their own models grows without end;
    keras-team/keras#20552). The registry is read only while a gradient is being traced, so a model's entries
    can go when it does.
    """
    registry = getattr(getattr(tf_ops, "_gradient_registry", None), "_registry", None)
    if not isinstance(registry, dict):
        log.warning("tensorflow has no ops._gradient_registry._registry: traced gradients are not freed")
        yield
        return
    before = set(registry)
    try:
        yield
    finally:
        names = {name for name in set(registry) - before if name.startswith("CustomGradient-")}
        if names:
            weakref.finalize(model, lambda: [registry.pop(name, None) for name in names])
