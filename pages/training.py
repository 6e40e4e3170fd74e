"""Train this session's model epoch by epoch and watch loss and accuracy live; design a model of one's own."""

import secrets
import time

import streamlit as st

import mnist_cnn as mc
from app import archs, builder, charts, dataset, runs, runtime, session, uploads, widgets, workers

runtime.through_entry_script()

BATCH_SIZES = [32, 64, 128, 256, 512]
MAX_EPOCHS = 20  # per click, so one visitor cannot hold a CPU for hours
FIRST_ARCH = "default"  # what a newcomer trains: it learns visibly in one epoch of a few seconds


def start(arch: str | mc.Spec) -> None:
    """A new, untrained model of `arch` (a name or a design) becomes the session's model, or the page says the
    server is full."""
    seed = secrets.randbelow(10_000)  # recorded with its run, so its code repeats it
    try:
        session.set_model(mc.build_model(arch, seed=seed), "a new model, trained in this session")
    except session.ServerFull as e:
        st.error(str(e), icon=":material/hourglass_disabled:")
        return
    st.session_state.seed = seed
    st.rerun()


state = st.session_state
st.title("Train a CNN")
(x_train, y_train), test = dataset.mnist_or_stop()
x_train, y_train = x_train[: dataset.training_subset()], y_train[: dataset.training_subset()]
model = session.model()
spec = mc.spec_of(model)

# a run that ended while training was under way was interrupted: Stop, a page switch or another rerun
if state.pop("training", False):
    log = mc.training_log(model)
    where = f" at {log[-1]['partial']:.0%} of epoch {log[-1]['epoch']}" if log and "partial" in log[-1] else ""
    st.info(f"Training stopped{where}. The model keeps what it learned and can go on training.", icon=":material/stop:")
if message := state.pop("trained", None):
    st.success(message, icon=":material/check:")

validation_split = state.get("validation_split", 0.3)
images = round(len(x_train) * (1 - validation_split))
if session.is_shipped():
    with st.container(border=True):
        st.markdown(
            f"This is the shipped model, `{model.name}`: {mc.epochs_trained(model)} epochs, "
            f"{mc.shipped_record().get('test_accuracy', 0):.2%} on the test images. One more epoch barely moves it "
            f"and takes {archs.epoch_time(model.name, images)}. **To watch a model learn, start a new one**: "
            f"`{FIRST_ARCH}` reaches ~99 % in one epoch of {archs.epoch_time(FIRST_ARCH, images)}."
        )
        if st.button(f"Start a new `{FIRST_ARCH}` model", key="start_new", type="primary", icon=":material/add:"):
            start(FIRST_ARCH)
        st.caption("Or train the shipped model further with the buttons below: this session gets its own copy.")

with st.expander("Design a model", expanded=False):
    st.caption("Edit a registry architecture block by block, or build your own; a new model of the design "
               "replaces this session's model (its runs stay on the Compare page).")
    design = builder.design(images)
    left, mid, right = st.columns(3)
    if left.button("Start a new model of this design", key="reset", icon=":material/restart_alt:",
                   disabled=design is None, type="primary"):
        start(design)
    if design is not None:
        mid.download_button("Get the code", data=lambda: mc.export_script(design, epochs=int(state.get("epochs", 3)),
                            validation_split=validation_split, seed=0), file_name="mnist_cnn_design.py",
                            mime="text/x-python", key="design_code", on_click="ignore", icon=":material/code:",
                            help="a standalone Keras script that builds, trains and tests this design")
    if right.button("Back to the shipped model", key="shipped", disabled=session.is_shipped()):
        session.set_model(session.shipped_model(), "the shipped model")
        state.pop("seed", None)  # trained further, it goes on from seed 0, the CLI's
        st.rerun()
    st.code(mc.summary(model) if design is None else archs.summary(design), language=None)

