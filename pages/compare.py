"""This session's runs side by side: a table, their curves and per-digit accuracy overlaid, what one gets wrong
that another gets right; any run made the session's model again, renamed, deleted, downloaded with its code."""

import pandas as pd
import streamlit as st

import mnist_cnn as mc
from app import charts, dataset, runs, runtime, session, widgets
from mnist_cnn.runs import MAX_RUN_BYTES, MAX_RUNS

runtime.through_entry_script()

NOTICE, UPLOAD_ERROR = "compare_notice", "runs_upload_error"
SHOWN = 48  # images A gets wrong and B right, at most


def take_upload() -> None:
    """on_change of the runs uploader: the file's runs join the session's, or the reason they cannot."""
    file = st.session_state.runs_upload
    if file is None:
        return
    try:
        st.session_state[NOTICE] = runs.add(runs.read_file(file.getvalue(), file.name))
    except (mc.ModelFileError, ValueError) as e:
        st.session_state[UPLOAD_ERROR] = str(e)
    finally:
        runtime.forget_upload(file.file_id)


state = st.session_state
st.title("Compare runs")
st.caption(f"Every training on the Train page is a run: its design and settings, its curves, its test results and "
           f"the model itself. This session keeps up to {MAX_RUNS} ({MAX_RUN_BYTES // 2**20} MB); training past "
           f"that replaces the oldest, so download the ones to keep.")
if message := state.pop(NOTICE, None):
    st.success(message, icon=":material/check:")
kept = runs.kept()

with st.expander("Download or upload runs", expanded=not kept):
    left, right = st.columns(2)
    left.download_button(
        "Download all runs (.zip)", data=lambda: mc.save_runs(kept), file_name="mnist_cnn-runs.zip",
        mime="application/zip", key="runs_download", on_click="ignore", icon=":material/download:", disabled=not kept,
    )
    right.file_uploader("Upload a runs file", type=["zip"], key="runs_upload", on_change=take_upload)
    if error := state.pop(UPLOAD_ERROR, None):
        st.error(error, icon=":material/error:")

if not kept:
    st.info("No runs yet. Train a model on the Train page: each training is kept here as a run. Train another, with "
            "other settings or another architecture, to lay them side by side.", icon=":material/model_training:")
    st.page_link("pages/training.py", label="Train a model", icon=":material/model_training:")
    st.stop()

by_id = {run.id: run for run in kept}
st.dataframe(
    pd.DataFrame([{
        "name": r.name, "architecture": r.architecture, "params": r.params, "epochs": r.hyper.get("epochs"),
        "batch": r.hyper.get("batch_size"), "lr": r.hyper.get("learning_rate"),
        "val split": r.hyper.get("validation_split"), "seed": r.hyper.get("seed"), "test acc": r.test_accuracy,
        "epoch s": r.epoch_seconds, "when": pd.Timestamp(r.when).tz_convert(None),
    } for r in kept]),
    hide_index=True, key="runs_table", width="stretch",
    column_config={
        "params": st.column_config.NumberColumn(format="localized"),
        "lr": st.column_config.NumberColumn(format="%.5g"),
        "val split": st.column_config.NumberColumn(format="percent"),
        "test acc": st.column_config.NumberColumn(format="percent", help="on the 10,000 test images"),
        "epoch s": st.column_config.NumberColumn(format="%.1f", help="seconds an epoch took to train here"),
        "when": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm:ss", help="UTC"),
    },
)

picked = st.multiselect("Runs to compare", list(by_id), default=list(by_id)[-3:], key="compare_runs",
                        format_func=lambda i: by_id[i].name)
if picked:
    smoothing = st.slider("Smoothing", 0.0, 0.95, 0.0, 0.05, key="compare_smoothing",
                          help="an exponential moving average over the epochs, as TensorBoard smooths")
    widgets.chart(charts.runs_curves({by_id[i].name: by_id[i].history for i in picked}, smoothing))
    st.caption("Solid: validation, after each epoch; dashed: the test images. A design with label smoothing has a "
               "higher validation loss by construction: compare losses between runs of the same loss.")
    widgets.chart(charts.runs_per_digit({by_id[i].name: by_id[i].per_digit for i in picked}))

