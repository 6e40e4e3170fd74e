"""What the pages share: the session's model and the data, the model card, digit grids and charts.

The shipped model is loaded once per server and never changed; a session uses it until the visitor trains,
resets or uploads, and from then on has a model of its own in st.session_state.
"""

import concurrent.futures
import contextlib
import ctypes
import gc
import os
import queue
import threading

import cv2
import numpy as np
import plotly.graph_objects as go
import streamlit as st
import streamlit.runtime.scriptrunner.script_runner as script_runner
from plotly.subplots import make_subplots

import mnist_cnn as mc

SUBSET_VAR = "MNIST_CNN_TRAIN_SUBSET"  # train on the first N training images (tests, small machines)
MAX_UPLOAD_MB = 20  # the same as server.maxUploadSize in .streamlit/config.toml
MAX_EPOCHS = 20  # per click, so one visitor cannot hold a CPU for hours
UNSURE = 0.6  # below this confidence the answer is shown as a guess
WORKERS = os.cpu_count() or 1  # threads that train and evaluate, shared by all sessions
RIGHT, WRONG, PLAIN = (31, 111, 235), (214, 39, 40), (110, 110, 110)  # blue, red, grey frames
BLUE, RED = "#1f6feb", "#d62728"

# Streamlit calls keras.backend.clear_session() after every script run, a cure for Keras 1's graph sessions. In
# Keras 3 it throws TensorFlow's kernel cache away (the next drawing takes 20 ms to predict, not 2), from under
# other sessions' training too, and runs a full garbage collection each time: not wanted here
script_runner._clean_problem_modules = lambda: None


# ---- data and models ----


@st.cache_resource(show_spinner="Loading the shipped model…")
def shipped_model():
    model = mc.load_model()
    # TensorFlow, Keras and this model are ~400k objects that live as long as the server, and Streamlit runs a
    # full garbage collection after every script run: frozen, they are not scanned, and it takes ~0 ms, not
    # ~200 ms with the GIL held
    gc.collect()
    gc.freeze()
    return model


@st.cache_resource(show_spinner="Loading MNIST…")
def _mnist(path):
    data = mc.load_mnist(path)
    for array in (*data[0], *data[1]):
        array.flags.writeable = False  # shared by every session
    return data


def mnist_or_stop():
    """((x_train, y_train), (x_test, y_test)); if MNIST cannot be loaded, say why and how to fix it, and stop."""
    try:
        return _mnist(os.environ.get("MNIST_NPZ"))
    except mc.DataError as e:
        st.error(f"MNIST could not be loaded: {e}", icon=":material/cloud_off:")
        st.info(
            "This page needs the MNIST data. Keras downloads it on first use, which needs internet access; "
            "offline, put `mnist.npz` (keras' layout) on this machine and start the app with "
            "`MNIST_NPZ=/path/to/mnist.npz streamlit run streamlit_app.py`. "
            "Drawing digits works without it."
        )
        st.page_link("pages/canvas.py", label="Draw a digit", icon=":material/draw:")
        st.stop()


def training_subset():
    """How many training images the app trains on: $MNIST_CNN_TRAIN_SUBSET, else all."""
    subset = os.environ.get(SUBSET_VAR)
    return int(subset) if subset else None


@st.cache_resource(show_spinner="Classifying the 10,000 test images…")
def _shipped_evaluation(path):
    _, (x_test, y_test) = _mnist(path)
    return mc.evaluate(shipped_model(), x_test, y_test)


def session_model():
    state = st.session_state
    if "model" not in state:
        set_model(shipped_model(), "the shipped model")
    return state.model


def set_model(model, origin):
    """Make `model` this session's model; `origin` says where it came from."""
    state = st.session_state
    state.model, state.origin, state.evaluation = model, origin, None
    state.model_id = state.get("model_id", 0) + 1  # widgets keyed on it start from the new model's settings
    state.curve = {"epoch": [], "loss": [], "accuracy": []}  # per-batch training curve, this session only


def own_model():
    """The session's model, first copied if it is the shared shipped one, ready to be changed."""
    if st.session_state.model is shipped_model():
        with st.spinner("Copying the shipped model for this session…"):
            set_model(mc.copy_model(shipped_model()), "the shipped model, trained further in this session")
    st.session_state.evaluation = None  # its weights are about to change
    return st.session_state.model