with st.expander("Save or load", expanded=False):
    left, right = st.columns(2)
    left.download_button(
        "Download this model (.keras)", data=lambda: mc.model_bytes(model), file_name=f"mnist_cnn-{model.name}.keras",
        mime="application/zip", key="download", on_click="ignore", icon=":material/download:",
    )
    right.file_uploader("Upload a .keras model", type=["keras"], key="model_upload", on_change=uploads.take_model)
    if error := state.pop("upload_error", None):
        st.error(error, icon=":material/error:")

# settings for the next epochs; keyed on the model so a new model starts from its own recipe
cols = st.columns(3)
batch_default = spec.batch_size if spec else 32
batch_size = cols[0].selectbox(
    "Batch size", BATCH_SIZES, index=BATCH_SIZES.index(batch_default) if batch_default in BATCH_SIZES else 0,
    key=f"batch_size_{state.model_id}",
)
validation_split = cols[1].slider("Validation split", 0.0, 0.5, 0.3, 0.05, key="validation_split",
                                  help="the last share of the training images, held out to validate each epoch")
learning_rate = cols[2].number_input(
    "Peak learning rate (one-cycle)" if spec and spec.schedule == "one_cycle" else "Learning rate",
    min_value=1e-5, max_value=1.0, value=min(max(float(model.optimizer.learning_rate), 1e-5), 1.0), format="%.5f",
    key=f"learning_rate_{state.model_id}",
)

cols = st.columns([1, 1, 1, 1])
one = cols[0].button("Train one epoch", key="train_one", icon=":material/play_arrow:",
                     type="secondary" if session.is_shipped() else "primary")
epochs = cols[1].number_input("Epochs", 1, MAX_EPOCHS, 3, key="epochs", label_visibility="collapsed")
many = cols[2].button(f"Train {epochs} epochs", key="train_many", icon=":material/fast_forward:")
cols[3].button("Stop", key="stop", icon=":material/stop:", help="ends training after the current batch")
estimate = f"; an epoch takes {archs.epoch_time(spec, images)} on a 2-core server" if spec else ""
st.caption(f"Trains on {len(x_train):,} MNIST training images ({validation_split:.0%} held out for validation) "
           f"and tests on the 10,000 test images after each epoch{estimate}.")

if replaced := runs.before_training(model):
    st.caption(replaced)
notice, progress, chart = st.empty(), st.empty(), st.empty()
with chart:
    widgets.chart(charts.training(mc.training_log(model), state.curve))

if one or many:
    model = session.own_model()

    def waiting(seconds: float) -> None:
        notice.info(f"Other visitors are training: yours starts as soon as a trainer is free ({seconds:.0f} s so far).",
                    icon=":material/hourglass_top:")

    def report(snapshot: mc.Snapshot) -> None:
        notice.empty()
        state.curve = snapshot.curve
        left = "" if snapshot.seconds_left != snapshot.seconds_left else f" · {snapshot.seconds_left:.0f} s left"
        progress.progress(min(snapshot.done / snapshot.total, 1.0),
                          text=f"Epoch {snapshot.epoch + 1} · batch {snapshot.batch}/{snapshot.steps}{left}")
        with chart:
            widgets.chart(charts.training(mc.training_log(model), snapshot.curve))

    hyper = dict(epochs=1 if one else int(epochs), batch_size=batch_size, validation_split=validation_split,
                 learning_rate=learning_rate, seed=state.get("seed", 0), augment=bool(spec and spec.augment))
    state.training = True  # still set on the next run if this one is interrupted
    start_time = time.perf_counter()
    workers.train(  # each click its own seed: the same one would repeat the first click's order and augmentation
        model, report, waiting, state.curve, data=(x_train, y_train), test_data=test,
        **hyper | {"seed": hyper["seed"] + mc.epochs_trained(model)},
    )
    state.training = False
    runtime.trim_heap()
    last = mc.training_log(model)[-1]
    kept = runs.record_training(model, hyper, time.perf_counter() - start_time)
    state.trained = f"Epoch {last['epoch']} done: test accuracy {last['test_accuracy']:.2%}. {kept}"
    st.rerun()
