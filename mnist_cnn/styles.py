"""Synthetic handwritten digits as people draw them on screens, in the styles MNIST under-represents.

Each digit has a few styles (`STYLES`): stroke templates in unit coordinates (x right, y down), drawn the way the
app's canvas draws them (white anti-aliased polylines of a pen 6-40 px wide on a 280x280 black page) after
stroke-level distortions, then through `canvas_to_mnist`, so an image here is what the app would feed the model.

Styles (digit: names):
    0: plain (an oval drawn anticlockwise from the top), narrow (a tall slanted one)
    1: plain (a stick), serif (a short flag), european (a long up-stroke flag),
       european-base (the flag and a base, a separate stroke), long-flag (a shallow flag nearly as long as the stem)
    2: plain (round top, diagonal, flat base), looped (a small loop where the diagonal meets the base)
    3: plain (two round bowls), flat-top (a flat bar, a diagonal, a round lower bowl)
    4: closed (a triangle: diagonal, bar, then the stem), open (an open top: a down stroke and the bar, the stem apart),
       one-stroke (the open 4 without lifting the pen: down, the bar, up to the stem's top and down it)
    5: plain (down stroke and a round bowl, the top bar a separate stroke), square (a flat-topped, squarer bowl),
       one-stroke (the bar joined: from its right end left, down and round the bowl)
    6: plain (a curved stem into a loop), straight (a straight slanted stem into a loop)
    7: plain (bar and diagonal), crossed (and a crossbar through the stem; sometimes a serif at the bar's start),
       hooked (a serif at the bar's start, a stem that bends upright with a foot),
       joined (crossed without lifting the pen: bar, stem, back up beside the stem, the crossbar)
    8: plain (one stroke, S down and back up), two-loops (two stacked ovals)
    9: curved (a loop and a stem that curves away at the foot), straight (a loop and a straight upright stem),
       open (a quick loop left open where the straight stem leaves it)

Distortions, all drawn from the caller's generator: per-point jitter of the control points; sometimes a fast,
angular stroke (each stroke cut to a few straight segments); a smooth elastic warp of the points; a random
rotation, shear (slant), scale and aspect; a random pen width (6-40 px), size and place on the page.

Writers (`writer`, `write`, `writer_pool`): a `Writer` keeps one style per digit, drawn at a European/Asian pool's
frequencies, and a personal hand (slant, rotation, size, aspect, pen, jitter, a tablet's sampling speed, pen-lift
habit, their own proportions and warp); their drawings vary only a little, as one person's do. Same rendering as
`draw`.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from .drawing import canvas_to_mnist

PAGE = 280  # the app's canvas: 280x280, white ink on black
PEN = (6, 40)  # the canvas' stroke-width slider
_SUBPIXEL = 4  # fractional bits for cv2's anti-aliased polylines
ANGULAR = 0.3  # share of random-hand drawings drawn fast, as a few straight segments
WOBBLE = 0.025  # the random hand's jitter of each control point, in digit heights
SLANT = (-0.35, 0.25)  # shear; negative leans the digit right, as most hands do
ASPECT = (0.7, 1.3)  # width multiplier
WITHIN = 0.05  # how much a writer's slant, size, aspect, rotation and speed vary between drawings (a share)


def _arc(cx, cy, rx, ry, start, end, n=None):
    """Points on an ellipse from angle `start` to `end` in degrees (0 = right, 90 = down, y down)."""
    n = n or max(4, int(abs(end - start) / 20) + 1)
    t = np.radians(np.linspace(start, end, n))
    return [(cx + rx * np.cos(a), cy + ry * np.sin(a)) for a in t]


def _european_one(rng, base=False):
    """A long up-stroke flag into the stem; with `base`, a base drawn as a separate stroke."""
    top, stem = (rng.uniform(0.5, 0.65), 0.0), rng.uniform(0.5, 0.65)
    flag = (rng.uniform(0.0, 0.3), rng.uniform(0.25, 0.5))
    strokes = [[[flag, top], [top, (stem, 1.0)]]]
    if base:
        half = rng.uniform(0.25, 0.45)
        strokes.append([[(stem - half, 1.0), (stem + half, 1.0)]])
    return strokes


def _crossed_seven(rng):
    """Bar and stem, a crossbar through the stem at 40-65 % of its height; sometimes a serif at the bar's start."""
    foot = rng.uniform(0.25, 0.45)
    at = rng.uniform(0.4, 0.65)
    x = 1 + (foot - 1) * at  # where the crossbar meets the stem
    strokes = [[[(0.0, 0.0), (1.0, 0.0)], [(1.0, 0.0), (foot, 1.0)]],
               [[(x - rng.uniform(0.2, 0.4), at), (x + rng.uniform(0.15, 0.35), at)]]]
    if rng.random() < 0.4:  # many who cross their 7s also start the bar with a serif
        strokes[0].insert(0, [(0.0, rng.uniform(0.1, 0.25)), (0.0, 0.0)])
    return strokes


