"""The visitor's own handwriting: corrections under each answer, the set of drawings they make, and teaching the
session's model with it."""

import functools
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import streamlit as st

import mnist_cnn as mc
from app import dataset, runtime, session, uploads, widgets, workers
from mnist_cnn.teaching import HOLD_OUT_FROM, MAX_DRAWINGS

SET = "handwriting"  # session-state key: a tuple of Drawing, oldest first (replaced, never changed in place)
ADDED, LESSON, UPLOAD_ERROR = "handwriting_added", "lesson", "handwriting_upload_error"
REMEMBERED = "handwriting_remembered"  # the ids of the drawings the session model's memory was made from
SHOWN_PER_DIGIT = 8  # the newest of each digit shown in the grid; the rest are counted
THUMB = 56  # px
# thumb-size digit buttons: 44 px is the smallest touch target the platform guidelines allow
STYLE = """<style>
[class*="st-key-correct_"] button { min-width: 2.75rem; min-height: 2.75rem; font-size: 1.15rem; }
[class*="st-key-question_"] button { min-width: 4rem; min-height: 3rem; font-size: 1.4rem; }
</style>"""

_ids = itertools.count()


@dataclass(frozen=True, eq=False)
class Drawing:
    """One drawing of the set: the 28x28 image the model saw (uint8, read-only) and the digit it is."""

    image: np.ndarray
    label: int
    id: int = field(default_factory=lambda: next(_ids))  # what its remove button names


def _drawing(image: np.ndarray, label: int) -> Drawing:
    pixels = image if image.dtype == np.uint8 else np.round(np.clip(image, 0, 1) * 255).astype(np.uint8)
    pixels.flags.writeable = False
    return Drawing(pixels, int(label))


def _count(n: int) -> str:
    return f"{n:,} drawing{'s' * (n != 1)}"


def drawings() -> tuple[Drawing, ...]:
    return st.session_state.get(SET, ())


def setup() -> None:
    """Once at the top of the page: the digit buttons' size, the set made the model's memory if it is not yet (the
    server had no room when it changed), and a toast for drawings just added."""
    st.html(STYLE)
    if waiting := _remember(drawings()):
        st.warning(f"{waiting} Your corrections stay in your set; the model learns them when a place is free.",
                   icon=":material/hourglass_disabled:")
    if message := st.session_state.pop(ADDED, None):
        st.toast(message, icon=":material/add_task:")


def _keep(items: tuple[Drawing, ...]) -> None:
    """The set becomes `items` (in a widget's callback, before the script reruns), and the model's memory with it:
    the model card and the next answer, both drawn after, see it."""
    st.session_state[SET] = items
    _remember(items)


def _remember(items: tuple[Drawing, ...]) -> str | None:
    """Teaching at once (fine_tune with epochs=0: no training): the session model's memory becomes the set. The
    first correction makes the session a model of its own; if the server has no room, the set waits for one (the
    reason is returned)."""
    state, ids = st.session_state, tuple(d.id for d in items)
    if state.get(REMEMBERED, ()) == ids or (not items and session.is_shipped()):
        return None
    try:
        model = session.own_model(stop=False)
    except session.ServerFull as e:
        return str(e)
    if items:
        mc.fine_tune(model, *_arrays(items), epochs=0)
    else:
        mc.forget(model)
    state[REMEMBERED] = ids
    return None


def correction(key: str, then: Callable[[], None] | None = None) -> Callable[[np.ndarray], None]:
    """For widgets.answer(under=): ten digit buttons under the answer, and the two of a convention question ("a 1
    or a 7?") first when there is one. Tapping the right digit (the answer itself, to confirm it) adds the image the
    model read to the set, which the model remembers at once (setup()), then calls `then` (the pad clears)."""
    return functools.partial(_buttons, key=key, then=then)


def _buttons(image: np.ndarray, proba: np.ndarray, key: str, then: Callable[[], None] | None) -> None:
    if question := mc.convention_question(proba):  # one tap answers it, and the model learns this hand's way
        st.pills(f"A {question[0]} or a {question[1]}?", question, key=f"question_{key}", on_change=_add,
                 args=(image, f"question_{key}", then))
    st.pills("Wrong? It's a … (tap the answer to keep it as right)", range(mc.NUM_CLASSES), key=f"correct_{key}",
             on_change=_add, args=(image, f"correct_{key}", then))
    if ADDED in st.session_state:  # a fragment's rerun: the whole page reruns, so the set below shows the drawing
        st.rerun()


def _add(image: np.ndarray, key: str, then: Callable[[], None] | None) -> None:
    state = st.session_state
    label, items = state[key], drawings()
    if label is None:
        return
    state[key] = None  # the buttons are ready for the next drawing
    new = _drawing(image, label)
    if items and items[-1].label == new.label and np.array_equal(items[-1].image, new.image):
        return  # the same tap again: the canvas' redraw can send the buttons' old value once more before they reset
    if len(items) >= MAX_DRAWINGS:
        state[UPLOAD_ERROR] = f"Your set is full ({MAX_DRAWINGS:,} drawings): remove some first."
    else:
        _keep((*items, new))
        state[ADDED] = f"Added as a {label}: {_count(len(drawings()))} in your set."
    if then:
        then()


