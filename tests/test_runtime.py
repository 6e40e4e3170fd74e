"""app/runtime.py: each workaround takes effect, and says so in the log when what it leans on is gone."""

import gc
import logging
import mmap
import os
import runpy
import sys
import time
import types
import weakref
from pathlib import Path

import keras
import numpy as np
import pytest
import streamlit.runtime.scriptrunner.script_runner as script_runner
import tensorflow as tf
from streamlit.runtime.pages_manager import PagesManager

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


def test_a_training_leaves_no_traced_step_behind(small):
    """What fit traces goes when the training ends, though the model stays (a session keeps its own): Keras kept
    the steps on the model, and TensorFlow's gradient registry kept them too, ~18 MB a model in all."""

    def graphs():
        gc.collect()
        return sum(type(o).__name__ == "FuncGraph" for o in gc.get_objects())

    x, y = small[0][0][:512], small[0][1][:512]
    models, counts = [], []
    for _ in range(4):
        models.append(mnist_cnn.build_model("basic", seed=0))
        for _ in range(2):  # the same model again: it traces again, and that goes too
            with runtime.traces_freed_after(models[-1]):
                mnist_cnn.train(models[-1], (x, y), validation_split=0.25)
        counts.append(graphs())
    assert counts[1] == counts[2] == counts[3], counts  # the first training may leave module-level traces
    assert all(getattr(model, name) is None for model in models for name in runtime.KERAS_TRACES)
    assert all(len(mnist_cnn.training_log(model)) == 2 for model in models)


def test_a_missing_private_name_is_skipped_with_a_log_line(monkeypatch, caplog):
    monkeypatch.delattr(script_runner, "_clean_problem_modules")
    monkeypatch.setattr(runtime.tf_ops, "_gradient_registry", None)
    monkeypatch.setattr(runtime, "POST_SCRIPT_GC", "runner.noSuchOption")
    monkeypatch.setattr(runtime, "KERAS_TRACES", ("no_such_function",))
    monkeypatch.setattr(runtime, "MADV_PAGEOUT", 12345)  # an advice no kernel knows: madvise fails
    monkeypatch.setattr(runtime, "usable_cpus", lambda: 64)  # not the size TensorFlow's pools already have
    monkeypatch.delattr(PagesManager, "uses_pages_directory")
    with caplog.at_level(logging.WARNING, logger=runtime.__name__):
        runtime.through_entry_script()
        runtime.keep_keras_session()
        runtime.skip_collection_after_runs()
        with runtime.traces_freed_after(mnist_cnn.build_model("basic")):
            pass
        runtime.size_thread_pools()  # TensorFlow has run in this process: too late
        runtime.page_out_library_pages()
        runtime.forget_upload("an-upload")  # outside a script run: no file manager
    assert all(name in caplog.text for name in ("uses_pages_directory", "_clean_problem_modules", "_gradient_registry",
                                                "noSuchOption", "no_such_function", "thread pools", "MADV_PAGEOUT",
                                                "remove_file"))


def test_a_page_run_on_its_own_runs_the_entry_script_in_its_place(new_session, monkeypatch):
    """AppTest starts every run as a fresh server's first, down Streamlit's folder-based path (`pages/` is beside
    streamlit_app.py): a page runs the entry script in its place, once; `/` runs it as that path's main page."""
    entry, runs, run_path = str(Path(runtime.__file__).resolve().parent.parent / "streamlit_app.py"), [], runpy.run_path
    monkeypatch.setattr(runpy, "run_path", lambda path: runs.append(path) or run_path(path))
    at = new_session()
    assert not runs
    at.switch_page("pages/training.py").run()
    assert runs == [entry] and PagesManager.uses_pages_directory is False
    assert not at.exception and at.title[0].value == "Train a CNN"
    assert len([m for m in at.sidebar.markdown if "parameters" in m.value]) == 1  # the model card, drawn once


def test_a_page_is_left_to_its_path_where_a_script_run_lacks_what_the_check_reads(monkeypatch, caplog):
    monkeypatch.setattr(runtime, "get_script_run_ctx", lambda: types.SimpleNamespace(main_script_path="app.py"))
    with caplog.at_level(logging.WARNING, logger=runtime.__name__):
        runtime.through_entry_script()
    assert "pages_manager" in caplog.text


def test_thread_pools_fit_the_cpus_the_cgroup_allows(tmp_path, monkeypatch):
    assert runtime.usable_cpus(tmp_path) == len(os.sched_getaffinity(0))  # no quota
    (tmp_path / "cpu.max").write_text("50000 100000\n")  # cgroup v2: half a CPU
    assert runtime.usable_cpus(tmp_path) == 1
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert runtime.usable_cpus(tmp_path) == len(os.sched_getaffinity(0))
    (tmp_path / "cpu.max").unlink()
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("100000\n")  # cgroup v1: one CPU
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert runtime.usable_cpus(tmp_path) == 1
    sizes = []
    monkeypatch.setattr(runtime, "usable_cpus", lambda: 3)
    for setter in ("set_intra_op_parallelism_threads", "set_inter_op_parallelism_threads"):
        monkeypatch.setattr(tf.config.threading, setter, sizes.append)
    runtime.size_thread_pools()
    assert sizes == [3, 3]


def test_read_only_file_pages_are_paged_out_and_come_back_when_read(tmp_path, shipped):
    """A read-only mapping of a file this user owns (as a library installed into the app's own environment is)
    leaves the resident set and reads back the same; TensorFlow still answers afterwards."""
    path = tmp_path / "library.so"
    path.write_bytes(os.urandom(32 << 20))
    with open(path, "rb") as file, mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as pages:
        content = bytes(pages)  # every page read: resident
        assert resident_kb(path) >= 30 << 10
        freed = runtime.page_out_library_pages()
        assert resident_kb(path) < 1 << 10 and freed >= 30
        assert bytes(pages) == content
    assert mnist_cnn.predict_proba(shipped, np.zeros((1, 28, 28), np.float32)).shape == (1, 10)


def resident_kb(path: Path) -> int:
    """This process's resident kB of its mappings of `path` (/proc/self/smaps)."""
    total, mine = 0, False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        fields = line.split()
        if "-" in fields[0] and len(fields) >= 5:  # a mapping's header: address perms offset device inode [path]
            mine = fields[-1] == str(path)
        elif mine and fields[0] == "Rss:":
            total += int(fields[1])
    return total


def test_garbage_in_reference_cycles_is_collected_while_asked_to():
    """An ended session's model is in reference cycles: the collector frees it while when() says so."""

    class Node:
        pass

    gc.disable()  # only the collector under test collects
    try:
        node = Node()
        node.me = node
        freed, asked = weakref.ref(node), []
        del node
        stop = runtime.collect_garbage_every(0.02, when=lambda: asked.append(True) or len(asked) > 3)
        deadline = time.monotonic() + 5
        while freed() is not None and time.monotonic() < deadline:
            time.sleep(0.02)
        stop.set()
        assert freed() is None
    finally:
        gc.enable()


@pytest.mark.parametrize("workaround", ["size_thread_pools", "keep_keras_session", "skip_collection_after_runs"])
def test_apply_sets_each_workaround_once(workaround, monkeypatch):
    calls = []
    monkeypatch.setattr(runtime, "_done", False)
    for name in ("size_thread_pools", "keep_keras_session", "skip_collection_after_runs"):
        monkeypatch.setattr(runtime, name, lambda name=name: calls.append(name))
    runtime.apply()
    runtime.apply()
    assert calls.count(workaround) == 1
