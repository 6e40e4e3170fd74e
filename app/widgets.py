"""Page parts used on more than one page: the model card, grids of digits, charts, and a drawing's answer."""

import cv2
import numpy as np
import plotly.graph_objects as go
import streamlit as st

import mnist_cnn as mc
from app import charts, session

UNSURE = 0.6  # below this confidence the answer is shown as a guess
RIGHT, WRONG, PLAIN = (31, 111, 235), (214, 39, 40), (110, 110, 110)  # blue, red and grey frames


def chart(fig: go.Figure, **kwargs) -> None:
    """A Plotly figure from charts, without the toolbar."""
    st.plotly_chart(fig, config=charts.CONFIG, **kwargs)


def model_card() -> None:
    """The session's model in the sidebar: architecture, size, epochs, test accuracy, origin."""
    model, state = session.model(), st.session_state
    log = mc.training_log(model)
    if session.is_shipped():
        accuracy = mc.shipped_record().get("test_accuracy")
    elif state.evaluation is not None:
        accuracy = state.evaluation.accuracy
    else:
        accuracy = log[-1].get("test_accuracy") if log else None
    epochs = f"{len(log)}"
    if log and "partial" in log[-1]:
        epochs += f" (the last stopped at {log[-1]['partial']:.0%})"
    with st.sidebar.container(border=True, key="model_card"):
        st.markdown(f"**Model: `{model.name}`**  \n{state.origin}")
        st.markdown(
            f"- parameters: {model.count_params():,}\n- epochs trained: {epochs}\n"
            f"- test accuracy: {'not measured yet' if accuracy is None else f'{accuracy:.2%}'}"
        )


def digit_grid(images, captions: list[str], frames: list[tuple[int, int, int]] | None = None, size: int = 84,
               alt: list[str] | None = None) -> None:
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


def answer(image: np.ndarray | None, blank: str, key: str) -> None:
    """The answer for a drawing or picture (uint8 grey, RGB or RGBA): the digit, its confidence, all ten
    probabilities and the preprocessing stages; the `blank` prompt and empty bars if there is no ink."""
    stages = None if image is None else mc.canvas_stages(image)
    # the same containers either way: the chart (and plotly.js) is there from the first render, and an answer
    # updates them in place rather than adding and removing elements, measured faster (BENCHMARKS.md)
    head, bars, steps = st.container(), st.container(), st.container()
    proba = np.zeros(mc.NUM_CLASSES) if stages is None else mc.predict_proba(session.model(), stages.centred[None])[0]
    with bars:
        chart(charts.probabilities(proba), key=f"{key}_proba")
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
        digit_grid([stages.crop, stages.box, stages.centred], ["crop", "20x20", "28x28 (the model's input)"],
                   size=140, alt=["crop", "box", "model input"])
