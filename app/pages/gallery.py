"""The 10,000 test images as the session's model sees them: blue when right, red when wrong."""

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from pages import ui

PER_PAGE = 48
ANY = "any"
SORTS = ["most confident first", "least confident first", "test set order"]

ui.model_card()
st.title("Gallery of test predictions")
_, (x_test, y_test) = ui.mnist_or_stop()
result = ui.test_evaluation()
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
    digits = list(range(10))
    counts = result.confusion
    fig = go.Figure(
        [
            go.Heatmap(z=np.log1p(counts), x=digits, y=digits, text=counts, texttemplate="%{text}",
                       colorscale="Blues", showscale=False, hoverinfo="skip"),
            # invisible points over the cells: a heatmap cannot be selected, points can
            go.Scatter(x=np.tile(digits, 10), y=np.repeat(digits, 10), mode="markers",
                       marker=dict(size=28, symbol="square", opacity=0), customdata=counts.ravel(),
                       hovertemplate="true %{y}, predicted %{x}: %{customdata}<extra></extra>"),
        ]
    )
    fig.update_layout(
        height=420, margin=dict(l=10, r=10, t=30, b=10), clickmode="event+select", dragmode=False,
        xaxis=dict(title="predicted", tickmode="linear", side="top", range=[-0.5, 9.5]),
        yaxis=dict(title="true", tickmode="linear", range=[9.5, -0.5]),
    )
    left.plotly_chart(fig, key="confusion", on_select=pick_cell, selection_mode="points",
                      config={"displayModeBar": False})
    left.caption("Click a cell to see those images.")
    bars = go.Figure(go.Bar(x=digits, y=result.per_class, marker_color=ui.BLUE,
                            text=[f"{a:.1%}" for a in result.per_class], textposition="outside"))
    bars.update_layout(height=420, margin=dict(l=10, r=10, t=30, b=10), title="Accuracy per true digit",
                       xaxis=dict(tickmode="linear"), yaxis=dict(range=[min(0.9, np.nanmin(result.per_class)), 1.005],
                                                             tickformat=".0%"))
    right_col.plotly_chart(bars, config={"displayModeBar": False})

cols = st.columns(4)
mistakes_only = cols[0].toggle("Only mistakes", value=True, key="gallery_mistakes")
true = cols[1].selectbox("True digit", [ANY, *digits], key="gallery_true")
pred = cols[2].selectbox("Predicted digit", [ANY, *digits], key="gallery_pred")
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
# keyed on the filters: a new selection starts at its first page
page_key = f"gallery_page_{mistakes_only}_{true}_{pred}_{sort}"
page = st.number_input(f"Page (of {pages})", 1, pages, 1, key=page_key) if pages > 1 else 1
st.caption(f"{len(shown):,} images; showing {(page - 1) * PER_PAGE + 1}-{min(page * PER_PAGE, len(shown))}. "
           "Captions: predicted (confidence) · true digit.")
on_page = shown[(page - 1) * PER_PAGE : page * PER_PAGE]
ui.digit_grid(
    x_test[on_page],
    [f"{predicted[i]} ({confidence[i]:.0%}) · true {y_test[i]}" for i in on_page],
    frames=[ui.RIGHT if right[i] else ui.WRONG for i in on_page],
    alt=[f"{'right' if right[i] else 'wrong'}: test image {i}" for i in on_page],
)
