"""mnist_cnn in the browser: this script only routes to the pages."""

import streamlit as st

st.set_page_config(page_title="mnist_cnn", page_icon=":material/draw:", layout="wide")
st.navigation(
    [
        st.Page("pages/canvas.py", title="Draw a digit", icon=":material/draw:", default=True),
        st.Page("pages/training.py", title="Train", icon=":material/model_training:"),
        st.Page("pages/gallery.py", title="Gallery", icon=":material/grid_view:"),
        st.Page("pages/data.py", title="Data", icon=":material/dataset:"),
    ]
).run()
