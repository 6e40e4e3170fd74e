"""The threads that train and evaluate for every session, and the relay that shows a training as it goes.

Not the script run's own thread: glibc gives threads heaps of their own (up to 8 a core) and each heap keeps
the most its threads ever used, so with a new thread for every run the server grew ~30 MB a training session.
And a busy server runs one training at a time, not one per visitor.
"""

import concurrent.futures
import contextlib
import functools
import math
import queue
import threading
import time
from collections.abc import Callable
from typing import TypeVar

import keras

import mnist_cnn as mc
from app import runtime

# Trainings (and teachings) run one at a time: two at once peaked ~110 MB higher (two copies of the shipped model,
# 14,000 images each: 1,108 MB at once, 999 MB one after the other), and on 2 cores took no less time in all.
TRAINERS = 1
WORKERS = max(1, runtime.usable_cpus() - TRAINERS)  # evaluations and indexes, beside a training
T = TypeVar("T")
WAIT_NOTICE_EVERY = 0.5  # seconds between two "still waiting" calls while a training waits for a worker


class Pool:
    """A thread pool that knows whether all its threads are taken."""

    def __init__(self, size: int):
        self.size, self._busy, self._lock = size, 0, threading.Lock()
        self._executor = concurrent.futures.ThreadPoolExecutor(size, thread_name_prefix="mnist-worker")

    def submit(self, fn: Callable, /, *args, **kwargs) -> tuple[concurrent.futures.Future, bool]:
        """Run fn(*args, **kwargs) on a worker: (its future, whether it has to wait for a free one)."""
        with self._lock:
            queued = self._busy >= self.size
            self._busy += 1
        job = self._executor.submit(fn, *args, **kwargs)
        job.add_done_callback(self._finished)  # also when cancelled
        return job, queued

    def _finished(self, _job):
        with self._lock:
            self._busy -= 1


@functools.cache
def pool() -> Pool:
    """The pool that evaluates and indexes for this server, for as long as it runs."""
    return Pool(WORKERS)


@functools.cache
def trainers() -> Pool:
    """The pool that trains for this server, for as long as it runs."""
    return Pool(TRAINERS)


class RunEnded(Exception):
    """The script run that was showing a training has ended (a rerun, Stop, another page)."""


def train(
    model: keras.Model, show: Callable[[mc.Snapshot], None], waiting: Callable[[float], None], curve: mc.Curve,
    run: Callable[..., T] | None = None, **kwargs,
) -> T:
    """run(model, **kwargs) on a trainer (None: mc.train, looked up at the call; or mc.teach), its curve going on
    from `curve`; in this thread, show(snapshot) as it goes and, while every trainer is taken, waiting(seconds
    waited) every WAIT_NOTICE_EVERY seconds. Returns what run returns.

    If show or waiting raises (Streamlit does, in their st calls, when the run ends early), a waiting training
    is cancelled and a running one stops after the batch under way; this returns once the model is whole again.
    """
    news, ended = queue.SimpleQueue(), threading.Event()

    def relay(snapshot):  # on the worker
        if ended.is_set():
            raise RunEnded
        news.put(snapshot)

    def fit():
        with runtime.traces_freed_after(model):
            return (run or mc.train)(model, callbacks=[mc.Progress(relay, curve=curve)], **kwargs)

    job, queued = trainers().submit(fit)
    start, last = time.monotonic(), -math.inf
    try:
        while not (job.done() and news.empty()):
            if queued and not (job.running() or job.done()) and time.monotonic() - last >= WAIT_NOTICE_EVERY:
                last = time.monotonic()
                waiting(last - start)
            with contextlib.suppress(queue.Empty):
                show(news.get(timeout=0.1))
        return job.result()
    finally:
        ended.set()
        if not job.cancel():  # it runs: the batch under way ends, then the relay stops it
            concurrent.futures.wait([job])


def call(fn: Callable[..., T], /, *args, **kwargs) -> T:
    """fn(*args, **kwargs) on a worker (an evaluation, an index of the training images), waited for; then the
    heap it freed goes back to the system."""
    job, _ = pool().submit(fn, *args, **kwargs)
    result = job.result()
    runtime.trim_heap()
    return result
