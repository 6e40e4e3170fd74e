"""Every change the app makes to how Streamlit and TensorFlow behave at run time, in one place.

`apply()` runs from streamlit_app.py and sets each once per server; every page calls `through_entry_script()` first.
A workaround that leans on a private name checks that the name is still there; if a new release removed it, the
workaround is skipped with a log line and tests/test_runtime.py fails, so nobody loses it without noticing.
"""

import contextlib
import ctypes
import gc
import logging
import math
import os
import runpy
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import keras
import streamlit as st
import streamlit.runtime.scriptrunner.script_runner as script_runner
import tensorflow as tf
from streamlit import config
from streamlit.runtime.pages_manager import PagesManager
from streamlit.runtime.scriptrunner import get_script_run_ctx
from tensorflow.python.framework import ops as tf_ops

POST_SCRIPT_GC = "runner.postScriptGC"
KERAS_TRACES = ("train_function", "test_function", "predict_function")  # a Keras model's traced steps
CGROUP = Path("/sys/fs/cgroup")
MADV_PAGEOUT = 21  # madvise(2): reclaim these pages now (Linux 5.4+)
log = logging.getLogger(__name__)
_applied = threading.Lock()
_done = False


def apply() -> None:
    """TensorFlow's thread pools fit the CPUs this server may use; Streamlit keeps TensorFlow warm and runs no full
    garbage collection after each script run. Call it before TensorFlow runs anything; later calls do nothing."""
    global _done
    with _applied:
        if not _done:
            size_thread_pools()
            keep_keras_session()
            skip_collection_after_runs()
            _done = True


def through_entry_script() -> None:
    """Every page calls this first: a run that Streamlit started down its folder-based path runs streamlit_app.py
    in the page's place, and its st.navigation picks the page again.

    With a `pages/` folder beside the entry script, Streamlit (1.65 to 1.67) runs the page a URL names on its own,
    with the folder's file names as the menu, until st.navigation has run once in the server
    (`PagesManager.uses_pages_directory`, set as the first session starts; AppTest sets it afresh for every run): a
    fresh server's first visitor by a deep link got no runtime.apply() and no model card. Such a run's menu lists
    the entry script itself, as the app's never does. The flag is no sign of it: of five first visitors at once,
    four had started down that path before the first page cleared it. In place, not by st.rerun(): a rerun
    forgets the buttons pressed in the run it replaces, and in AppTest every run starts down that path.
    """
    if not hasattr(PagesManager, "uses_pages_directory"):
        log.warning("streamlit has no PagesManager.uses_pages_directory: a page is left to the path it was run on")
        return
    ctx = get_script_run_ctx()
    try:
        entry = Path(ctx.main_script_path).resolve()
        menu = [Path(page["script_path"]).resolve() for page in ctx.pages_manager.get_pages().values()]
    except (AttributeError, KeyError) as e:
        log.warning(f"streamlit's script run lacks {e}: a page is left to the path it was run on")
        return
    if entry in menu:
        PagesManager.uses_pages_directory = False  # the server's next runs take st.navigation's path from the start
        runpy.run_path(str(entry))
        st.stop()  # the page ran whole in there


