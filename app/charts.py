"""The app's charts, as pure functions from numbers to Plotly figures; all share one layout."""

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

import mnist_cnn as mc

BLUE, PALE_BLUE, ORANGE, GREEN = "#1f6feb", "#9db7d8", "#ff7f0e", "#2ca02c"
CONFIG = {"displayModeBar": False}  # for st.plotly_chart: no toolbar over small charts
DIGITS = list(range(mc.NUM_CLASSES))


def _laid_out(fig: go.Figure, height: int, top: int = 10, **layout) -> go.Figure:
    """The layout every chart shares: its height, narrow margins (`top` leaves room for titles)."""
    return fig.update_layout(height=height, margin=dict(l=10, r=10, t=top, b=10), **layout)


def probabilities(proba: np.ndarray) -> go.Figure:
    """Ten bars, one per digit, the most likely one highlighted; all zero draws empty bars."""
    best = int(np.argmax(proba)) if proba.any() else None
    bars = go.Bar(x=DIGITS, y=proba, marker_color=[BLUE if d == best else PALE_BLUE for d in DIGITS],
                  text=[f"{p:.0%}" if p >= 0.01 else "" for p in proba], textposition="outside")
    return _laid_out(go.Figure(bars), 260, xaxis=dict(tickmode="linear", title="digit"),
                     yaxis=dict(range=[0, 1.15], tickformat=".0%", title="probability"))


def training(log: Sequence[Mapping[str, float]], curve: mc.Curve) -> go.Figure:
    """Loss and accuracy: training per batch (smoothed) and per epoch, validation per epoch, test accuracy."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Loss", "Accuracy"))
    lines = [("training (epoch)", "", "#7aa7e9", "markers"), ("validation", "val_", ORANGE, "lines+markers"),
             ("test", "test_", GREEN, "lines+markers")]
    for col, metric in ((1, "loss"), (2, "accuracy")):
        if curve.epoch:
            fig.add_trace(go.Scatter(x=curve.epoch, y=getattr(curve, metric), name="training (per batch, smoothed)",
                                     mode="lines", line=dict(color=BLUE), legendgroup="batch", showlegend=col == 1),
                          1, col)
        for name, prefix, colour, mode in lines:
            if prefix == "test_" and metric == "loss":
                continue  # the test loss has no label smoothing: not comparable with the others
            # a partial epoch sits where it stopped
            points = [(r["epoch"] - (1 - r.get("partial", 1)), r[prefix + metric]) for r in log if prefix + metric in r]
            if points:
                x, y = zip(*points, strict=True)
                fig.add_trace(go.Scatter(x=x, y=y, name=name, mode=mode, line=dict(color=colour), legendgroup=name,
                                         showlegend=col == 1 or prefix == "test_"), 1, col)
    fig.update_xaxes(title_text="epoch", rangemode="tozero")
    fig.update_yaxes(tickformat=".1%", row=1, col=2)
    return _laid_out(fig, 340, top=40, legend=dict(orientation="h", y=-0.25))


def confusion(counts: np.ndarray) -> go.Figure:
    """The confusion matrix, rows true and columns predicted; each cell can be clicked (selected)."""
    return _laid_out(
        go.Figure([
            go.Heatmap(z=np.log1p(counts), x=DIGITS, y=DIGITS, text=counts, texttemplate="%{text}",
                       colorscale="Blues", showscale=False, hoverinfo="skip"),
            # invisible points over the cells: a heatmap cannot be selected, points can
            go.Scatter(x=np.tile(DIGITS, len(DIGITS)), y=np.repeat(DIGITS, len(DIGITS)), mode="markers",
                       marker=dict(size=28, symbol="square", opacity=0), customdata=counts.ravel(),
                       hovertemplate="true %{y}, predicted %{x}: %{customdata}<extra></extra>"),
        ]),
        420, top=30, clickmode="event+select", dragmode=False,
        xaxis=dict(title="predicted", tickmode="linear", side="top", range=[-0.5, 9.5]),
        yaxis=dict(title="true", tickmode="linear", range=[9.5, -0.5]),
    )


def per_digit(accuracy: np.ndarray) -> go.Figure:
    """Accuracy on each true digit."""
    bars = go.Bar(x=DIGITS, y=accuracy, marker_color=BLUE, text=[f"{a:.1%}" for a in accuracy],
                  textposition="outside")
    return _laid_out(go.Figure(bars), 420, top=30, title="Accuracy per true digit", xaxis=dict(tickmode="linear"),
                     yaxis=dict(range=[min(0.9, np.nanmin(accuracy)), 1.005], tickformat=".0%"))


def class_counts(labels: Mapping[str, np.ndarray]) -> go.Figure:
    """Images per digit, one group of bars per split."""
    counts = {name: np.bincount(y, minlength=len(DIGITS)) for name, y in labels.items()}
    bars = [go.Bar(x=DIGITS, y=count, name=name, text=count) for name, count in counts.items()]
    return _laid_out(go.Figure(bars), 320, top=40, title="Images per digit", barmode="group",
                     xaxis=dict(tickmode="linear", title="digit"))


def pixels(image: np.ndarray, title: str) -> go.Figure:
    """A uint8 image as a grid of its grey values."""
    grid = go.Heatmap(z=image, text=image, texttemplate="%{text}", textfont=dict(size=8), colorscale="gray",
                      zmin=0, zmax=255)
    return _laid_out(go.Figure(grid), 640, top=40, title=title, width=680,
                     yaxis=dict(autorange="reversed", scaleanchor="x"))


def runs_curves(histories: Mapping[str, Sequence[Mapping[str, float]]], smoothing: float = 0.0) -> go.Figure:
    """Validation (solid) and test (dashed) accuracy and loss per epoch of several runs, one colour a run, each
    line smoothed by an exponential moving average of weight `smoothing` (0: as measured)."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Accuracy", "Loss"))
    colours = qualitative.Plotly
    for i, (name, log) in enumerate(histories.items()):
        for prefix, what, dash in (("val_", "validation", "solid"), ("test_", "test", "dash")):
            for col, metric in ((1, "accuracy"), (2, "loss")):
                points = [(r["epoch"], r[prefix + metric]) for r in log if prefix + metric in r]
                if points:
                    x, y = zip(*points, strict=True)
                    fig.add_trace(go.Scatter(x=x, y=_smoothed(y, smoothing), name=f"{name} · {what}",
                                             mode="lines+markers", legendgroup=f"{name} {what}", showlegend=col == 1,
                                             line=dict(color=colours[i % len(colours)], dash=dash)), 1, col)
    fig.update_xaxes(title_text="epoch", rangemode="tozero")
    fig.update_yaxes(tickformat=".1%", row=1, col=1)
    return _laid_out(fig, 380, top=40, legend=dict(orientation="h", y=-0.25))


