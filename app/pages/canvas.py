"""Draw a digit, or upload a picture of one, and see what the model makes of it."""

import streamlit as st
from streamlit_drawable_canvas import st_canvas

import mnist_cnn as mc
from app import uploads, widgets

st.title("Draw a digit")
widgets.why_switch()
draw, upload = st.tabs(["Draw", "Upload a picture"])


@st.fragment
def drawing():
    """The canvas and its answer: a stroke reruns this part alone, not the whole page."""
    left, right = st.columns([1, 1.4])
    with left:
        width = st.slider("Stroke width", 6, 40, 20, key="stroke_width")
        canvas = st_canvas(
            stroke_width=width, stroke_color="#FFFFFF", background_color="#000000", width=280, height=280,
            drawing_mode="freedraw", return_image_data=True, key="canvas",
        )
        st.caption("Draw one digit, big, in white. Undo and clear are in the canvas toolbar.")
    with right:
        seen = widgets.answer(canvas.image_data, "Draw a digit on the black canvas to see the model's answer.", "draw")
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
        widgets.why(widgets.answer(image, blank, "upload"))
