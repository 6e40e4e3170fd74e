"""The designs as the Train page describes them: a summary of each, and the time an epoch takes.

Kept out of the page script: a cached function keeps its module's globals alive, and a page's hold the session's
model (tests/test_sessions.py).
"""

import time

import numpy as np
import streamlit as st

import mnist_cnn as mc
from app import workers
from mnist_cnn.models import CUSTOM, name_of

RATE_ARCH = "default"  # the architecture timed once per server for the estimate of a design's epoch


@st.cache_data(show_spinner=False, max_entries=64)
def summary(arch: str | mc.Spec) -> str:
    """model.summary() of a new model of `arch` (a name or a design), computed once per server."""
    return mc.summary(mc.build_model(arch))


def epoch_time(arch: str | mc.Spec, images: int) -> str:
    """About how long an epoch of `arch` on `images` training images takes here: a registry architecture's as
    measured on a 2-core CPU, a design's from its size and a rate timed on this server."""
    name = arch if isinstance(arch, str) else name_of(arch)
    if name != CUSTOM:
        return f"about {max(1, round(mc.ARCHS[name].epoch_seconds * images / 60_000))} s"
    return f"about {max(1, round(seconds_per_value() * mc.spec_cost(arch).activations * images))} s (±40 %)"


@st.cache_resource(show_spinner="Timing a few training steps on this server (once)…")
def seconds_per_value() -> float:
    """Seconds one training image takes per value its layers give (limits.Cost.activations), timed here on
    RATE_ARCH: in the registry an epoch's time follows those values within ~40 %, closer than FLOPs do (BatchNorm
    and activations are memory-bound)."""
    return workers.call(_time_steps)


def _time_steps() -> float:
    spec = mc.ARCHS[RATE_ARCH].spec
    x = np.random.default_rng(0).integers(0, 256, (8 * spec.batch_size, 28, 28), np.uint8)
    y = np.arange(len(x)) % 10
    model = mc.build_model(RATE_ARCH, seed=0)
    mc.train(model, (x[: spec.batch_size], y[: spec.batch_size]))  # traces the step
    start = time.perf_counter()
    mc.train(model, (x, y))
    return (time.perf_counter() - start) / len(x) / mc.spec_cost(spec).activations
