"""The architectures as the Train page describes them: a summary of each, and the time an epoch takes.

Kept out of the page script: a cached function keeps its module's globals alive, and a page's hold the session's
model (tests/test_sessions.py).
"""

import streamlit as st

import mnist_cnn as mc


@st.cache_data(show_spinner=False)
def summary(arch: str) -> str:
    """model.summary() of a new model of `arch`, computed once per server."""
    return mc.summary(mc.build_model(arch))


def epoch_time(arch: str, images: int) -> str:
    """About how long an epoch of `arch` on `images` training images takes on a 2-core CPU."""
    return f"about {max(1, round(mc.ARCHS[arch].epoch_seconds * images / 60_000))} s"