def _smoothed(values: Sequence[float], weight: float) -> list[float]:
    out: list[float] = []
    for value in values:
        out.append(value if not out else weight * out[-1] + (1 - weight) * value)
    return out


def runs_per_digit(per_digit: Mapping[str, Sequence[float]]) -> go.Figure:
    """Accuracy on each true digit, one group of bars per digit, one bar a run."""
    colours = qualitative.Plotly  # as runs_curves: a run has one colour on the page
    bars = [go.Bar(x=DIGITS, y=list(accuracy), name=name, hovertemplate="%{y:.2%}",
                   marker_color=colours[i % len(colours)]) for i, (name, accuracy) in enumerate(per_digit.items())]
    low = min((a for accuracy in per_digit.values() for a in accuracy if a == a), default=0.9)
    return _laid_out(go.Figure(bars), 360, top=40, title="Accuracy per true digit", barmode="group",
                     xaxis=dict(tickmode="linear", title="digit"),
                     yaxis=dict(range=[min(0.9, low - 0.01), 1.002], tickformat=".0%"),
                     legend=dict(orientation="h", y=-0.2))


def robustness(curves: Mapping[str, Sequence[tuple[float, float]]], title: str, unit: str) -> go.Figure:
    """Accuracy against a perturbation's level, one line per model; a dotted line at chance (one digit in ten)."""
    lines = [go.Scatter(x=[level for level, _ in curve], y=[accuracy for _, accuracy in curve], name=name,
                        mode="lines+markers", hovertemplate="%{x}: %{y:.1%}<extra>" + name + "</extra>")
             for name, curve in curves.items()]
    first = next(iter(curves.values()), ())
    falling = len(first) > 1 and first[-1][0] < first[0][0]  # scale's levels shrink: the clean one stays left
    fig = go.Figure(lines)
    fig.add_hline(y=1 / len(DIGITS), line=dict(dash="dot", color="grey"), annotation_text="chance")
    return _laid_out(fig, 300, top=40, title=title, showlegend=True, legend=dict(orientation="h", y=-0.3),
                     xaxis=dict(title=unit, autorange="reversed" if falling else True,
                                tickvals=[level for level, _ in first]),  # the levels measured
                     yaxis=dict(range=[0, 1.02], tickformat=".0%", title="test accuracy"))
