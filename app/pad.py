"""The drawing pad: the canvas with Undo and Clear buttons of the page's own, which phones show too (the canvas'
toolbar appears on hover, and a phone has none)."""

import numpy as np
import streamlit as st
from streamlit_drawable_canvas import st_canvas

SIZE = 280  # px: fits a 360 px phone screen beside Streamlit's margins
KEY = "canvas"  # also how the browser tests find it (.st-key-canvas)
START, STROKES = "pad_start", "pad_strokes"  # session-state keys: the drawing the canvas starts from; its strokes


def draw(stroke_width: int) -> np.ndarray | None:
    """The canvas (white ink on black) and its Undo and Clear buttons; returns the drawing as RGBA, or None."""
    state = st.session_state
    if KEY not in state:  # the canvas is new on the page (first visit, or back from another page): start blank
        state.pop(START, None)
    canvas = st_canvas(
        stroke_width=stroke_width, stroke_color="#FFFFFF", background_color="#000000", width=SIZE, height=SIZE,
        drawing_mode="freedraw", initial_drawing=state.get(START), return_image_data=True, key=KEY,
    )
    state[STROKES] = (canvas.json_data or {}).get("objects", [])
    strokes = len(state[STROKES])
    with st.container(horizontal=True, key="pad_buttons"):
        st.button("Undo", icon=":material/undo:", key="undo", on_click=_start_from, args=(-1,), disabled=not strokes)
        st.button("Clear", icon=":material/delete:", key="clear", on_click=clear, disabled=not strokes)
    return canvas.image_data


def clear() -> None:
    """Empty the canvas (also after its drawing joined the visitor's set)."""
    _start_from(0)


def _start_from(end: int) -> None:
    """Redraw the canvas with its strokes up to `end` (a slice end: -1 drops the last, 0 keeps none).

    The canvas (>= 0.12) redraws when `initial_drawing` changes and sends the new drawing back, so the answer
    follows; `redrawn` makes each request differ, or a second Clear would look like the first and be ignored.
    """
    state = st.session_state
    redrawn = (state.get(START) or {}).get("redrawn", 0) + 1
    state[START] = {"objects": state.get(STROKES, [])[:end], "redrawn": redrawn}
