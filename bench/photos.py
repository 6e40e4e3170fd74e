"""Photo-like pictures of digits: an MNIST digit written on paper and photographed with a phone under a lamp.

    from bench.photos import photograph, random_conditions, photo_set

Each picture is rendered from a 28x28 MNIST digit (dark ink on light paper) with seeded, recorded conditions
(`Conditions`): the digit small and off-centre; paper with texture, ruled or squared lines, tilted a little;
sometimes the dark table beyond the page's edge; light falling off across the page (a gradient and a vignette),
sometimes a shadow's edge; blur, the camera's tone curve, sensor noise, and JPEG at a phone's quality. The result
is what `mnist_cnn.read_image` gives for such a file: uint8 RGB.

`desk_set` (issue 22) photographs a sheet lying on a desk instead (`DeskConditions`): ruled or squared paper in
perspective, the desk (wood, dark, grey or light) in view on 1-4 sides, a hard shadow, blue pen, black pen or
pencil, soft focus, JPEG; the digit an MNIST digit or, in 30 %, a synthetic drawing of its label (styles.draw_canvas).

Tune on training digits only; the test digits are for evaluation (bench/run.py's `photos` part, the tests).
`reference_canvas_to_mnist` keeps the picture path as it was before photos were handled (the reference for the
before/after comparison); nothing else here uses it.
"""

import io
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

LINES = ("none", "ruled", "squared")


@dataclass(frozen=True)
class Conditions:
    """How one photo is made. Lengths are in pixels of the photo unless they say otherwise."""

    height: int
    width: int
    digit_size: float  # the digit's 20 px MNIST box, as a share of the photo's shorter side
    centre: tuple[float, float]  # where the digit's centre lies, (x, y) as shares of the width and height
    paper: float  # the paper's reflectance (1: perfect white)
    texture: float  # the paper's grain: relative amplitude of its reflectance variation
    lines: str  # "none", "ruled" or "squared"
    spacing: float  # between lines, px
    line_darkness: float  # the share of light a printed line absorbs
    line_width: int  # px
    margin: bool  # a red margin line (ruled paper)
    tilt: float  # the page's rotation in the photo, degrees
    ink: float  # the share of light the ink absorbs
    gradient: float  # the light at the darkest side of the page relative to the brightest (1: even light)
    gradient_angle: float  # the direction the light falls off towards, radians
    vignette: float  # light lost at the corners to the lens and the lamp's cone
    shadow: float  # the light left in a shadow (1: no shadow)
    shadow_angle: float  # the shadow edge's normal, radians
    shadow_offset: float  # where the shadow's edge crosses, as a signed share of the half-diagonal from the centre
    shadow_softness: float  # the width of the shadow's penumbra, px
    table: float  # the share of one side that shows the dark table beyond the page (0: the page fills the photo)
    table_side: int  # 0 top, 1 right, 2 bottom, 3 left
    exposure: float  # the brightest paper's level before the tone curve, in [0, 1]
    blur: float  # Gaussian sigma of focus and shake, px
    noise: float  # sensor noise, grey levels (sigma)
    quality: int  # JPEG quality
    tint: tuple[float, float, float]  # the lamp's colour (RGB gains)


