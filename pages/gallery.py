"""The 10,000 test images as the session's model sees them: blue when right, red when wrong."""

import numpy as np
import streamlit as st

from app import charts, dataset, runtime, session, widgets

runtime.through_entry_script()

PER_PAGE = 48
ANY = "any"
SORTS = ["most confident first", "least confident first", "test set order"]

st.title("Gallery of test predictions")
_, (x_test, y_test) = dataset.mnist_or_stop()
result = session.test_evaluation()
predicted, confidence = result.predicted, result.proba.max(axis=1)
right = predicted == y_test

cols = st.columns(3)
cols[0].metric("Test accuracy", f"{result.accuracy:.2%}")
cols[1].metric("Mistakes", f"{int((~right).sum()):,} of {len(y_test):,}")
cols[2].metric("Weakest digit", f"{int(np.nanargmin(result.per_class))} ({np.nanmin(result.per_class):.1%})")


def pick_cell():
    """A click on the confusion matrix filters the grid to that (true, predicted) pair."""
    points = st.session_state.confusion.selection.points
    if points:
        true, pred = int(points[0]["y"]), int(points[0]["x"])
        st.session_state.update(gallery_true=true, gallery_pred=pred, gallery_mistakes=true != pred)


with st.expander("Confusion matrix and per-digit accuracy", expanded=True):
    left, right_col = st.columns([3, 2])
    with left:
        widgets.chart(charts.confusion(result.confusion), key="confusion", on_select=pick_cell,
                      selection_mode="points")
        st.caption("Click a cell to see those images.")
    with right_col:
        widgets.chart(charts.per_digit(result.per_class))

cols = st.columns(4)
mistakes_only = cols[0].toggle("Only mistakes", value=True, key="gallery_mistakes")
true = cols[1].selectbox("True digit", [ANY, *charts.DIGITS], key="gallery_true")
pred = cols[2].selectbox("Predicted digit", [ANY, *charts.DIGITS], key="gallery_pred")
sort = cols[3].selectbox("Order", SORTS, key="gallery_sort")

mask = ~right if mistakes_only else np.ones_like(right)
if true != ANY:
    mask &= y_test == true
if pred != ANY:
    mask &= predicted == pred
shown = np.flatnonzero(mask)
if sort != SORTS[2]:
    shown = shown[np.argsort(-confidence[shown] if sort == SORTS[0] else confidence[shown], kind="stable")]

if not len(shown):
    st.info("No test images match these filters.", icon=":material/filter_alt_off:")
    st.stop()
pages = -(-len(shown) // PER_PAGE)
# keyed on the filters: a new selection starts at its first page, with nothing picked to explain
selection = f"{mistakes_only}_{true}_{pred}_{sort.replace(' ', '_')}"
page = st.number_input(f"Page (of {pages})", 1, pages, 1, key=f"gallery_page_{selection}") if pages > 1 else 1
st.caption(f"{len(shown):,} images; showing {(page - 1) * PER_PAGE + 1}-{min(page * PER_PAGE, len(shown))}. "
           "Captions: predicted (confidence) · true digit.")
on_page = shown[(page - 1) * PER_PAGE : page * PER_PAGE]
picked = st.selectbox(
    "Why? Explain one of these", [None, *on_page.tolist()], key=f"gallery_explain_{selection}_{page}",
    format_func=lambda i: "pick an image" if i is None else f"#{i}: read as {predicted[i]}, truly a {y_test[i]}",
)
if picked is not None:
    with st.container(border=True):
        image = x_test[picked] / np.float32(255)
        widgets.explanation(*session.explain(image), image)
widgets.digit_grid(
    x_test[on_page],
    [f"{predicted[i]} ({confidence[i]:.0%}) · true {y_test[i]}" for i in on_page],
    frames=[widgets.RIGHT if right[i] else widgets.WRONG for i in on_page],
    alt=[f"{'right' if right[i] else 'wrong'}: test image {i}" for i in on_page],
)
