"""mnist_cnn in the browser: this script sets the app up, shows the session's model and routes to the pages."""

import streamlit as st

from app import keep, runtime, session, widgets

st.set_page_config(page_title="mnist_cnn", page_icon=":material/draw:", layout="wide")
runtime.apply()  # before TensorFlow runs anything: its thread pools are sized once
keep.restore()  # a reload's new session gets the work its address names, before any page reads it
session.shipped_model()
session.free_ended_sessions()
page = st.navigation(
    [
        st.Page("pages/canvas.py", title="Draw a digit", icon=":material/draw:", default=True),
        st.Page("pages/training.py", title="Train", icon=":material/model_training:"),
        st.Page("pages/compare.py", title="Compare", icon=":material/compare:"),
        st.Page("pages/gallery.py", title="Gallery", icon=":material/grid_view:"),
        st.Page("pages/robustness.py", title="Robustness", icon=":material/shield:"),
        st.Page("pages/data.py", title="Data", icon=":material/dataset:"),
    ]
)
widgets.model_card()
page.run()
