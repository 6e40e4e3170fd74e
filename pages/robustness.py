"""How robust is the session's model: its test accuracy as digits are rotated, shifted, shrunk, thickened, made
noisy, blurred or partly covered, level by level; a preview shows one digit under each."""

import streamlit as st

from app import robustness, runs, runtime, session
from mnist_cnn import runs as core_runs

runtime.through_entry_script()

st.title("How robust is it?")
st.caption("A model that reads clean test digits almost perfectly can still fail on digits drawn a little "
           "differently. Each chart follows one change, from none to a lot.")
# label -> (a key that changes with the weights, a function giving the model)
models = {f"this session's model ({session.model().name})": (robustness.session_key(), session.model)}
by_id = {run.id: run for run in runs.kept()}
for run_id in st.multiselect("Runs to compare with it (the Compare page's)", list(by_id), key="robustness_runs",
                             format_func=lambda i: by_id[i].name):
    run = by_id[run_id]
    models[f"run {run.name}"] = (f"run {run.id} at {run.when}", lambda run=run: core_runs.restore(run))
robustness.show(models)
