"""Page parts used on more than one page: the model card, grids of digits, charts, and a drawing's answer."""

from collections.abc import Callable

import cv2
import numpy as np
import plotly.graph_objects as go
import streamlit as st

import mnist_cnn as mc
from app import charts, keep, session
from mnist_cnn.memory import memory_params

UNSURE = 0.6  # below this confidence the answer is shown as a guess
WHY = "explain"  # the session-state key of the "Why?" switch
RIGHT, WRONG, PLAIN = (31, 111, 235), (214, 39, 40), (110, 110, 110)  # blue, red and grey frames
EVIDENCE_FOR, EVIDENCE_AGAINST = np.array([0.85, 0.1, 0.1]), np.array([0.15, 0.45, 1.0])  # red and blue


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
            f"- parameters: {model.count_params() - memory_params(model):,}\n- epochs trained: {epochs}\n"
            f"- test accuracy: {'not measured yet' if accuracy is None else f'{accuracy:.2%}'}"
            + (f"\n- memory: {n} taught drawing{'s' * (n != 1)}" if (n := mc.remembered(model)) else "")
        )
        keep.note()


def digit_grid(images, captions: list[str], frames: list[tuple[int, int, int]] | None = None, size: int = 84,
               alt: list[str] | None = None) -> None:
    """Digits in [0,1] (or uint8), enlarged to `size` px with sharp pixels, each framed in an (r, g, b) colour."""
    frames = frames or [PLAIN] * len(images)
    st.image([framed(i, f, size) for i, f in zip(images, frames, strict=True)], caption=list(captions), alt=alt)