def random_conditions(rng: np.random.Generator, **fixed) -> Conditions:
    """Conditions drawn at random over the range a phone photo of a handwritten digit covers; `fixed` overrides."""
    height, width = (int(v) for v in rng.integers(240, 361, 2))
    size = float(rng.uniform(0.22, 0.5))
    table = float(rng.uniform(0.03, 0.15)) if rng.random() < 0.2 else 0.0
    table_side = int(rng.integers(4))
    # the digit's half extent (its 28 px field is 1.4x its 20 px box), kept on the page and off the table
    half = 0.7 * size * min(height, width)
    lo = [half / width + 0.02, half / height + 0.02]
    hi = [1 - half / width - 0.02, 1 - half / height - 0.02]
    if table:  # top, right, bottom, left
        axis = 1 if table_side in (0, 2) else 0
        if table_side in (0, 3):
            lo[axis] += table
        else:
            hi[axis] -= table
    centre = tuple(float(rng.uniform(a, max(a, b))) for a, b in zip(lo, hi, strict=True))
    lines = LINES[int(rng.choice(3, p=[0.4, 0.3, 0.3]))]
    shadow = float(rng.uniform(0.35, 0.7)) if rng.random() < 0.4 else 1.0
    warm = rng.uniform(0, 0.12)
    values = {
        "height": height,
        "width": width,
        "digit_size": size,
        "centre": centre,
        "paper": float(rng.uniform(0.75, 0.95)),
        "texture": float(rng.uniform(0, 0.04)),
        "lines": lines,
        "spacing": float(rng.uniform(0.06, 0.12) * min(height, width)),
        "line_darkness": float(rng.uniform(0.15, 0.4)),
        "line_width": int(rng.integers(1, 3)),
        "margin": lines == "ruled" and rng.random() < 0.3,
        "tilt": float(rng.uniform(-2, 2)),
        "ink": float(rng.uniform(0.55, 0.9)),
        "gradient": float(rng.uniform(0.35, 0.9)),
        "gradient_angle": float(rng.uniform(0, 2 * np.pi)),
        "vignette": float(rng.uniform(0, 0.4)),
        "shadow": shadow,
        "shadow_angle": float(rng.uniform(0, 2 * np.pi)),
        "shadow_offset": float(rng.uniform(-0.6, 0.6)),
        "shadow_softness": float(rng.uniform(1, 15)),
        "table": table,
        "table_side": table_side,
        "exposure": float(rng.uniform(0.75, 1.0)),
        "blur": float(rng.uniform(0, 1.2)),
        "noise": float(rng.uniform(2, 8)),
        "quality": int(rng.integers(60, 96)),
        "tint": (1.0, float(1 - warm / 2), float(1 - warm)),
    }
    return Conditions(**{**values, **fixed})