def usable_cpus(cgroup: Path = CGROUP) -> int:
    """The CPUs this process may run on: its affinity, capped by its cgroup's CPU quota (a container is often
    shown all of its host's CPUs and given a share of them)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    for quota, period in (("cpu.max", None), ("cpu/cpu.cfs_quota_us", "cpu/cpu.cfs_period_us")):  # v2, v1
        with contextlib.suppress(OSError, ValueError):
            quota, *rest = (cgroup / quota).read_text().split()
            share = int(quota) / int((cgroup / period).read_text() if period else rest[0])
            return max(1, min(cpus, math.ceil(share))) if share > 0 else cpus
    return cpus


def size_thread_pools() -> None:
    """TensorFlow runs ops on two thread pools, each as large as the CPUs it sees, and every thread keeps caches
    and a glibc heap of its own: sized for 8 CPUs (a container on an 8-CPU host) on these 2, a server's work
    held 21 MB more after a training and peaked 28 MB higher with two at once. Each pool gets the CPUs this
    process may use (the same as TensorFlow's own choice on this machine). Must run before TensorFlow runs
    anything."""
    cpus = usable_cpus()
    try:
        tf.config.threading.set_intra_op_parallelism_threads(cpus)
        tf.config.threading.set_inter_op_parallelism_threads(cpus)
    except RuntimeError:  # TensorFlow has run: its pools are made
        log.warning("tensorflow was initialized before runtime.apply(): its thread pools keep their size")


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


def collect_garbage_every(seconds: float, when: Callable[[], bool]) -> threading.Event:
    """Every `seconds`, if when() is true, a full garbage collection on a thread of its own, then the freed heap
    goes back to the system. Returns the event that stops it.

    An ended session's objects are in reference cycles (Streamlit's session, Keras' model), so only a full
    collection frees them, and Streamlit no longer runs one after each script run (skip_collection_after_runs):
    20 sessions that trained came and went left the server 135 MB higher; 97 MB with a collection every 30 s, 66
    MB every 5 s. One takes ~0.22 s with the GIL held, so the caller runs it only while there is something to free.
    """
    stop = threading.Event()

    def collect() -> None:
        while not stop.wait(seconds):
            if when():
                gc.collect()
                trim_heap()

    threading.Thread(target=collect, name="mnist-collector", daemon=True).start()
    return stop


def forget_upload(file_id: str) -> None:
    """Let an uploaded file go once it is read. Streamlit keeps every file an uploader received until its session
    ends: a runs file is 8.5 MB, 68 MB for 8 sessions (bench/run.py --only memory), on top of the runs read from
    it. st.chat_input removes its files the same way; the uploader then gives None on the next run."""
    ctx = get_script_run_ctx()
    if not callable(getattr(getattr(ctx, "uploaded_file_mgr", None), "remove_file", None)):
        log.warning("streamlit's uploaded file manager has no remove_file: uploaded files stay with their session")
        return
    ctx.uploaded_file_mgr.remove_file(session_id=ctx.session_id, file_id=file_id)


def trim_heap() -> None:
    """Hand the heap the process freed back to the system (glibc keeps it otherwise, in every thread's arena)."""
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to do
        ctypes.CDLL("libc.so.6").malloc_trim(0)


@contextlib.contextmanager
def traces_freed_after(model: keras.Model) -> Iterator[None]:
    """Around a training: what it traced goes when it ends, not when the model does.

    Keras keeps fit's traced training and validation steps on the model for its next fit. A session keeps its
    model until it ends, so each model of its own held ~18 MB more (8 copies of the shipped model trained and
    kept: 22 MB each, 4 MB without the steps); tracing them again costs the next training 0.3-0.5 s.

    And Keras' optimizer step goes through tf.distribute's all_reduce, a tf.custom_gradient: each time fit() traces
    it, a gradient function goes into TensorFlow's global registry, never to leave, holding the whole traced step
    (~5 MB a trace, keras-team/keras#20552). The registry is read only while a gradient is being traced, so the
    training's entries can go as soon as it ends.
    """
    registry = getattr(getattr(tf_ops, "_gradient_registry", None), "_registry", None)
    if not isinstance(registry, dict):
        log.warning("tensorflow has no ops._gradient_registry._registry: traced gradients are not freed")
    if not all(hasattr(model, name) for name in KERAS_TRACES):
        log.warning(f"keras models have no {', '.join(KERAS_TRACES)}: a model keeps its traced steps")
    before = set(registry or ())
    try:
        yield
    finally:
        for name in KERAS_TRACES:
            if hasattr(model, name):
                setattr(model, name, None)  # what compile() sets: the next fit traces again
        for name in set(registry or ()) - before:
            if name.startswith("CustomGradient-"):
                registry.pop(name, None)


def page_out_library_pages() -> float:
    """Hand back the pages of the shared libraries (TensorFlow's 850 MB) that loading touched once; returns the MB.

    Loading TensorFlow reads its relocations, symbol tables and start-up code: 376 MB of file pages stay resident
    in the process, counted in its memory (RssFile), of which drawing, training and the gallery use ~60-80 MB.
    Paged out, 16 MB stay; what is used comes back on first use (the next answer took 125 ms instead of 2 once).
    MADV_PAGEOUT never loses data (a clean file page is read again from its file; a page with no file behind it
    stays). The kernel pages out only files the process's user owns or may write (packages it installed itself),
    and no page another process maps too (a second TensorFlow process on the machine): the rest stays, and the
    log says how many MB went.
    """
    try:
        madvise = ctypes.CDLL(None, use_errno=True).madvise
        maps = Path("/proc/self/maps").read_text().splitlines()
    except (OSError, AttributeError):  # not Linux
        log.warning("no /proc/self/maps or madvise: library pages stay resident")
        return 0.0
    madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    before, failed = resident_mb("RssFile"), 0
    for line in maps:  # address perms offset device inode [path]
        fields = line.split(maxsplit=5)
        if len(fields) < 6 or not fields[5].startswith("/") or "w" in fields[1]:  # read-only file mappings only
            continue
        start, end = (int(a, 16) for a in fields[0].split("-"))
        failed += madvise(start, end - start, MADV_PAGEOUT) != 0
    if failed:
        log.warning(f"madvise(MADV_PAGEOUT) failed on {failed} mappings ({os.strerror(ctypes.get_errno())})")
    freed = before - resident_mb("RssFile")
    log.info(f"paged out {freed:.0f} MB of library pages")
    return freed


def resident_mb(field: str) -> float:
    """A field of /proc/self/status in MB ("RssAnon", "RssFile", "VmHWM"); 0 where there is none."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    return 0.0