def panel() -> None:
    """The set by digit (remove one, clear all), its download and upload, and "Teach the model"."""
    items, state = drawings(), st.session_state
    st.header(f"Your handwriting ({_count(len(items))})")
    if error := state.pop(UPLOAD_ERROR, None):
        st.error(error, icon=":material/error:")
    if not items:
        st.caption("Tap the right digit under an answer and the drawing joins this set. Five of each digit teach the "
                   "model your hand.")
    for digit in range(mc.NUM_CLASSES):
        mine = [d for d in items if d.label == digit]
        if mine:
            _row(digit, mine)
    left, middle, right = st.columns(3, vertical_alignment="bottom")
    left.download_button(
        "Download (.npz)", data=lambda: mc.save_drawings(*_arrays(items)), file_name="my-handwriting.npz",
        mime="application/octet-stream", key="download_handwriting", on_click="ignore", icon=":material/download:",
        disabled=not items, width="stretch",
    )
    with middle.popover("Clear all", icon=":material/delete_sweep:", disabled=not items, width="stretch"):
        st.button(f"Remove all {_count(len(items))}", key="clear_handwriting", on_click=_keep, args=((),))
    right.file_uploader("Add drawings from a .npz", type=["npz"], key="handwriting_upload", on_change=_take_upload)
    _teach(items)


def _row(digit: int, mine: list[Drawing]) -> None:
    shown = mine[-SHOWN_PER_DIGIT:]
    more = f" (the newest {len(shown)} shown)" if len(shown) < len(mine) else ""
    st.markdown(f"**{digit}** · {len(mine)}{more}")
    with st.container(horizontal=True, gap="small"):
        for drawing in shown:
            with st.container(width=THUMB + 8, gap=None):
                st.image(widgets.framed(drawing.image, widgets.PLAIN, THUMB), alt=f"your {digit}")
                st.button("", icon=":material/close:", key=f"remove_{drawing.id}", help="remove this drawing",
                          on_click=_remove, args=(drawing.id,))


def _remove(drawing_id: int) -> None:
    _keep(tuple(d for d in drawings() if d.id != drawing_id))


def _take_upload() -> None:
    state = st.session_state
    file = state.handwriting_upload
    if file is None:
        return
    try:
        images, labels = uploads.drawings(file)
    except mc.DataError as e:
        state[UPLOAD_ERROR] = f"{file.name}: {e}"
        return
    if len(drawings()) + len(images) > MAX_DRAWINGS:
        state[UPLOAD_ERROR] = (f"{file.name} has {_count(len(images))} and your set {len(drawings()):,}: together "
                               f"more than the {MAX_DRAWINGS:,} a set holds.")
        return
    _keep((*drawings(), *(_drawing(image, label) for image, label in zip(images, labels, strict=True))))
    state[ADDED] = f"Added {_count(len(images))} from {file.name}: {_count(len(drawings()))} in your set."


def _arrays(items: tuple[Drawing, ...]) -> tuple[np.ndarray, np.ndarray]:
    return np.stack([d.image for d in items]), np.array([d.label for d in items], np.uint8)


def _teach(items: tuple[Drawing, ...]) -> None:
    state = st.session_state
    with st.container(border=True):
        st.markdown("**Teach the model your handwriting**")
        st.caption(
            "A few seconds of training for this session's model (a copy of the shipped one) on your drawings, mixed "
            f"with MNIST training images so it keeps reading those. From {HOLD_OUT_FROM} drawings on, a "
            "fifth of each digit's are held out to test it fairly."
        )
        clicked = st.button(f"Teach the model ({_count(len(items))})", key="teach", type="primary",
                            icon=":material/school:", disabled=not items)
        notice, progress = st.empty(), st.empty()
        if clicked:
            try:
                (x_train, y_train), test = dataset.mnist()
            except mc.DataError as e:
                st.error(f"Teaching needs the MNIST data, which could not be loaded: {e}", icon=":material/cloud_off:")
                return
            model = session.own_model()

            def waiting(seconds: float) -> None:
                notice.info(f"Other visitors are training: yours starts as soon as a trainer is free "
                            f"({seconds:.0f} s so far).", icon=":material/hourglass_top:")

            def report(snapshot: mc.Snapshot) -> None:
                notice.empty()
                state.curve = snapshot.curve
                progress.progress(min(snapshot.done / snapshot.total, 1.0),
                                  text=f"Teaching: pass {snapshot.epoch + 1} · batch {snapshot.batch}/{snapshot.steps}")

            images, labels = _arrays(items)
            lesson = workers.train(model, report, waiting, state.curve, run=mc.teach, images=images, labels=labels,
                                   replay=(x_train, y_train), test=test)
            state[LESSON] = state.model_id, lesson  # shown while the session keeps this model
            runtime.trim_heap()
            st.rerun()  # the model card and the answers above go on with the taught model
        model_id, lesson = state.get(LESSON, (None, None))
        if lesson and model_id == state.model_id:
            _result(lesson)


def _result(lesson: mc.Lesson) -> None:
    which = (f"the {lesson.held_out} held out from the teaching" if lesson.held_out
             else "the taught ones, as there were too few to hold any out")
    before, after = lesson.drawings_before, lesson.drawings_after
    left, right = st.columns(2)
    left.metric("Your drawings", f"{after:.0%}", f"{(after - before) * 100:+.0f} points from {before:.0%}")
    before, after = lesson.test_before, lesson.test_after
    right.metric("MNIST test images", f"{after:.2%}", f"{(after - before) * 100:+.2f} points from {before:.2%}")
    st.caption(f"Your drawings: {which}. Taught {_count(lesson.taught)} in {lesson.seconds:.1f} s. The canvas "
               "above now reads with the taught model; the shipped model is unchanged for everyone else.")