def photograph(digit: np.ndarray, conditions: Conditions, rng: np.random.Generator) -> np.ndarray:
    """A (28, 28) uint8 MNIST digit (light on dark) written in dark ink on paper and photographed: uint8 RGB."""
    c = conditions
    h, w = c.height, c.width
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)

    # the page: paper with grain, printed lines and the digit, in reflectance (per channel)
    grain = rng.standard_normal((h, w), dtype=np.float32)
    grain = cv2.GaussianBlur(grain, (0, 0), 1.0) * 0.6 + cv2.GaussianBlur(grain, (0, 0), 6.0) * 4
    reflect = np.repeat((c.paper * (1 + c.texture * np.clip(grain, -3, 3)))[..., None], 3, axis=2)
    if c.lines != "none":
        ruled = np.zeros((h, w), np.uint8)
        pad = max(h, w)  # lines drawn past the edges, so the rotation below leaves none short
        offset = rng.uniform(0, c.spacing)
        for y in np.arange(offset - pad, h + pad, c.spacing):
            cv2.line(ruled, (-pad, round(y)), (w + pad, round(y)), 255, c.line_width, cv2.LINE_AA)
        if c.lines == "squared":
            for x in np.arange(offset - pad, w + pad, c.spacing):
                cv2.line(ruled, (round(x), -pad), (round(x), h + pad), 255, c.line_width, cv2.LINE_AA)
        absorbed = (ruled.astype(np.float32) / 255 * c.line_darkness)[..., None] * np.float32([0.9, 0.7, 0.25])
        reflect *= 1 - absorbed  # blue-grey lines
        if c.margin:
            margin = np.zeros((h, w), np.uint8)
            x = round(w * rng.uniform(0.08, 0.2))
            cv2.line(margin, (x, -pad), (x, h + pad), 255, c.line_width + 1, cv2.LINE_AA)
            reflect *= 1 - (margin.astype(np.float32) / 255 * c.line_darkness)[..., None] * np.float32([0.1, 0.8, 0.7])
    side = c.digit_size * min(h, w) * 28 / 20  # the 28 px field, so its 20 px box is digit_size of the page
    scaled = cv2.resize(digit.astype(np.float32) / 255, (round(side), round(side)), interpolation=cv2.INTER_CUBIC)
    alpha = np.zeros((h, w), np.float32)
    top, left = round(c.centre[1] * h - side / 2), round(c.centre[0] * w - side / 2)
    rows, cols = slice(max(top, 0), min(top + scaled.shape[0], h)), slice(max(left, 0), min(left + scaled.shape[1], w))
    alpha[rows, cols] = scaled[rows.start - top : rows.stop - top, cols.start - left : cols.stop - left]
    pen = np.float32([1.0, 0.97, 0.9]) if rng.random() < 0.5 else np.float32([0.85, 0.9, 1.0])  # black or blue ink
    reflect *= 1 - c.ink * np.clip(alpha, 0, 1)[..., None] * pen
    # the page sits a little rotated in the photo
    turn = cv2.getRotationMatrix2D((w / 2, h / 2), c.tilt, 1.0)
    reflect = cv2.warpAffine(reflect, turn, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    if c.table:
        along = [yy / h, 1 - xx / w, 1 - yy / h, xx / w][c.table_side]
        wobble = (xx / w if c.table_side in (0, 2) else yy / h) * rng.uniform(-0.02, 0.02)
        beyond = np.clip((c.table - along + wobble) * min(h, w) + 0.5, 0, 1)[..., None]  # 1 px anti-aliased
        reflect = reflect * (1 - beyond) + rng.uniform(0.08, 0.3) * np.float32([0.8, 0.6, 0.45]) * beyond

    # the light: falling off across the page, darker at the corners, maybe a shadow's edge
    cx, cy, radius = w / 2, h / 2, np.hypot(w, h) / 2
    along = ((xx - cx) * np.cos(c.gradient_angle) + (yy - cy) * np.sin(c.gradient_angle)) / radius  # -1..1
    light = 1 - (1 - c.gradient) * (along + 1) / 2
    light *= 1 - c.vignette * ((xx - cx) ** 2 + (yy - cy) ** 2) / radius**2
    if c.shadow < 1:
        across = (xx - cx) * np.cos(c.shadow_angle) + (yy - cy) * np.sin(c.shadow_angle) - c.shadow_offset * radius
        light *= c.shadow + (1 - c.shadow) / (1 + np.exp(-np.clip(across / max(c.shadow_softness / 4, 0.25), -30, 30)))
    scene = reflect * (light * c.exposure)[..., None] * np.float32(c.tint)

    # the camera: focus, tone curve, noise, JPEG
    if c.blur > 0.05:
        scene = cv2.GaussianBlur(scene, (0, 0), c.blur)
    pixels = 255 * np.clip(scene, 0, 1, dtype=np.float32) ** np.float32(1 / 2.2)
    pixels += rng.standard_normal((h, w, 1), dtype=np.float32) * np.float32(c.noise)  # luma noise...
    chroma = rng.standard_normal(((h + 1) // 2, (w + 1) // 2, 3), dtype=np.float32) * np.float32(c.noise / 3)
    pixels += cv2.resize(chroma, (w, h), interpolation=cv2.INTER_LINEAR)  # ...and blotchier chroma noise
    rgb = np.clip(np.round(pixels), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="JPEG", quality=c.quality)
    with Image.open(buffer) as decoded:
        return np.asarray(decoded.convert("RGB"))


def photo_set(digits: np.ndarray, seed: int = 0, **fixed) -> tuple[list[np.ndarray], list[Conditions]]:
    """A photo of each digit, with its conditions: the same seed gives the same photos."""
    rng = np.random.default_rng(seed)
    conditions = [random_conditions(rng, **fixed) for _ in digits]
    return [photograph(d, c, rng) for d, c in zip(digits, conditions, strict=True)], conditions


def blank_page(conditions: Conditions, seed: int = 0) -> np.ndarray:
    """The same page and light with no digit on it."""
    return photograph(np.zeros((28, 28), np.uint8), conditions, np.random.default_rng(seed))


# ---- photos of a sheet on a desk (issue 22): the sheet in perspective, the desk around it in view ----

DESKS = ("wood", "dark", "grey", "light")
PENS = ("blue", "black", "pencil")
SHEET_PX = 1.25  # sheet px per photo px: the sheet drawn a little finer than the photo sees it
# the share of light each pen's line absorbs per channel (RGB), at full strength
_PEN_COLOURS = {"blue": (0.85, 0.7, 0.2), "black": (1.0, 0.98, 0.92), "pencil": (1.0, 1.0, 1.0)}


@dataclass(frozen=True)
class DeskConditions:
    """How one photo of a sheet on a desk is made. Lengths in pixels of the photo unless they say otherwise."""

    height: int
    width: int
    corners: tuple[tuple[float, float], ...]  # the sheet's corners in the photo (x, y): top left, top right,
    # bottom right, bottom left; outside the frame where the sheet runs past it
    desk_sides: tuple[int, ...]  # the sides where the desk is in view: 0 top, 1 right, 2 bottom, 3 left
    sheet: tuple[int, int]  # the sheet's own size, (width, height) in sheet px
    paper: float  # the paper's reflectance
    paper_tint: tuple[float, float, float]  # its colour (RGB gains: white, cream, a cold white)
    lines: str  # "ruled" or "squared"
    spacing: float  # between lines, sheet px
    line_darkness: float
    line_width: int  # sheet px
    margin: bool
    strokes: bool  # the digit drawn by styles.draw_canvas (a synthetic hand), else the MNIST digit given
    style: str  # the style drawn, when strokes
    digit_size: float  # the digit's 20 px box as a share of the photo's shorter side
    centre: tuple[float, float]  # the digit's centre in the photo (x, y), as shares of the width and height
    pen: str  # "blue", "black" or "pencil"
    ink: float  # the share of light the pen's line absorbs
    desk: str  # "wood", "dark", "grey" or "light"
    desk_level: float  # the desk's reflectance (always below the paper's)
    desk_angle: float  # the wood grain's direction, radians
    gradient: float  # the light at the darkest side relative to the brightest
    gradient_angle: float
    shadow: float  # the light left in the hard shadow
    shadow_angle: float  # the shadow edge's normal, radians
    shadow_offset: float  # where its edge crosses, as a signed share of the half-diagonal from the centre
    shadow_softness: float  # its penumbra, px (hard: 0.5-3)
    exposure: float
    blur: float  # Gaussian sigma: soft focus
    noise: float
    quality: int  # JPEG quality


def random_desk_conditions(rng: np.random.Generator, digit: int = 0, **fixed) -> DeskConditions:
    """Conditions drawn at random for a phone photo of a digit on a sheet on a desk; `fixed` overrides."""
    from mnist_cnn import styles

    landscape = rng.random() < 0.5
    long_side, ratio = int(rng.integers(480, 721)), float(rng.choice([4 / 3, 16 / 9, 1.0]))
    height, width = (round(long_side / ratio), long_side) if landscape else (long_side, round(long_side / ratio))
    sides = tuple(sorted(int(s) for s in rng.choice(4, int(rng.integers(1, 5)), replace=False)))
    # each side's edge of the sheet: inside the frame where the desk is in view, past it where not (shares)
    edge = [float(rng.uniform(0.06, 0.22)) if s in sides else float(-rng.uniform(0.03, 0.25)) for s in range(4)]
    top, right, bottom, left = edge[0] * height, width - edge[1] * width, height - edge[2] * height, edge[3] * width
    jitter = 0.07 * min(height, width)
    base = [(left, top), (right, top), (right, bottom), (left, bottom)]
    corners = []
    for i, (x, y) in enumerate(base):  # perspective and a turn: each corner moved, kept off its neighbours
        dx, dy = rng.uniform(-jitter, jitter, 2)
        if (i in (0, 3) and 3 in sides) or (i in (1, 2) and 1 in sides):  # a visible side stays in the frame
            dx = abs(dx) if i in (0, 3) else -abs(dx)
        if (i in (0, 1) and 0 in sides) or (i in (2, 3) and 2 in sides):
            dy = abs(dy) if i in (0, 1) else -abs(dy)
        corners.append((float(x + dx), float(y + dy)))
    visible = [max(left, 0), max(top, 0), min(right, width), min(bottom, height)]
    size = float(rng.uniform(0.16, 0.34))
    half = [0.7 * size * min(height, width) + jitter] * 2
    centre = tuple(float(rng.uniform((lo + h) / n, max((lo + h) / n, (hi - h) / n)))
                   for lo, hi, h, n in ((visible[0], visible[2], half[0], width), (visible[1], visible[3], half[1],
                                                                                     height)))
    # the sheet's own size: its sides' mean lengths in the photo, so that a digit square on it is square in the photo
    # where the perspective is mild (the sheet's true shape matters not: only a part of it may be in view)
    pts = np.float32(corners)
    sheet = tuple(round(SHEET_PX * float(np.linalg.norm(pts[i] - pts[j]) + np.linalg.norm(pts[k] - pts[m])) / 2)
                  for i, j, k, m in ((0, 1, 3, 2), (0, 3, 1, 2)))
    sheet_w = sheet[0]
    lines = "ruled" if rng.random() < 0.5 else "squared"
    desk = DESKS[int(rng.choice(4, p=[0.4, 0.2, 0.2, 0.2]))]
    paper = float(rng.uniform(0.75, 0.95))
    levels = {"wood": (0.2, 0.55), "dark": (0.04, 0.15), "grey": (0.25, 0.45), "light": (0.5, 0.65)}[desk]
    pen = PENS[int(rng.integers(3))]
    strokes = bool(rng.random() < 0.3)
    values = {
        "height": height, "width": width, "corners": tuple(corners), "desk_sides": sides,
        "sheet": sheet, "paper": paper,
        "paper_tint": (1.0, float(rng.uniform(0.95, 1.0)), float(rng.uniform(0.85, 1.02))),
        "lines": lines, "spacing": float(rng.uniform(0.05, 0.09) * sheet_w) if lines == "ruled"
        else float(rng.uniform(0.035, 0.06) * sheet_w),
        "line_darkness": float(rng.uniform(0.15, 0.4)), "line_width": int(rng.integers(1, 3)),
        "margin": lines == "ruled" and rng.random() < 0.4, "strokes": strokes,
        "style": str(rng.choice(styles.STYLES[str(digit)])), "digit_size": size, "centre": centre, "pen": pen,
        "ink": float(rng.uniform(0.35, 0.6) if pen == "pencil" else rng.uniform(0.6, 0.9)), "desk": desk,
        "desk_level": float(min(rng.uniform(*levels), 0.8 * paper)),
        "desk_angle": float(rng.uniform(0, np.pi)), "gradient": float(rng.uniform(0.5, 0.95)),
        "gradient_angle": float(rng.uniform(0, 2 * np.pi)), "shadow": float(rng.uniform(0.4, 0.7)),
        "shadow_angle": float(rng.uniform(0, 2 * np.pi)), "shadow_offset": float(rng.uniform(-0.5, 0.5)),
        "shadow_softness": float(rng.uniform(0.5, 3)), "exposure": float(rng.uniform(0.75, 1.0)),
        "blur": float(rng.uniform(0.8, 2.0)), "noise": float(rng.uniform(2, 6)), "quality": int(rng.integers(55, 91)),
    }
    return DeskConditions(**{**values, **fixed})


def photograph_desk(digit: np.ndarray, label: int, conditions: DeskConditions, rng: np.random.Generator) -> np.ndarray:
    """A (28, 28) uint8 MNIST digit (light on dark), or when conditions.strokes a synthetic drawing of `label`
    (styles.draw_canvas), written on a sheet lying on a desk and photographed: uint8 RGB."""
    from mnist_cnn import styles

    c = conditions
    h, w = c.height, c.width
    sw, sh = c.sheet
    corners = np.float32(c.corners)
    to_photo = cv2.getPerspectiveTransform(np.float32([[0, 0], [sw, 0], [sw, sh], [0, sh]]), corners)
    to_sheet = np.linalg.inv(to_photo)

    # the sheet in its own frame: paper, grain, printed lines
    grain = cv2.GaussianBlur(rng.standard_normal((sh, sw), dtype=np.float32), (0, 0), 1.0)
    reflect = np.repeat((c.paper * (1 + 0.02 * grain))[..., None], 3, axis=2) * np.float32(c.paper_tint)
    ruled = np.zeros((sh, sw), np.uint8)
    offset = rng.uniform(0, c.spacing)
    for y in np.arange(offset, sh, c.spacing):
        cv2.line(ruled, (0, round(y)), (sw, round(y)), 255, c.line_width, cv2.LINE_AA)
    if c.lines == "squared":
        for x in np.arange(offset, sw, c.spacing):
            cv2.line(ruled, (round(x), 0), (round(x), sh), 255, c.line_width, cv2.LINE_AA)
    reflect *= 1 - (ruled.astype(np.float32) / 255 * c.line_darkness)[..., None] * np.float32([0.9, 0.7, 0.25])
    if c.margin:
        margin = np.zeros((sh, sw), np.uint8)
        x = round(sw * rng.uniform(0.08, 0.15))
        cv2.line(margin, (x, 0), (x, sh), 255, c.line_width + 1, cv2.LINE_AA)
        reflect *= 1 - (margin.astype(np.float32) / 255 * c.line_darkness)[..., None] * np.float32([0.1, 0.8, 0.7])

    # the digit, written on the sheet where it lands in the photo, at the size it has there
    glyph = styles.draw_canvas(label, c.style, rng) if c.strokes else digit
    glyph = glyph.astype(np.float32) / 255
    centre = np.float32([[[c.centre[0] * w, c.centre[1] * h]]])
    at = cv2.perspectiveTransform(centre, to_sheet)[0, 0]
    step = cv2.perspectiveTransform(centre + np.float32([[[1, 0]]]), to_sheet)[0, 0] - at
    per_px = float(np.hypot(*step))  # sheet px per photo px, near the digit
    side = c.digit_size * min(h, w) * 28 / 20 * per_px  # the 28 px field in sheet px
    if c.strokes:  # the canvas has no 28 px field: its ink spans ~ the box; fit its bounding box to 20/28 of side
        ys, xs = np.nonzero(glyph > 0.3)
        y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
        extent = max(y1 - y0, x1 - x0)
        pad = extent * 4 // 20
        glyph = np.pad(glyph[y0:y1, x0:x1], ((pad, pad + extent - (y1 - y0)), (pad, pad + extent - (x1 - x0))))
    corner = at - side / 2
    place = cv2.getAffineTransform(np.float32([[0, 0], [glyph.shape[1], 0], [0, glyph.shape[0]]]),
                                   np.float32([corner, corner + np.float32([side, 0]), corner + np.float32([0, side])]))
    alpha = cv2.warpAffine(glyph, place, (sw, sh), flags=cv2.INTER_CUBIC, borderValue=0)
    alpha = np.clip(alpha, 0, 1)
    if c.pen == "pencil":  # graphite: grainy and grey
        alpha *= np.clip(1 + 0.35 * cv2.GaussianBlur(rng.standard_normal((sh, sw), dtype=np.float32), (0, 0), 0.7),
                         0.3, 1.5)
    reflect *= 1 - np.clip(c.ink * alpha, 0, 0.95)[..., None] * np.float32(_PEN_COLOURS[c.pen])
    np.clip(reflect, 0, 1, out=reflect)

    # the desk: wood (grain along one direction, bands and streaks), or a flat dark, grey or light top
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if c.desk == "wood":
        along = xx * np.cos(c.desk_angle) + yy * np.sin(c.desk_angle)
        across = -xx * np.sin(c.desk_angle) + yy * np.cos(c.desk_angle)
        wobble = cv2.GaussianBlur(rng.standard_normal((h, w), dtype=np.float32), (0, 0), 25) * 60
        bands = 0.5 + 0.5 * np.sin((across + wobble + 0.02 * along) / rng.uniform(6, 14))
        streaks = cv2.GaussianBlur(rng.standard_normal((h, w), dtype=np.float32), (0, 0), 1.5)
        tone = c.desk_level * (0.8 + 0.3 * bands + 0.1 * streaks)
        desk = tone[..., None] * np.float32([1.0, 0.72, 0.48])
    else:
        tone = c.desk_level * (1 + 0.03 * cv2.GaussianBlur(rng.standard_normal((h, w), dtype=np.float32), (0, 0), 2))
        desk = tone[..., None] * np.float32([1.0, 0.98, 0.95])
    sheet = cv2.warpPerspective(reflect, to_photo, (w, h), flags=cv2.INTER_AREA if per_px > 1 else cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
    cover = cv2.warpPerspective(np.ones((sh, sw), np.float32), to_photo, (w, h), flags=cv2.INTER_LINEAR)[..., None]
    scene = sheet + desk * (1 - cover)

    # the light: falling off across the frame and a hard shadow over part of it
    cx, cy, radius = w / 2, h / 2, np.hypot(w, h) / 2
    along = ((xx - cx) * np.cos(c.gradient_angle) + (yy - cy) * np.sin(c.gradient_angle)) / radius
    light = 1 - (1 - c.gradient) * (along + 1) / 2
    across = (xx - cx) * np.cos(c.shadow_angle) + (yy - cy) * np.sin(c.shadow_angle) - c.shadow_offset * radius
    light *= c.shadow + (1 - c.shadow) / (1 + np.exp(-np.clip(across / max(c.shadow_softness / 4, 0.25), -30, 30)))
    scene = scene * (light * c.exposure)[..., None]

    # the camera: soft focus, tone curve, noise, JPEG
    scene = cv2.GaussianBlur(scene, (0, 0), c.blur)
    pixels = 255 * np.clip(scene, 0, 1, dtype=np.float32) ** np.float32(1 / 2.2)
    pixels += rng.standard_normal((h, w, 1), dtype=np.float32) * np.float32(c.noise)
    rgb = np.clip(np.round(pixels), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="JPEG", quality=c.quality)
    with Image.open(buffer) as decoded:
        return np.asarray(decoded.convert("RGB"))


def desk_set(digits: np.ndarray, labels: np.ndarray, seed: int = 0,
             **fixed) -> tuple[list[np.ndarray], list[DeskConditions]]:
    """A desk photo of each digit (or, in 30 %, a synthetic drawing of its label), with its conditions: the same
    seed gives the same photos. Tune on training digits; the test digits are for measuring."""
    rng = np.random.default_rng(seed)
    conditions = [random_desk_conditions(rng, int(label), **fixed) for label in labels]
    photos = [photograph_desk(d, int(label), c, rng) for d, label, c in zip(digits, labels, conditions, strict=True)]
    return photos, conditions


# ---- the reference: the picture path before photos were handled, copied from mnist_cnn/drawing.py as it was ----
# (canvas_to_mnist, canvas_stages, _grey and _ink, names prefixed; only bench/run.py's `photos` part uses them)

_MIN_CONTRAST, _INK_LEVEL, _FLOOR, _BOX, _SIZE, _CENTRE = 32, 0.3, 0.1, 20, 28, 14.0


@dataclass(frozen=True)
class ReferenceStages:
    crop: np.ndarray
    box: np.ndarray
    centred: np.ndarray


def reference_canvas_to_mnist(image: np.ndarray) -> np.ndarray | None:
    """The REFERENCE (old) picture path: everything darker (or lighter) than the border's median is ink."""
    stages = reference_canvas_stages(image)
    return None if stages is None else stages.centred


def reference_canvas_stages(image: np.ndarray) -> ReferenceStages | None:
    ink = _reference_ink(_reference_grey(image))
    peak = float(ink.max())
    if peak < _MIN_CONTRAST:
        return None
    x, y, w, h = cv2.boundingRect((ink >= _INK_LEVEL * peak).astype(np.uint8))
    crop = np.clip((ink[y : y + h, x : x + w] - _FLOOR * peak) / ((1 - _FLOOR) * peak), 0, 1)
    scale = _BOX / max(w, h)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    box = np.clip(cv2.resize(crop, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR), 0, 1)
    field = np.zeros((_SIZE, _SIZE), np.float32)
    top, left = (_SIZE - size[1]) // 2, (_SIZE - size[0]) // 2
    field[top : top + size[1], left : left + size[0]] = box
    m = cv2.moments(field)
    shift = np.float32([[1, 0, round(_CENTRE - m["m10"] / m["m00"])], [0, 1, round(_CENTRE - m["m01"] / m["m00"])]])
    centred = cv2.warpAffine(field, shift, (_SIZE, _SIZE), flags=cv2.INTER_NEAREST, borderValue=0)
    return ReferenceStages(crop.astype(np.float32), box, centred)


def _reference_grey(image):
    a = np.asarray(image)
    if a.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got {a.dtype}")
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim == 2:
        return a
    if a.ndim != 3 or a.shape[2] not in (3, 4):
        raise ValueError(f"expected a grey (H,W), RGB (H,W,3) or RGBA (H,W,4) image, got shape {a.shape}")
    grey = cv2.cvtColor(np.ascontiguousarray(a[..., :3]), cv2.COLOR_RGB2GRAY)
    if a.shape[2] == 3 or a[..., 3].min() == 255:
        return grey
    alpha = a[..., 3].astype(np.float32) / 255
    bright_ink = (grey * alpha).sum() >= 127.5 * alpha.sum()
    background = 0.0 if bright_ink else 255.0
    return np.round(grey * alpha + background * (1 - alpha)).astype(np.uint8)


def _reference_ink(grey):
    g = grey.astype(np.float32)
    border = np.concatenate([g[0], g[-1], g[:, 0], g[:, -1]])
    background = float(np.median(border))
    if background > 127.5:
        g, background = 255 - g, 255 - background
    return np.maximum(g - background, 0)
