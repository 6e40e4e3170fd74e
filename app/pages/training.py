"""Train this session's model epoch by epoch and watch loss and accuracy live."""

import streamlit as st

import mnist_cnn as mc
from pages import ui

BATCH_SIZES = [32, 64, 128, 256, 512]

state = st.session_state
ui.model_card()
st.title("Train a CNN")
(x_train, y_train), test = ui.mnist_or_stop()
x_train, y_train = x_train[: ui.training_subset()], y_train[: ui.training_subset()]
model = ui.session_model()
spec = mc.ARCHS.get(model.name)

# a run that ended while training was under way was interrupted: Stop, a page switch or another rerun
if state.pop("training", False):
    log = mc.training_log(model)
    where = f" at {log[-1]['partial']:.0%} of epoch {log[-1]['epoch']}" if log and "partial" in log[-1] else ""
    st.info(f"Training stopped{where}. The model keeps what it learned and can go on training.", icon=":material/stop:")
if message := state.pop("trained", None):
    st.success(message, icon=":material/check:")

with st.expander("Model", expanded=False):
    names = list(mc.ARCHS)
    arch = st.selectbox("Architecture", names, index=names.index(model.name) if spec else 0, key="arch")
    st.caption(mc.ARCHS[arch].description)
    st.code(ui.arch_summary(arch), language=None)
    left, right = st.columns(2)
    if left.button(f"Reset: a new, untrained `{arch}`", key="reset", icon=":material/restart_alt:"):
        ui.set_model(mc.build_model(arch), "a new model, trained in this session")
        st.rerun()
    if right.button("Back to the shipped model", key="shipped", disabled=model is ui.shipped_model()):
        ui.set_model(ui.shipped_model(), "the shipped model")
        st.rerun()

with st.expander("Save or load", expanded=False):
    left, right = st.columns(2)
    left.download_button(
        "Download this model (.keras)", data=lambda: mc.model_bytes(model), file_name=f"mnist_cnn-{model.name}.keras",
        mime="application/zip", key="download", on_click="ignore", icon=":material/download:",
    )
    right.file_uploader("Upload a .keras model", type=["keras"], key="model_upload", on_change=ui.load_uploaded_model)
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
    "Peak learning rate (one-cycle)" if spec and spec.one_cycle else "Learning rate",
    min_value=1e-5, max_value=1.0, value=min(max(float(model.optimizer.learning_rate), 1e-5), 1.0), format="%.5f",
    key=f"learning_rate_{state.model_id}",
)

cols = st.columns([1, 1, 1, 1])
one = cols[0].button("Train one epoch", key="train_one", type="primary", icon=":material/play_arrow:")
epochs = cols[1].number_input("Epochs", 1, ui.MAX_EPOCHS, 3, key="epochs", label_visibility="collapsed")
many = cols[2].button(f"Train {epochs} epochs", key="train_many", icon=":material/fast_forward:")
cols[3].button("Stop", key="stop", icon=":material/stop:", help="ends training after the current batch")
st.caption(f"Trains on {len(x_train):,} MNIST training images ({validation_split:.0%} held out for validation) "
           "and tests on the 10,000 test images after each epoch.")

progress = st.empty()
chart = st.empty()
chart.plotly_chart(ui.training_chart(mc.training_log(model), state.curve))

if one or many:
    model = ui.own_model()

    def report(p):
        left = "" if p.seconds_left != p.seconds_left else f" · {p.seconds_left:.0f} s left"
        progress.progress(min(p.done / p.total, 1.0),
                          text=f"Epoch {p.epoch + 1} · batch {p.batch}/{p.steps}{left}")
        chart.plotly_chart(ui.training_chart(mc.training_log(model), state.curve))

    state.training = True  # still set on the next run if this one is interrupted
    ui.train(
        model, report, data=(x_train, y_train), epochs=1 if one else int(epochs), batch_size=batch_size,
        validation_split=validation_split, test_data=test, learning_rate=learning_rate,
    )
    state.training = False
    ui.release_memory()
    last = mc.training_log(model)[-1]
    state.trained = f"Epoch {last['epoch']} done: test accuracy {last['test_accuracy']:.2%}."
    st.rerun()
