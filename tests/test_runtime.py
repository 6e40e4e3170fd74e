"""app/runtime.py: each workaround takes effect, and says so in the log when what it leans on is gone."""

import gc
import logging
import sys
import types

import keras
import pytest
import streamlit.runtime.scriptrunner.script_runner as script_runner

import mnist_cnn
from app import runtime


def test_a_rerun_keeps_tensorflow_warm_and_still_closes_matplotlib_figures(new_session, monkeypatch):
    """Streamlit's keras.backend.clear_session() after every run is off (it dropped TensorFlow's kernel cache);
    its other clean-up, closing matplotlib's figures, still runs after every run."""
    at = new_session()
    cleared, closed = [], []
    monkeypatch.setattr(keras.backend, "clear_session", lambda *args, **kwargs: cleared.append(args))
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", types.SimpleNamespace(close=closed.append))
    at.run()
    assert not at.exception
    assert not cleared and closed == ["all"]


def test_a_rerun_runs_no_full_garbage_collection(new_session, monkeypatch):
    """Streamlit's gc.collect(2) after every run is off (~200 ms with TensorFlow loaded)."""
    at = new_session()
    collections = []
    monkeypatch.setattr(script_runner.gc, "collect", lambda *args: collections.append(args) or 0)
    at.run()
    assert not at.exception and not collections


def test_a_trained_model_leaves_no_traced_graph_behind(small):
    """fit's traced step goes with its model: TensorFlow's gradient registry kept it, ~5 MB a model."""

    def graphs():
        gc.collect()
        return sum(type(o).__name__ == "FuncGraph" for o in gc.get_objects())

    x, y = small[0][0][:512], small[0][1][:512]
    counts = []
    for _ in range(4):
        model = mnist_cnn.build_model("basic", seed=0)
        with runtime.gradients_freed_with(model):
            mnist_cnn.train(model, (x, y), validation_split=0.25)
        del model
        counts.append(graphs())
    assert counts[1] == counts[2] == counts[3], counts  # the first model may leave module-level traces


def test_a_missing_private_name_is_skipped_with_a_log_line(monkeypatch, caplog):
    monkeypatch.delattr(script_runner, "_clean_problem_modules")
    monkeypatch.setattr(runtime.tf_ops, "_gradient_registry", None)
    monkeypatch.setattr(runtime, "POST_SCRIPT_GC", "runner.noSuchOption")
    with caplog.at_level(logging.WARNING, logger=runtime.__name__):
        runtime.keep_keras_session()
        runtime.skip_collection_after_runs()
        with runtime.gradients_freed_with(mnist_cnn.build_model("basic")):
            pass
    assert all(name in caplog.text for name in ("_clean_problem_modules", "_gradient_registry", "noSuchOption"))


@pytest.mark.parametrize("workaround", ["keep_keras_session", "skip_collection_after_runs"])
def test_apply_sets_each_workaround_once(workaround, monkeypatch):
    calls = []
    monkeypatch.setattr(runtime, "_done", False)
    for name in ("keep_keras_session", "skip_collection_after_runs"):
        monkeypatch.setattr(runtime, name, lambda name=name: calls.append(name))
    runtime.apply()
    runtime.apply()
    assert calls.count(workaround) == 1