def _hooked_seven(rng):
    """A serif at the bar's start, a stem that bends upright, and a foot to either side."""
    serif, foot = rng.uniform(0.1, 0.25), rng.choice([-1, 1]) * rng.uniform(0.1, 0.25)
    return [[[(0.0, serif), (0.0, 0.0)], [(0.0, 0.0), (1.0, 0.0)],
             [(1.0, 0.0), (0.6, 0.45), (0.45, 0.8), (0.43, 1.0)], [(0.43, 1.0), (0.43 + foot, 0.97)]]]


def _nine(rng, straight):
    """A loop of varying size, closed or not quite, and a straight upright stem or one that curves away."""
    ry = rng.uniform(0.17, 0.3)
    end = rng.uniform(-365, -330)
    if straight:
        return [[_arc(0.45, ry + 0.02, 0.37, ry, -30, end, 18), [(0.82, ry + 0.02), (0.82, 0.0)],
                 [(0.82, 0.0), (0.82 + rng.uniform(-0.05, 0.05), 1.0)]]]
    return [[_arc(0.45, ry, 0.35, ry, -10, end, 18),
             [(0.79, ry), (0.8, 0.55), (0.72, 0.85), (0.5, 1.0), (0.25, 0.95)]]]


def _open_nine(rng):
    """A quick 9 whose loop is left open where it meets the straight stem, drawn on without lifting the pen."""
    ry = rng.uniform(0.17, 0.3)
    gap = rng.uniform(25, 70)  # degrees of the loop left undrawn, on its right where the stem goes down
    return [[_arc(0.45, ry + 0.02, 0.37, ry, -30 - gap / 2, -390 + gap / 2, 16),
             [(0.45 + 0.37 * np.cos(np.radians(-30 + gap / 2)), ry + 0.02 + ry * np.sin(np.radians(gap / 2 - 30))),
              (0.82 + rng.uniform(-0.05, 0.05), 1.0)]]]


def _long_flag_one(rng):
    """A flag nearly as long as the stem and shallow, from low on the left: the 1 that reads as a 7."""
    top = (rng.uniform(0.6, 0.8), 0.0)
    flag = (rng.uniform(0.0, 0.1), rng.uniform(0.2, 0.5))
    return [[[flag, top], [top, (top[0] + rng.uniform(-0.05, 0.05), 1.0)]]]


def _joined_seven(rng):
    """A crossed 7 without lifting the pen: bar, down the stem, back up beside its lower part (a hand never quite
    retraces), then the crossbar from its left end; a quick hand rounds the bar into the stem (then it reads as 2)."""
    foot, at = rng.uniform(0.25, 0.45), rng.uniform(0.55, 0.8)
    x = 1 + (foot - 1) * at  # where the crossbar meets the stem
    turn = at + rng.uniform(0.0, 0.12)  # how far back up the stem the pen goes before it leaves for the crossbar
    back = (1 + (foot - 1) * turn - rng.uniform(0.0, 0.12), turn)
    left, right = (x - rng.uniform(0.2, 0.4), at), (x + rng.uniform(0.15, 0.35), at)
    corner = rng.uniform(0.75, 0.95)
    top = ([[(0.0, 0.0), (corner, -0.02), (1.0, 0.05), (foot, 1.0)]] if rng.random() < 0.7
           else [[(0.0, 0.0), (1.0, 0.0)], [(1.0, 0.0), (foot, 1.0)]])
    return [[*top, [(foot, 1.0), back], [back, left], [left, right]]]


