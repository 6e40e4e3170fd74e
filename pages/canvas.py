"""Draw a digit, or upload a picture of one, see what the model makes of it, and teach it your handwriting."""

import streamlit as st

import mnist_cnn as mc
from app import pad, runtime, teaching, uploads, widgets

runtime.through_entry_script()

st.title("Draw a digit")
teaching.setup()
widgets.why_switch()
draw, upload = st.tabs(["Draw", "Upload a picture"])


@st.fragment
def drawing():
    """The canvas and its answer: a stroke reruns this part alone, not the whole page."""
    left, right = st.columns([1, 1.4])
    with left:
        width = st.slider("Stroke width", 6, 40, 20, key="stroke_width")
        image = pad.draw(width)
    with right:
        seen = widgets.answer(image, "Draw a digit on the black canvas to see the model's answer.", "draw",
                              under=teaching.correction("draw", then=pad.clear))
    widgets.why(seen)  # after the answer, which never waits for it


with draw:
    drawing()

with upload:
    file = st.file_uploader("A picture of one digit: dark on light paper or light on dark",
                            type=uploads.PICTURE_TYPES, key="digit_upload")
    image = None
    if file is not None:
        try:
            image = uploads.picture(file)
        except mc.ImageError as e:
            st.error(str(e), icon=":material/broken_image:")
    if file is None or image is not None:
        blank = "Upload a PNG or JPEG of a digit." if file is None else "No digit found: the picture looks blank."
        widgets.why(widgets.answer(image, blank, "upload", under=teaching.correction("upload")))

st.divider()
teaching.panel()