with st.container(border=True):
    chosen = st.selectbox("A run", list(by_id), index=len(by_id) - 1, key="run_pick",
                          format_func=lambda i: by_id[i].name)
    run = by_id[chosen]
    cols = st.columns(4)
    if cols[0].button("Make this the session's model", key="run_restore", icon=":material/restore:", type="primary"):
        try:
            with st.spinner(f"Loading `{run.name}`…"):
                runs.restore(run.id)
        except session.ServerFull as e:
            st.error(str(e), icon=":material/hourglass_disabled:")
        else:
            state[NOTICE] = f"`{run.name}` is the session's model again: the Train page goes on training it."
            st.rerun()
    if run.spec is not None:
        cols[1].download_button("Get the code", data=lambda: runs.code(run), file_name=f"train_{run.architecture}.py",
                                mime="text/x-python", key="run_code", on_click="ignore", icon=":material/code:",
                                help="a standalone Keras script that trains this design with these settings")
    cols[2].download_button("Download its model (.keras)", data=lambda: run.weights, file_name=f"{run.name}.keras",
                            mime="application/zip", key="run_model", on_click="ignore", icon=":material/download:")
    if cols[3].button("Delete", key="run_delete", icon=":material/delete:"):
        runs.delete(run.id)
        state[NOTICE] = f"Deleted `{run.name}`."
        st.rerun()
    with st.form("run_rename", border=False):
        left, right = st.columns([3, 1], vertical_alignment="bottom")
        name = left.text_input("Name", run.name, key=f"run_name_{run.id}")
        if right.form_submit_button("Rename", icon=":material/edit:"):
            try:
                runs.rename(run.id, name)
            except ValueError as e:
                st.error(str(e), icon=":material/error:")
            else:
                st.rerun()
    if run.spec is None:
        st.caption("This run's model came from elsewhere, without a design: there is no code to write out for it.")

st.subheader("What A gets wrong that B gets right")
if len(kept) < 2:
    st.info("Train or upload a second run to see what one gets wrong that the other gets right.",
            icon=":material/compare:")
    st.stop()
ids = list(by_id)
left, right = st.columns(2)
a = left.selectbox("A", ids, index=len(ids) - 2, key="compare_a", format_func=lambda i: by_id[i].name)
b = right.selectbox("B", ids, index=len(ids) - 1, key="compare_b", format_func=lambda i: by_id[i].name)
_, (x_test, y_test) = dataset.mnist_or_stop()
a_digits, b_digits = runs.cached_predictions(by_id[a]), runs.cached_predictions(by_id[b])
if a_digits is None or b_digits is None:  # a run from a file: its model reads the test images once, when asked
    if not st.button("Compare them", key="compare_read", icon=":material/compare:",
                     help="each run's model reads the 10,000 test images once (a few seconds)"):
        st.stop()
    a_digits, b_digits = runs.predictions(by_id[a]), runs.predictions(by_id[b])
only_a = mc.disagreements(a_digits, b_digits, y_test)
st.markdown(f"`{by_id[a].name}` gets **{len(only_a):,}** test images wrong that `{by_id[b].name}` gets right, and "
            f"`{by_id[b].name}` **{len(mc.disagreements(b_digits, a_digits, y_test)):,}** that `{by_id[a].name}` "
            "gets right.")
if len(only_a):
    shown = only_a[:SHOWN]
    st.caption(f"The first {len(shown)} in test-set order. Captions: A's answer · B's (right) answer.")
    widgets.digit_grid(x_test[shown], [f"A {a_digits[i]} · B {b_digits[i]}" for i in shown],
                       frames=[widgets.WRONG] * len(shown), alt=[f"A wrong: test image {i}" for i in shown])