def _one_stroke_five(rng):
    """The top bar joined: from the bar's right end left, down, and round the bowl, without lifting the pen; a quick
    hand rounds the corner between the down stroke and the bowl."""
    bar, corner = (rng.uniform(0.75, 0.95), rng.uniform(-0.08, 0.05)), (rng.uniform(0.1, 0.2), rng.uniform(0.38, 0.5))
    ry = rng.uniform(0.25, 0.32)
    bowl = _arc(0.47, 1 - ry, 0.42, ry, -145, rng.uniform(130, 190))  # the last: round to nearly closed
    down = [[(0.2, 0.0), corner, *bowl[2:]]] if rng.random() < 0.5 else [[(0.2, 0.0), corner], bowl]
    return [[[bar, (0.2, 0.0)], *down]]


def _one_stroke_four(rng):
    """An open 4 without lifting the pen: down, the bar past the stem, up to the stem's top, and down the stem."""
    stem, over = rng.uniform(0.62, 0.75), rng.uniform(0.0, 0.2)
    bar = (stem + over, rng.uniform(0.55, 0.65))
    return [[[(0.12, 0.0), (0.05, bar[1])], [(0.05, bar[1]), bar], [bar, (stem, 0.0)], [(stem, 0.0), (stem, 1.0)]]]


# A template is a list of strokes; a stroke is a list of pieces; a piece is a list of control points, smoothed
# into a curve (two points: a straight line). Pieces of a stroke join at corners. A function of the generator
# gives a template whose proportions vary.
_TEMPLATES = {
    "0": {
        "plain": [[_arc(0.5, 0.5, 0.4, 0.5, -80, -445, 20)]],
        "narrow": [[[(x + 0.25 * (0.5 - y), y) for x, y in _arc(0.5, 0.5, 0.25, 0.5, -80, -440, 20)]]],
    },
    "1": {
        "plain": [[[(0.5, 0.0), (0.5, 1.0)]]],
        "serif": [[[(0.38, 0.14), (0.55, 0.0)], [(0.55, 0.0), (0.55, 1.0)]]],
        "european": _european_one,
        "european-base": lambda rng: _european_one(rng, base=True),
        "long-flag": _long_flag_one,
    },
    "2": {
        "plain": [[_arc(0.5, 0.3, 0.42, 0.3, -170, 25), [(0.88, 0.43), (0.05, 1.0)], [(0.05, 1.0), (0.95, 1.0)]]],
        "looped": [[_arc(0.5, 0.3, 0.42, 0.3, -170, 25), [(0.88, 0.43), (0.2, 0.86)],
                    [(0.2, 0.86), (0.08, 0.95), (0.2, 1.0), (0.32, 0.9), (0.22, 0.84), (0.2, 0.95), (0.5, 0.98),
                     (0.95, 0.96)]]],
    },
    "3": {
        "plain": [[[*_arc(0.45, 0.27, 0.38, 0.25, -160, 90), *_arc(0.45, 0.75, 0.45, 0.25, -90, 160)]]],
        "flat-top": [[[(0.1, 0.0), (0.85, 0.0)], [(0.85, 0.0), (0.4, 0.4)], _arc(0.45, 0.7, 0.45, 0.3, -110, 160)]],
    },
    "4": {
        "closed": [[[(0.68, 0.0), (0.0, 0.66)], [(0.0, 0.66), (1.0, 0.66)]], [[(0.7, 0.0), (0.7, 1.0)]]],
        "open": [[[(0.12, 0.0), (0.05, 0.6)], [(0.05, 0.6), (0.95, 0.6)]], [[(0.72, 0.08), (0.72, 1.0)]]],
        "one-stroke": _one_stroke_four,
    },
    "5": {
        "plain": [[[(0.2, 0.0), (0.14, 0.45)], _arc(0.45, 0.7, 0.42, 0.3, -140, 150)], [[(0.2, 0.0), (0.92, 0.0)]]],
        "square": [[[(0.2, 0.0), (0.15, 0.42)], [(0.15, 0.42), (0.65, 0.4), (0.9, 0.55), (0.88, 0.85), (0.55, 1.0),
                                                  (0.05, 0.92)]], [[(0.2, 0.0), (0.92, 0.0)]]],
        "one-stroke": _one_stroke_five,
    },
    "6": {
        "plain": [[[(0.8, 0.0), (0.4, 0.12), (0.15, 0.45), (0.12, 0.8), (0.35, 1.0), (0.7, 0.95), (0.85, 0.72),
                    (0.65, 0.5), (0.35, 0.52), (0.15, 0.72)]]],
        "straight": [[[(0.7, 0.0), (0.18, 0.72)], [(0.18, 0.72), (0.3, 0.98), (0.65, 0.98), (0.82, 0.72), (0.6, 0.5),
                                                  (0.3, 0.55), (0.18, 0.72)]]],
    },
    "7": {
        "plain": [[[(0.0, 0.0), (1.0, 0.0)], [(1.0, 0.0), (0.35, 1.0)]]],
        "crossed": _crossed_seven,
        "hooked": _hooked_seven,
        "joined": _joined_seven,
    },
    "8": {
        "plain": [[[(0.8, 0.12), (0.5, 0.0), (0.2, 0.12), (0.25, 0.35), (0.5, 0.5), (0.8, 0.68), (0.75, 0.95),
                    (0.5, 1.0), (0.2, 0.92), (0.22, 0.68), (0.5, 0.5), (0.75, 0.32), (0.78, 0.1)]]],
        "two-loops": [[_arc(0.5, 0.24, 0.28, 0.24, -60, -420, 16)], [_arc(0.5, 0.74, 0.36, 0.26, -90, -450, 18)]],
    },
    "9": {
        "curved": lambda rng: _nine(rng, straight=False),
        "straight": lambda rng: _nine(rng, straight=True),
        "open": _open_nine,
    },
}