def framed(image: np.ndarray, colour: tuple[int, int, int], size: int, border: int = 4) -> np.ndarray:
    """A grey or RGB picture in [0,1] (or uint8), enlarged with sharp pixels, in a frame of `colour`."""
    image = np.asarray(image)
    pixels = image / 255 if image.dtype == np.uint8 else np.clip(image, 0, 1)
    scale = size / max(pixels.shape[:2])
    big = cv2.resize(pixels.astype(np.float32), None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
    tile = np.empty((big.shape[0] + 2 * border, big.shape[1] + 2 * border, 3), np.uint8)
    tile[:] = colour
    tile[border:-border, border:-border] = (big * 255).astype(np.uint8).reshape(*big.shape[:2], -1)
    return tile


def answer(image: np.ndarray | None, blank: str, key: str,
           under: Callable[[np.ndarray, np.ndarray], None] | None = None) -> np.ndarray | None:
    """The answer for a drawing or picture (uint8 grey, RGB or RGBA): the digit, its confidence, all ten
    probabilities and the preprocessing stages; the `blank` prompt and empty bars if there is no ink.
    `under(read, proba)` draws right below the headline (the corrections: near the canvas on a phone, where the rest
    is further down). Returns what the model read (28x28 in [0, 1]), or None."""
    stages = None if image is None else mc.canvas_stages(image)
    # the same containers either way: the chart (and plotly.js) is there from the first render, and an answer
    # updates them in place rather than adding and removing elements, measured faster (BENCHMARKS.md)
    head, below, bars, steps = st.container(), st.container(), st.container(), st.container()
    proba = np.zeros(mc.NUM_CLASSES) if stages is None else mc.predict_proba(session.model(), stages.centred[None])[0]
    with bars:
        chart(charts.probabilities(proba), key=f"{key}_proba")
    if stages is None:
        head.info(blank, icon=":material/edit:")
        return None
    ranked = proba.argsort()[::-1]
    digit, confidence = int(ranked[0]), float(proba[ranked[0]])
    if question := mc.convention_question(proba):
        head.markdown(f"### A **{question[0]}** or a **{question[1]}**?")
        head.caption(f"Writers draw these two differently: {question[0]} ({proba[question[0]]:.0%}) or "
                     f"{question[1]} ({proba[question[1]]:.0%}). Tap the one you meant, and the model reads your "
                     "hand that way from the next drawing on.")
    elif confidence >= UNSURE:
        head.markdown(f"### It's a **{digit}** ({confidence:.0%} sure)")
    else:
        head.markdown(f"### Maybe a **{digit}**?")
        head.warning(
            f"The model is unsure: {digit} ({confidence:.0%}) or {ranked[1]} ({proba[ranked[1]]:.0%}). "
            "Try a bigger, clearer digit.",
            icon=":material/help:",
        )
    pictures = [stages.crop, stages.box, stages.centred]
    captions, alt = ["crop", "20x20", "28x28 (the model's input)"], ["crop", "box", "model input"]
    steps_said = "the ink's bounding box, fitted into 20x20, centred by its centre of mass in 28x28."
    if stages.photo:  # two more steps, only for a picture read as a photo: a drawing's stay as they were
        pictures, captions = [stages.flattened, stages.ink, *pictures], ["background removed", "ink found", *captions]
        alt = ["background removed", "ink found", *alt]
        steps_said = f"the photo with its light, shadows and printed lines taken out, the digit's ink, {steps_said}"
        if stages.sheet is not None:  # a sheet on a desk: the sheet found first, then the steps on it alone
            pictures, captions, alt = [stages.sheet, *pictures], ["the sheet found", *captions], ["sheet", *alt]
            steps_said = f"the sheet found on the desk (outlined), read alone: {steps_said}"
    with steps:
        st.caption(f"What the model sees, step by step: {steps_said}")
        digit_grid(pictures, captions, size=140, alt=alt)
    if under:
        with below:
            under(stages.centred, proba)
    return stages.centred


def why(image: np.ndarray | None) -> None:
    """When the page's "Why?" switch is on, the explanation of the session model's answer for `image` (28x28 in
    [0, 1])."""
    if st.session_state.get(WHY) and image is not None:
        explanation(*session.explain(image), image)


def why_switch() -> None:
    """The "Why?" switch, kept out of the part a stroke reruns: an element more there cost the load test's p95
    ~11 % (BENCHMARKS.md)."""
    st.toggle("Why? Explain each answer", key=WHY,
              help="what the model looked at, the training images it compares yours to, and what each layer sees")


def explanation(explained: mc.Explanation, train_images: np.ndarray | None, image: np.ndarray) -> None:
    """Why the model answered as it did: the evidence in the pixels for the answer and the runner-up, the training
    images it reads the drawing like, and what each convolution block sees."""
    st.markdown("**What the model looked at**: red pixels pushed towards the digit, blue ones away from it.")
    digit_grid(
        [_evidence(image, explained.attribution), _evidence(image, explained.runner_up_attribution)],
        [f"evidence for {explained.target} ({explained.proba[explained.target]:.0%})",
         f"evidence for {explained.runner_up} ({explained.proba[explained.runner_up]:.0%})"],
        size=168, alt=[f"evidence for {explained.target}", f"evidence for {explained.runner_up}"],
    )
    if explained.neighbours is None or train_images is None:
        st.caption("The nearest training images need the MNIST data, which this server does not have.")
    else:
        near = explained.neighbours
        st.markdown("**It reads this like these training images**: the nearest in what the model has learned "
                    "(with their distance).")
        captions = [f"a {label} · {distance:.1f}" for label, distance in zip(near.labels, near.distances, strict=True)]
        digit_grid(train_images[near.indices], captions, alt=[f"neighbour: a {label}" for label in near.labels])
    st.markdown("**What each convolution block sees** (every feature map, brighter where it fires):")
    for name, maps in explained.activations:
        st.image(_mosaic(maps), caption=name, clamp=True, alt=f"feature maps of {name}")


def _evidence(image: np.ndarray, attribution: np.ndarray) -> np.ndarray:
    """The digit in grey, with the attribution over it: red where it is evidence for the digit, blue against."""
    scale = float(np.percentile(np.abs(attribution), 99)) or 1.0  # a few extreme pixels would wash out the rest
    weight = np.clip(np.abs(attribution) / scale, 0, 1)[..., None]
    colour = np.where(attribution[..., None] > 0, EVIDENCE_FOR, EVIDENCE_AGAINST)
    grey = 0.15 + 0.6 * np.clip(image, 0, 1)[..., None] * np.ones(3)
    return grey * (1 - weight) + colour * weight


def _mosaic(maps: np.ndarray, columns: int = 16, cell: int = 28) -> np.ndarray:
    """(H, W, C) feature maps side by side, each scaled to its own maximum and enlarged to `cell` pixels."""
    peak = maps.max(axis=(0, 1), keepdims=True)
    tiles = np.where(peak > 0, maps / np.where(peak > 0, peak, 1), 0)
    tiles = np.moveaxis(tiles, -1, 0)
    rows = -(-len(tiles) // columns)
    grid = np.full((rows * (cell + 2), columns * (cell + 2)), 0.25, np.float32)  # grey gaps between maps
    for i, tile in enumerate(tiles):
        r, c = divmod(i, columns)
        grid[r * (cell + 2) + 1 : r * (cell + 2) + 1 + cell, c * (cell + 2) + 1 : c * (cell + 2) + 1 + cell] = (
            cv2.resize(tile.astype(np.float32), (cell, cell), interpolation=cv2.INTER_NEAREST))
    return grid