@st.cache_resource
def workers():
    """The threads that train and evaluate for every session, one per core, for as long as the server runs.

    Not the script run's own thread: glibc gives threads heaps of their own (up to 8 a core) and each heap keeps
    the most its threads ever used, so with a new thread for every run the server grew ~30 MB a training
    session. And a busy server runs one training per core at a time, not one per visitor.
    """
    return concurrent.futures.ThreadPoolExecutor(WORKERS, thread_name_prefix="mnist-worker")


class _RunEnded(Exception):
    """The script run that was showing a training has ended (a rerun, Stop, another page)."""


def train(model, show, **kwargs):
    """mc.train(model, **kwargs) on a worker; show(progress) is called here, in the script run, as it goes.

    When this run ends early (Streamlit raises a rerun or stop in show's st calls), the training stops after
    the batch under way, and this run waits for that: the model is whole again when the next run uses it.
    """
    news, ended = queue.SimpleQueue(), threading.Event()

    def relay(progress):  # on the worker
        if ended.is_set():
            raise _RunEnded
        news.put(progress)

    job = workers().submit(mc.train, model, callbacks=[mc.Progress(relay, curve=st.session_state.curve)], **kwargs)
    notice = st.empty()
    if not job.running():
        notice.info("Other visitors are training: yours starts as soon as a trainer is free.",
                    icon=":material/hourglass_top:")
    try:
        while not (job.done() and news.empty()):
            with contextlib.suppress(queue.Empty):
                show(news.get(timeout=0.1))
                notice.empty()
        return job.result()
    finally:
        ended.set()
        concurrent.futures.wait([job])


def release_memory():
    """Hand the heap that training and evaluation freed back to the system (glibc keeps it otherwise)."""
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to do
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def test_evaluation():
    """The session model on the 10k test images, computed once per model state."""
    state = st.session_state
    model = session_model()
    if model is shipped_model():
        return _shipped_evaluation(os.environ.get("MNIST_NPZ"))
    if state.evaluation is None:
        _, (x_test, y_test) = mnist_or_stop()
        with st.spinner("Classifying the 10,000 test images…"):
            state.evaluation = workers().submit(mc.evaluate, model, x_test, y_test).result()
        release_memory()
    return state.evaluation


def too_big(file):
    """A message if an uploaded file is over the size limit, else None."""
    if file.size > MAX_UPLOAD_MB * 2**20:
        return f"{file.name} is {file.size / 2**20:.1f} MB; the limit is {MAX_UPLOAD_MB} MB."
    return None


def load_uploaded_model():
    """on_change of the model uploader: the file becomes the session's model, or the reason it cannot."""
    file = st.session_state.model_upload
    if file is None:
        return
    try:
        if message := too_big(file):
            raise mc.ModelFileError(message)
        set_model(mc.load_model(file.getvalue()), f"uploaded: {file.name}")
    except mc.ModelFileError as e:
        st.session_state.upload_error = str(e)


@st.cache_data(show_spinner=False)
def arch_summary(arch):
    return mc.summary(mc.build_model(arch))


# ---- the model card ----


def model_card():
    """The session's model in the sidebar: architecture, size, epochs, test accuracy, origin."""
    model, state = session_model(), st.session_state
    log = mc.training_log(model)
    tested = [r["test_accuracy"] for r in log if "test_accuracy" in r]
    if model is shipped_model():
        accuracy = mc.shipped_record().get("test_accuracy")
    elif state.evaluation is not None:
        accuracy = state.evaluation.accuracy
    else:
        accuracy = tested[-1] if tested and "test_accuracy" in log[-1] else None
    epochs = f"{len(log)}"
    if log and "partial" in log[-1]:
        epochs += f" (the last stopped at {log[-1]['partial']:.0%})"
    with st.sidebar.container(border=True, key="model_card"):
        st.markdown(f"**Model: `{model.name}`**  \n{state.origin}")
        st.markdown(
            f"- parameters: {model.count_params():,}\n- epochs trained: {epochs}\n"
            f"- test accuracy: {'not measured yet' if accuracy is None else f'{accuracy:.2%}'}"
        )


# ---- pictures and charts ----