STYLES: dict[str, tuple[str, ...]] = {digit: tuple(styles) for digit, styles in _TEMPLATES.items()}
"""Style names per digit ("0".."9"), as draw() and style_set() take them; the module docstring says what each is."""

EUROPEAN: dict[str, tuple[str, ...]] = {
    "0": ("plain",), "1": ("european",), "2": ("plain",), "3": ("plain",), "4": ("open",), "5": ("plain",),
    "6": ("plain",), "7": ("crossed",), "8": ("plain",), "9": ("straight",),
}
"""One style per digit as much of Europe, Latin America and Asia writes: a flagged 1, a crossed 7, a straight 9."""


# How often a writer of a European or Asian hand (most of the world outside the US and UK) uses each convention:
# most flag their 1s and cross their 7s, most 9s have a straight stem. The multi-stroke styles in _JOINED are drawn
# in one stroke instead by writers who don't lift the pen.
_CONVENTIONS = {
    "0": {"plain": 0.7, "narrow": 0.3},
    "1": {"plain": 0.05, "serif": 0.05, "european": 0.3, "european-base": 0.1, "long-flag": 0.5},
    "2": {"plain": 0.75, "looped": 0.25},
    "3": {"plain": 0.7, "flat-top": 0.3},
    "4": {"closed": 0.3, "open": 0.7},
    "5": {"plain": 0.75, "square": 0.25},
    "6": {"plain": 0.6, "straight": 0.4},
    "7": {"plain": 0.1, "crossed": 0.8, "hooked": 0.1},
    "8": {"plain": 0.65, "two-loops": 0.35},
    "9": {"curved": 0.35, "straight": 0.25, "open": 0.4},
}
_JOINED = {"4": {"open": "one-stroke"}, "5": {"plain": "one-stroke"}, "7": {"crossed": "joined"}}
LIFTERS = 0.3  # share of writers who lift the pen between a digit's strokes
FAST = 0.85  # share of writers a tablet samples as polygons: it reads the pen 10 times a second or so...
SPEED = (0.25, 0.6)  # ...so a quick hand's points lie a quarter to over half the digit's height apart


