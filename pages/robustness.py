"""How robust is the session's model: its test accuracy as digits are rotated, shifted, shrunk, thickened, made
noisy, blurred or partly covered, level by level; a preview shows one digit under each."""

import streamlit as st

from app import robustness, runtime, session

runtime.through_entry_script()

st.title("How robust is it?")
st.caption("A model that reads clean test digits almost perfectly can still fail on digits drawn a little "
           "differently. Each chart follows one change, from none to a lot.")
# label -> (a key that changes with the weights, a function giving the model); the runs compared join it here, e.g.
# {run.name: (f"run {run.id}", <a function restoring the run's model>)} for each run picked (app/runs.py)
models = {f"this session's model ({session.model().name})": (robustness.session_key(), session.model)}
robustness.show(models)