def show_prediction(image, blank, key):
    """The answer for a drawing or picture (uint8 grey, RGB or RGBA): the digit, its confidence, all ten
    probabilities and the preprocessing stages; a prompt and empty bars if `image` is None or blank."""
    stages = None if image is None else mc.canvas_stages(image)
    # the same containers either way: the chart (and plotly.js) is there from the first render, and an answer
    # updates them in place rather than adding and removing elements, measured faster (BENCHMARKS.md)
    head, chart, steps = st.container(), st.container(), st.container()
    proba = np.zeros(10) if stages is None else mc.predict_proba(session_model(), stages.centred[None])[0]
    with chart:
        probability_chart(proba, key=f"{key}_proba")
    if stages is None:
        head.info(blank, icon=":material/edit:")
        return
    ranked = proba.argsort()[::-1]
    digit, confidence = int(ranked[0]), float(proba[ranked[0]])
    if confidence >= UNSURE:
        head.markdown(f"### It's a **{digit}** ({confidence:.0%} sure)")
    else:
        head.markdown(f"### Maybe a **{digit}**?")
        head.warning(
            f"The model is unsure: {digit} ({confidence:.0%}) or {ranked[1]} ({proba[ranked[1]]:.0%}). "
            "Try a bigger, clearer digit.",
            icon=":material/help:",
        )
    with steps:
        st.caption("What the model sees, step by step: the ink's bounding box, fitted into 20x20, "
                   "centred by its centre of mass in 28x28.")
        digit_grid(
            [stages.crop, stages.box, stages.centred], ["crop", "20x20", "28x28 (the model's input)"], size=140,
            alt=["crop", "box", "model input"],
        )


def digit_grid(images, captions, frames=None, size=84, alt=None):
    """Digits in [0,1] (or uint8), enlarged to `size` px with sharp pixels, each framed in an (r, g, b) colour."""
    frames = frames or [PLAIN] * len(images)
    st.image([_framed(i, f, size) for i, f in zip(images, frames, strict=True)], caption=list(captions), alt=alt)


def _framed(image, colour, size, border=4):
    image = np.asarray(image)
    grey = image / 255 if image.dtype == np.uint8 else np.clip(image, 0, 1)
    scale = size / max(grey.shape)
    big = cv2.resize(grey.astype(np.float32), None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
    tile = np.empty((big.shape[0] + 2 * border, big.shape[1] + 2 * border, 3), np.uint8)
    tile[:] = colour
    tile[border:-border, border:-border] = (big * 255).astype(np.uint8)[..., None]
    return tile


def probability_chart(proba, key):
    """Ten bars, one per digit, the most likely one highlighted."""
    best = int(np.argmax(proba)) if proba.any() else None
    fig = go.Figure(
        go.Bar(
            x=list(range(10)),
            y=proba,
            marker_color=[BLUE if d == best else "#9db7d8" for d in range(10)],
            text=[f"{p:.0%}" if p >= 0.01 else "" for p in proba],
            textposition="outside",
        )
    )
    fig.update_layout(
        height=260, margin=dict(l=10, r=10, t=10, b=10), xaxis=dict(tickmode="linear", title="digit"),
        yaxis=dict(range=[0, 1.15], tickformat=".0%", title="probability"),
    )
    st.plotly_chart(fig, key=key, config={"displayModeBar": False})


def training_chart(log, curve):
    """Loss and accuracy: training per batch (smoothed) and per epoch, validation per epoch, test accuracy."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Loss", "Accuracy"))
    lines = [
        ("training (per batch, smoothed)", "", BLUE, "lines"),
        ("training (epoch)", "", "#7aa7e9", "markers"),
        ("validation", "val_", "#ff7f0e", "lines+markers"),
        ("test", "test_", "#2ca02c", "lines+markers"),
    ]
    for col, metric in ((1, "loss"), (2, "accuracy")):
        for name, prefix, colour, mode in lines:
            if name.endswith("smoothed)"):
                x, y = curve["epoch"], curve[metric]
            elif prefix == "test_" and metric == "loss":
                continue  # the test loss has no label smoothing: not comparable with the others
            else:
                points = [(r["epoch"] - (1 - r.get("partial", 1)), r[prefix + metric]) for r in log
                          if prefix + metric in r]
                x, y = zip(*points, strict=True) if points else ((), ())
            if len(x):
                fig.add_trace(go.Scatter(x=x, y=y, name=name, mode=mode, line=dict(color=colour),
                                         legendgroup=name, showlegend=col == 1 or prefix == "test_"), 1, col)
    fig.update_xaxes(title_text="epoch", rangemode="tozero")
    fig.update_yaxes(tickformat=".1%", row=1, col=2)
    fig.update_layout(height=340, margin=dict(l=10, r=10, t=40, b=10), legend=dict(orientation="h", y=-0.25))
    return fig