@dataclass(frozen=True)
class Writer:
    """A synthetic writer: one style per digit (a consistent set of conventions) and a personal hand."""

    styles: tuple[str, ...]  # the style of each digit 0-9, names from STYLES
    slant: float  # shear, as SLANT
    rotation: float  # degrees
    size: float  # the digit's height, a share 0-1 of the range the pen allows on the page
    aspect: float  # width multiplier, as ASPECT
    pen: int  # the canvas' stroke width in px, within PEN
    jitter: float  # wobble of the control points and a warp, in digit heights
    speed: float  # a tablet's step between sampled points along a fast stroke, in digit heights; 0 is smooth
    lifts: bool  # lifts the pen between strokes; when not, draws the one-stroke forms of 4, 5 and crossed 7
    seed: int  # their own proportions and shapes: the same every time they write a digit


def writer(rng: np.random.Generator) -> Writer:
    """A writer drawn at random from a European/Asian pool: conventions at their _CONVENTIONS frequencies."""
    lifts = bool(rng.random() < LIFTERS)
    chosen = []
    for digit, shares in _CONVENTIONS.items():
        style = str(rng.choice(list(shares), p=list(shares.values())))
        chosen.append(style if lifts else _JOINED.get(digit, {}).get(style, style))
    return Writer(
        styles=tuple(chosen), slant=float(rng.uniform(*SLANT)), rotation=float(rng.uniform(-10, 10)),
        size=float(rng.uniform(0, 1)), aspect=float(rng.uniform(*ASPECT)), pen=int(rng.integers(PEN[0], PEN[1] + 1)),
        jitter=float(rng.uniform(0.008, 0.03)),
        speed=float(rng.choice([0.0, rng.uniform(*SPEED)], p=[1 - FAST, FAST])),
        lifts=lifts, seed=int(rng.integers(2**31)),
    )


def write(writer: Writer, digit: int, rng: np.random.Generator) -> np.ndarray:
    """One drawing of `digit` by `writer` as canvas_to_mnist gives it: (28, 28) float32. Their style, proportions and
    hand stay; the drawings vary only as one person's do."""
    return canvas_to_mnist(write_canvas(writer, digit, rng))


def write_canvas(writer: Writer, digit: int, rng: np.random.Generator) -> np.ndarray:
    """The same drawing on the app's 280x280 page: uint8 grey, white ink on black."""
    template = _template(digit, writer.styles[int(digit)])
    return _canvas(template, rng, writer, np.random.default_rng([writer.seed, int(digit)]))


def writer_set(writer: Writer, n_per_digit: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """`n_per_digit` drawings of each digit 0-9 by `writer`: images (N, 28, 28) float32 and labels (N,) uint8."""
    _count(n_per_digit, "n_per_digit")
    labels = np.repeat(np.arange(10, dtype=np.uint8), n_per_digit)
    images = [write(writer, int(digit), rng) for digit in labels]
    return _stacked(images), labels


def writer_pool(count: int, n_per_digit: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`count` writers drawn at random, `n_per_digit` drawings of each digit each: images (N, 28, 28) float32,
    labels (N,) uint8 and writer_ids (N,) int (0..count-1), grouped by writer, the same for the same seed."""
    _count(count, "count")
    rng = np.random.default_rng(seed)
    pool = [writer(rng) for _ in range(count)]
    sets = [writer_set(w, n_per_digit, rng) for w in pool]
    images = _stacked([image for x, _ in sets for image in x])
    labels = np.concatenate([y for _, y in sets]) if sets else np.zeros(0, np.uint8)
    return images, labels, np.repeat(np.arange(count), 10 * n_per_digit)


def draw(digit: int, style: str, rng: np.random.Generator) -> np.ndarray:
    """One drawing of `digit` in `style`, distorted at random, as canvas_to_mnist gives it: (28, 28) float32."""
    return canvas_to_mnist(draw_canvas(digit, style, rng))


def draw_canvas(digit: int, style: str, rng: np.random.Generator) -> np.ndarray:
    """The same drawing on the app's 280x280 page: uint8 grey, white ink on black."""
    return _canvas(_template(digit, style), rng)


def _canvas(template, rng, writer=None, own=None):
    """A template drawn by a random hand (no `writer`) or by `writer`, whose own generator `own` fixes the
    proportions and the warp that make the drawing theirs; the per-drawing variation is drawn from `rng`.

    The random hand's draws come in the order they always have, so a seed gives the drawings it always gave."""
    template = template(rng if own is None else own) if callable(template) else template
    if writer is None:
        spacing = (0.2, 0.35) if rng.random() < ANGULAR else None  # a fast stroke: a few straight segments
    else:
        spacing = (writer.speed * (1 - WITHIN), writer.speed * (1 + WITHIN)) if writer.speed else None
    wobble = WOBBLE if writer is None else writer.jitter
    strokes = []
    for stroke in template:
        points = []
        for piece in stroke:
            control = np.asarray(piece, np.float64) + rng.normal(0, wobble, (len(piece), 2))  # the hand's wobble
            if points:  # pieces of a stroke join where the last one ended
                control[0] = points[-1][-1]
            points.append(_smooth(control))
        line = np.concatenate([points[0], *(p[1:] for p in points[1:])])
        strokes.append(_few_segments(line, rng, spacing) if spacing else line)
    if writer is None:
        strokes = _elastic(strokes, rng)
        angle, shear, aspect = rng.uniform(-12, 12), rng.uniform(*SLANT), rng.uniform(*ASPECT)
        return _render(_affine(strokes, angle, shear, aspect), rng)
    strokes = _elastic(_elastic(strokes, own), rng, amplitude=writer.jitter)  # theirs, then today's
    angle = writer.rotation + rng.normal(0, 12 * WITHIN)
    shear = writer.slant + rng.normal(0, 0.3 * WITHIN)
    aspect = writer.aspect * (1 + rng.normal(0, WITHIN))
    return _render(_affine(strokes, angle, shear, aspect), rng, writer.pen, writer.size * (1 + rng.normal(0, WITHIN)))


def style_set(
    n_per_style: int, seed: int, styles: Mapping[str, Sequence[str]] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """`n_per_style` drawings of each (digit, style) in `styles` (default: every one in STYLES).

    Returns images (N, 28, 28) float32 in [0, 1] and labels (N,) uint8, grouped by digit and style, the same for
    the same seed. `styles` maps digits ("0".."9") to style names, e.g. EUROPEAN; digits left out are left out.
    """
    _count(n_per_style, "n_per_style")
    styles = STYLES if styles is None else styles
    for digit, names in styles.items():
        for name in names:
            _template(digit, name)  # unknown digits or styles fail before any drawing
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for digit, names in sorted(styles.items()):
        for name in names:
            for _ in range(n_per_style):
                images.append(draw(int(digit), name, rng))
                labels.append(int(digit))
    return _stacked(images), np.asarray(labels, np.uint8)


def style_digits(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`count` drawings spread evenly over every style in STYLES, in random order: images (N, 28, 28) float32 in
    [0, 1] and labels (N,) uint8, the same for the same seed."""
    per_style = -(-count // sum(len(names) for names in STYLES.values()))
    x, y = style_set(per_style, seed)
    keep = np.random.default_rng(seed).permutation(len(x))[:count]
    return x[keep], y[keep]


def _count(n, name):
    if not isinstance(n, int) or n < 0:
        raise ValueError(f"{name} must be a whole number >= 0, got {n!r}")


def _stacked(images):
    return np.stack(images).astype(np.float32, copy=False) if images else np.zeros((0, 28, 28), np.float32)


def _template(digit, style):
    key = str(digit)
    if key not in _TEMPLATES:
        raise ValueError(f"no such digit {digit!r}; digits are 0-9")
    if style not in _TEMPLATES[key]:
        raise ValueError(f"no style {style!r} for the digit {key}; its styles: {', '.join(_TEMPLATES[key])}")
    return _TEMPLATES[key][style]


def _smooth(control, rounds=3):
    """Chaikin's corner cutting, ends kept: control points to a smooth curve (two points stay a line)."""
    points = control
    for _ in range(rounds if len(control) > 2 else 0):
        a, b = points[:-1], points[1:]
        cut = np.empty((2 * len(a), 2))
        cut[0::2], cut[1::2] = 0.75 * a + 0.25 * b, 0.25 * a + 0.75 * b
        points = np.concatenate([points[:1], cut, points[-1:]])
    return points


def _few_segments(line, rng, spacing=(0.2, 0.35)):
    """The line as a few straight segments between points evenly spaced along it (a quick, angular hand, or a
    tablet sampling a fast stroke): one every `spacing` (a range) of the digit's height; 0.2-0.35 leaves a loop
    enough corners to stay a loop."""
    if len(line) <= 3:
        return line
    length = np.concatenate([[0], np.cumsum(np.hypot(*np.diff(line, axis=0).T))])
    at = np.linspace(0, length[-1], max(3, round(length[-1] / rng.uniform(*spacing))) + 1)
    return np.stack([np.interp(at, length, line[:, 0]), np.interp(at, length, line[:, 1])], axis=1)


def _elastic(strokes, rng, waves=3, amplitude=0.035):
    """A smooth random displacement of every point: a few low-frequency waves in each direction."""
    frequency = rng.uniform(1.5, 4.0, (2, waves, 2))
    phase = rng.uniform(0, 2 * np.pi, (2, waves))
    scale = rng.uniform(0, amplitude, (2, waves))

    def moved(p):
        shift = [(scale[k] * np.sin(p @ frequency[k].T + phase[k])).sum(axis=1) for k in (0, 1)]
        return p + np.stack(shift, axis=1)

    return [moved(stroke) for stroke in strokes]


def _affine(strokes, angle, shear, aspect):
    """Rotation by `angle` degrees, slant (`shear`: x moves by shear x y, y down) and aspect (width x `aspect`),
    about the centre."""
    angle = np.radians(angle)
    c, s = np.cos(angle), np.sin(angle)
    matrix = np.array([[c, -s], [s, c]]) @ np.array([[aspect, shear], [0, 1]])
    return [(stroke - 0.5) @ matrix.T for stroke in strokes]


def _render(strokes, rng, pen=None, size=None):
    """The strokes drawn as the canvas draws them on a black 280x280 page, at a random place, with a random pen
    and size unless given (`size`: the digit's height as a share 0-1 of the range a pen that wide allows)."""
    pen = int(rng.integers(PEN[0], PEN[1] + 1)) if pen is None else pen
    points = np.concatenate(strokes)
    low, high = points.min(axis=0), points.max(axis=0)
    extent = np.maximum(high - low, 1e-3)
    margin = pen / 2 + 4  # cv2's anti-aliased pen reaches ~pen / 2 + 2 px from the line: ink never meets the edge
    smallest = max(100, 5 * pen)  # a thick pen draws a large digit
    if size is None:
        height = rng.uniform(smallest, PAGE - 2 * margin)
    else:
        height = smallest + np.clip(size, 0, 1) * (PAGE - 2 * margin - smallest)
    scale = min(height / extent[1], (PAGE - 2 * margin) / extent[0])
    size = extent * scale
    origin = margin + rng.random(2) * np.maximum(PAGE - 2 * margin - size, 0)
    page = np.zeros((PAGE, PAGE), np.uint8)
    lines = [np.round(((s - low) * scale + origin) * 2**_SUBPIXEL).astype(np.int32) for s in strokes]
    cv2.polylines(page, lines, False, 255, pen, cv2.LINE_AA, _SUBPIXEL)
    return page
