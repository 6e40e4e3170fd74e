"""Drawings and photos of digits to 28x28 MNIST-style images, made the way MNIST itself was made.

Two routes, chosen by the picture itself (canvas_stages), both ending in the same fitting (_fitted): the ink's
bounding box, its longest side scaled to 20 px, placed in 28x28 with its centre of mass at the centre.

- A drawing (the canvas: white ink on opaque black; any picture whose border's background is one flat level):
  ink is what stands above the border's level. Unchanged, and as fast as before (BENCHMARKS.md, "Photos").
- A photo (noise, grain or uneven light on the border): read at most WORK px a side; the polarity from what
  stands out of the local median; the paper as lit estimated by a closing larger than any stroke (the border
  repeated outwards, so the table beyond the page stays background) and divided out, so light falling off, a
  vignette and a shadow's edge go; printed ruled or squared lines taken away (a grey opening along rows and
  columns, kept only where it spans the page thinly, capped at the line's own strength so a stroke along a line
  stays); Otsu's threshold with hysteresis; the digit the connected ink with the most strength away from the
  frame's edges, with the parts near it (a 5's bar, a 4's second stroke); then once more with the background's
  kernel fitted to the strokes found, which follows a shadow's edge more closely. Stages.flattened and
  Stages.ink show the two new steps.
- A photo of a sheet lying on a desk in view (paper.find_sheet, a hard shadow's edge across it lifted first): the
  steps above on the sheet alone (warped onto its own aspect where its four corners are in view, the desk filled
  in with the paper's light), its ink darker than it, a fainter digit allowed (SHEET_CONTRAST); if the digit
  found reaches the desk, the sheet as the next readings found it, and last the whole picture as before; a later
  reading's sheet is read instead of an earlier one when its digit holds MORE_INK times that one's ink.
  Stages.sheet shows the sheet read.
"""

import io
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import cv2
import numpy as np
from PIL import ExifTags, Image, ImageOps, JpegImagePlugin, PngImagePlugin, TiffImagePlugin, UnidentifiedImageError

from .data import INPUT_SHAPE
from .errors import ImageError
from .paper import find_sheet

# Pillow keeps up to 64 MB of a PNG's decompressed text chunks as it opens it: 60 zTXt chunks of 1 MB in a 63 KB
# file took +61 MB before any size was checked. The app reads no text; a photo's metadata stays well within these.
PngImagePlugin.MAX_TEXT_CHUNK, PngImagePlugin.MAX_TEXT_MEMORY = 2**20, 2**22

MIN_CONTRAST = 32  # grey levels ink must stand above the background; less is a blank page
SHEET_CONTRAST = 20  # ...on a sheet found on a desk: pencil in its shadow stood 27-31 levels above the paper
INK_LEVEL = 0.3  # share of the strongest ink that counts towards the bounding box (drops paper noise)
FLOOR = 0.1  # share of full ink below which a pixel is background
BOX = 20  # MNIST fits each digit's longest side to 20 px...
SIZE = INPUT_SHAPE[0]  # ...inside a 28x28 field...
CENTRE = 14.0  # ...with its centre of mass here (the training set's mean, in pixel indices)
# photos: pictures whose border is not one flat level (see canvas_stages and _photo)
FLAT, FLAT_SHARE = 0.5, 0.8  # a drawing: 80 % of its border's background pixels at the median's level (half a
# level: a median between two). JPEG keeps a drawing's flat background exact (at quality 30-60: 87 % at least); a
# desk photo's smooth border held 62 % at most (within 2 levels, four desk photos of 2,000 held 90 % and more: read
# as drawings, all four misread)
WORK = 512  # a photo is read at most this many pixels a side
# pictures (read_image): what decoding one may cost a server that all visitors share (~1 GB), from its header.
# Measured in a process holding TensorFlow and the model (python -m tools.budget, BENCHMARKS.md "Uploads")
FORMATS = ("PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP")  # each one's cost measured; an ICO can hide a larger PNG
MAX_PIXELS = 80_000_000  # a sanity cap, from the header: a baseline JPEG is decoded at 1/8 (50 MP: +25 MB, 0.6 s;
# 100 MP: 1.1 s), so the cap is time, and Pillow's bomb warning at 89 MP, not memory (40 MP used to take +700 MB)
MAX_DECODED_MB = 48  # what one picture's decoding may allocate, from its header: a 12 MP RGB PNG (46 MB) fits. With
# the upload's 20 MB and the steps after, the most a picture read raised the peak was +69 MB; four at once +258 MB
BOUND = 2 * WORK  # a larger picture is read shrunk by a whole factor to at most this many px a side, in grey...
STRIP = 32  # ...STRIP of its rows at a time, so only a strip of the decoded picture is ever converted or copied
WEBP_COPIES = 4  # libwebp's two canvases, the frame's bytes and Pillow's image: measured 16 bytes a pixel
PAPER_KERNEL = 5  # the first background estimate's kernel: a fifth of the shorter side, wider than any stroke
STROKE_KERNEL = 4  # the second one's: four stroke widths (a closer fit along shadow edges)
MIN_STRENGTH = 0.1  # ink takes at least this share of the paper's light, whatever Otsu's threshold says
FRAME = 0.02  # a mark within this share of the longer side of the frame's edge is not the digit's if another is
# (a shadow's wedge, the desk at a sheet's edge): desk photos of training digits, tuning sets 1 / 2 and the set
# kept aside, 97.0 / 97.75 / 97.0 % with the frame's edge itself -> 97.0 / 98.0 / 98.25 %
LOW = 0.6  # hysteresis: a part above this share of the threshold is ink if some of it is above the threshold
PART = 0.05  # another part of the digit holds at least this share of the main part's ink (a 5's bar, a 4's
NEAR = 0.25  # second stroke) and lies within this share of the digit's size of it
MORE_INK = 3  # a desk photo's later sheet is read instead when its digit holds this many times the first's ink
LINE_RUN = 5  # printed lines: strength that runs unbroken along a fifth of the shorter side...
LINE_LEVEL, LINE_GREY = 0.04, 6  # ...of at least this share of the light and this many grey levels...
LINE_SPAN = 0.6  # ...over this share of the page's width (rows) or height (columns)...
LINE_WIDTH = 0.035  # ...at most this thick, as a share of the shorter side (10 px in 280)...
LINE_CAP = 1.5  # ...is taken away, up to this many times the line's median strength
POLARITY_NOISE = 8  # grey levels of noise left out when weighing marks darker and lighter than the paper
OUTLINED_DIM = 0.6  # Stages.sheet: the photo at this share of its light, so the outline drawn at 1 stands out


@dataclass(frozen=True)
class Stages:
    """The preprocessing steps, for showing: each a float32 image in [0, 1], ink bright.

    `flattened` and `ink` are set only when the picture was read as a photo (its background is not one flat
    level, see canvas_stages); a canvas drawing or a clean picture leaves them None. `sheet` is set only when a
    photo was read on a sheet found lying on a desk (then `flattened` and `ink` are the sheet's, not the photo's)."""

    crop: np.ndarray  # the ink's bounding box, at the input's resolution (a photo's: at most WORK px a side)
    box: np.ndarray  # the crop with its longest side scaled to 20 px
    centred: np.ndarray  # (28, 28): the box placed with its centre of mass at the centre; what the model sees
    flattened: np.ndarray | None = None  # a photo with its light, shadows and printed lines removed: ink strength
    ink: np.ndarray | None = None  # a photo's digit found in it: the mask of the ink kept (1), the rest 0
    sheet: np.ndarray | None = None  # a photo of a sheet on a desk: the photo dimmed, the sheet's outline drawn

    @property
    def photo(self) -> bool:
        """Whether the picture was read as a photo (background removed, the digit's ink found)."""
        return self.flattened is not None


def canvas_to_mnist(image: np.ndarray) -> np.ndarray | None:
    """A uint8 grey, RGB or RGBA image of a digit, any size and polarity, as float32 (28, 28); None if blank."""
    stages = canvas_stages(image)
    return None if stages is None else stages.centred


def canvas_stages(image: np.ndarray) -> Stages | None:
    """Like canvas_to_mnist, but return every stage (a Stages), or None when there is no ink.

    A picture whose border is one flat level (a canvas drawing, a rendered digit) is read as drawn: ink is what
    stands above that level. Any other picture is read as a photo (see _photo): its background is estimated and
    divided out, printed lines are taken away, and the digit is the main connected ink."""
    grey = _grey(image)
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]]).astype(np.float32)
    background = float(np.median(border))  # ink is rarely most of the border, even when it touches it
    if not _flat(border, background):
        return _photo(grey)
    ink = _ink(grey, background)
    del grey  # freed before the next arrays are made: measured 10 % faster on a 280x280 canvas
    peak = float(ink.max())
    if peak < MIN_CONTRAST:
        return None
    return _fitted(ink, peak, (ink >= INK_LEVEL * peak).astype(np.uint8))


def _ink(grey, background):
    """Ink strength above the flat background, as float32: light-on-dark and dark-on-light alike."""
    g = grey.astype(np.float32)
    if background > 127.5:  # dark ink on light paper
        g, background = 255 - g, 255 - background
    return np.maximum(g - background, 0)


def _fitted(strength, full, strong, **photo) -> Stages:
    """The ink's box around the `strong` pixels, fitted into 20x20 and centred by mass in 28x28, as MNIST was;
    `strength` at `full` and above is full ink (1)."""
    x, y, w, h = cv2.boundingRect(strong)
    crop = np.clip((strength[y : y + h, x : x + w] - FLOOR * full) / ((1 - FLOOR) * full), 0, 1)
    scale = BOX / max(w, h)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    # area interpolation anti-aliases when shrinking; linear is the smooth choice when enlarging
    box = np.clip(cv2.resize(crop, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR), 0, 1)
    field = np.zeros((SIZE, SIZE), np.float32)
    top, left = (SIZE - size[1]) // 2, (SIZE - size[0]) // 2
    field[top : top + size[1], left : left + size[0]] = box
    m = cv2.moments(field)
    # whole-pixel shift keeps strokes as sharp as MNIST's
    shift = np.float32([[1, 0, round(CENTRE - m["m10"] / m["m00"])], [0, 1, round(CENTRE - m["m01"] / m["m00"])]])
    centred = cv2.warpAffine(field, shift, (SIZE, SIZE), flags=cv2.INTER_NEAREST, borderValue=0)
    return Stages(crop.astype(np.float32), box, centred, **photo)


def _flat(border, background):
    """Whether the border's background pixels sit at one level (JPEG keeps a flat area's): a drawing, not a photo.

    Ink on the border is left out (more than MIN_CONTRAST / 2 from the median); of the rest, a canvas has every
    pixel at the level, a photo's noise, grain and uneven light spread them."""
    near = np.abs(border - background)
    paper = np.count_nonzero(near < MIN_CONTRAST / 2)
    return np.count_nonzero(near <= FLAT) >= FLAT_SHARE * paper


def _photo(grey):
    """A photo of a digit on paper: the paper's light divided out, printed lines taken away, the main connected
    ink kept; None if there is none. A sheet lying on a desk (paper.find_sheet) is read on the sheet alone and on
    the sheet as other readings found it (Sheet.others). Of those whose digit stays off the part filled in, the
    first is kept, or a later one whose digit holds MORE_INK times the ink of the one kept before it; the picture
    as a whole is read if none."""
    h, w = grey.shape
    scale = WORK / max(h, w)
    if scale < 1:  # a phone's 12 MP: the digit needs far fewer pixels, and every step below gets faster
        grey = cv2.resize(grey, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    sheet = find_sheet(grey)
    if sheet is None:
        return _picture(grey)
    found, chosen = False, None
    for candidate in (sheet, *sheet.others):
        read = _page(candidate.page, _outlined(grey, candidate.outline))
        found |= read is not None
        if read is None:
            continue
        stages, ink = read
        # the digit is written on the sheet: ink reaching what was filled in means the sheet found is cut short (a
        # shadow's edge taken for the sheet's); then the next reading's sheet, and last the whole picture is read
        if (stages.ink.astype(bool) & ~cv2.erode(candidate.kept.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(
                bool)).any():
            continue
        # a later sheet whose digit holds MORE_INK times the ink: the one before was a lit part of the sheet or the
        # desk, its "digit" a sliver of shadow, the desk's grain or printed lines crossing. Desk photos of training
        # digits misread, of 2,000 / 400 / 400: 40 / 8 / 5 -> 35 / 7 / 4; MORE_INK 2: 37 / 7 / 4; 4: 33 / 7 / 5
        if chosen is None or ink > MORE_INK * chosen[1]:
            chosen = stages, ink
    return chosen[0] if chosen is not None else _picture(grey, dark=found)


def _picture(grey, dark=False):
    """The whole picture read as a page: its Stages, or None."""
    read = _page(grey, None, dark)
    return None if read is None else read[0]


def _page(grey, outline, dark=False):
    """_photo's steps on a page (the photo, or the sheet found in it, with `outline` its Stages.sheet): (Stages,
    the digit's ink: the share of light it takes summed over its pixels), or None; `dark`: the ink is known to be
    darker than the paper."""
    h, w = grey.shape
    smooth = cv2.medianBlur(grey, 5)  # sensor noise and JPEG speckle gone, edges kept
    k = max(15, min(h, w) // PAPER_KERNEL) | 1
    if not dark and outline is None and not _dark_ink(smooth, k):  # light ink on a dark board: made dark ink on
        grey, smooth = 255 - grey, 255 - smooth  # light paper (a sheet's ink is darker than it)
    page = grey.astype(np.float32)
    found = _found(page, smooth, k, outline is not None)
    if found is None:
        return None
    # again with a kernel fitted to the strokes, which follows a shadow's edge more closely, so that a stroke
    # running along it stays ink (the mean distance to the edge over a stroke is a quarter of its width)
    width = 4 * float(cv2.distanceTransform(found[2].astype(np.uint8), cv2.DIST_L2, 3)[found[2]].mean())
    fitted = max(15, round(STROKE_KERNEL * width)) | 1
    if fitted < k:
        found = _found(page, smooth, fitted, outline is not None) or found
    strength, contrast, mask = found
    # in grey levels, as for a drawing: else a blank page (a sheet's pencil in its shadow may be fainter)
    if float(contrast[mask].max()) < (MIN_CONTRAST if outline is None else SHEET_CONTRAST):
        return None
    near = cv2.dilate(mask.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)  # the strokes' soft edges
    ink = np.where(near, strength, 0).astype(np.float32)
    peak = float(ink[mask].max())  # the digit's own: a stronger mark beside it (left out) sets no level
    if peak <= 0:  # only the soft edges of strokes taken for printed lines were found (a 34 px drawing, its long
        return None  # bar across the frame): nothing to scale by
    strong = mask & (ink >= INK_LEVEL * peak)
    # full ink at the strokes' median, as in MNIST (its strokes' median is 0.97 of full): a pen's line fades from its
    # darkest point, and scaled to that point a desk photo's digit held 0.69 of the clean digit's ink (median)
    return _fitted(ink, float(np.median(ink[strong])), strong.astype(np.uint8),
                   flattened=np.clip(strength / peak, 0, 1).astype(np.float32), ink=mask.astype(np.float32),
                   sheet=outline), float(strength[mask].sum())


def _outlined(grey, outline):
    """The photo dimmed, with the sheet's outline drawn over it in full light: the sheet found (Stages.sheet)."""
    picture = (grey.astype(np.float32) / 255 * OUTLINED_DIM).astype(np.float32)
    width = max(1, round(max(grey.shape) / 170))
    cv2.polylines(picture, [np.round(outline).astype(np.int32)], True, 1.0, width, cv2.LINE_AA)
    return picture


def _dark_ink(smooth, k):
    """Whether the ink is darker than the paper: of what stands out from the local median (the paper, since ink
    is sparse), more is darker than lighter. The border's level says so too, unless a shadow or the table beyond
    the page darkens most of it."""
    half = cv2.resize(smooth, (max(1, smooth.shape[1] // 2), max(1, smooth.shape[0] // 2)),
                      interpolation=cv2.INTER_AREA)
    residual = half.astype(np.int16) - cv2.medianBlur(half, max(3, k // 2 | 1))
    darker = np.maximum(-residual - POLARITY_NOISE, 0).sum()
    return bool(darker >= np.maximum(residual - POLARITY_NOISE, 0).sum())


def _found(page, smooth, k, sheet):
    """(strength, contrast, mask): the share of the paper's light the ink takes with printed lines taken away,
    the ink's contrast in grey levels, and the mask of the digit found in it; None if none is found. `sheet`: the
    page is a sheet found on a desk."""
    # the paper as lit: a closing (the largest value near each pixel, then the smallest of those) fills in every
    # dark mark narrower than the kernel and keeps wider shading: gradients, vignetting, shadow edges. The border
    # is repeated outwards first, so that dark touching the frame (the table beyond the page) is wide.
    pad = k // 2 + 1
    padded = cv2.copyMakeBorder(smooth, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    paper = cv2.morphologyEx(padded, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (k, k)))
    paper = np.maximum(paper[pad:-pad, pad:-pad].astype(np.float32), 1)
    strength = 1 - np.minimum(page / paper, 1)  # the share of light the ink takes, in the light or in a shadow
    calm = cv2.GaussianBlur(strength, (0, 0), 1.0)  # noise down, thin lines kept (a median would break them)
    lines = _lines(calm, paper)
    # the closing lifts the paper's estimate by a little of its noise: what most of the page shows is paper
    offset = lines + float(np.median(calm[::3, ::3]))
    strength, calm = np.maximum(strength - offset, 0), np.maximum(calm - offset, 0)
    level = np.clip(calm * 255, 0, 255).astype(np.uint8)
    labels, stats, strong, inside = _parts(level)
    if not (strong[inside] > 0).any() and not inside.all():
        # every mark above the threshold touches the frame. A wide, strong one there (a shadow's wedge) may have set
        # the threshold above the digit's ink: it is found again without them. On a sheet found on a desk, what
        # touches its edge is no digit (a digit cut by it means the sheet was found short, and _photo reads the
        # next); on a whole picture it may be (a photo cropped close), unless a digit is found away from the edge
        again = _parts(np.where(inside[labels], level, 0).astype(np.uint8))
        if sheet or (again[2][again[3]] > 0).any():
            labels, stats, strong, inside = again
    keep = _digit(calm, labels, stats, strong, inside)
    if keep is None:
        return None
    mask = np.isin(labels, keep)
    return strength, (paper - smooth) * mask, mask


def _lines(strength, paper):
    """Printed lines: the part of the ink strength that runs unbroken along rows or columns across the page.

    A grey opening with a long thin kernel keeps, at each pixel, the weakest strength along a run through it: a
    ruled line keeps its own, a digit's stroke crossing it keeps only the line's. Of that, only what spans most of
    the page (gaps shorter than the kernel bridged) and is thin is a line; a digit's long stroke is neither."""
    h, w = strength.shape
    n = max(15, min(h, w) // LINE_RUN) | 1
    found = np.zeros_like(strength)
    for kernel, span in (((1, n), w), ((n, 1), h)):
        run = cv2.morphologyEx(strength, cv2.MORPH_OPEN, np.ones(kernel, np.uint8))
        # a line stands out of the paper's noise in grey levels too (in the dark, division magnifies noise)
        marked = ((run > LINE_LEVEL) & (run * paper > LINE_GREY)).astype(np.uint8)
        marked = cv2.morphologyEx(marked, cv2.MORPH_CLOSE, np.ones(kernel, np.uint8))
        _, labels, stats, _ = cv2.connectedComponentsWithStats(marked, connectivity=8)
        lengths = stats[:, cv2.CC_STAT_WIDTH if span == w else cv2.CC_STAT_HEIGHT]
        line = lengths >= LINE_SPAN * span
        line[0] = False
        if line.any():
            # a line's own strength is its median where it is thin; where a digit's stroke runs along the line the
            # run is the stroke's, so it is capped there at the line's, and the stroke stays
            level = _line_levels(labels, run, line, 1 if span == w else 0, LINE_WIDTH * min(h, w))
            cap = cv2.dilate((LINE_CAP * level)[labels], np.ones((3, 3), np.uint8))
            found += np.minimum(run, cap)  # where lines cross, the page is darkened by both
    return found


def _line_levels(labels, run, wanted, along, limit):
    """For each wanted label (a bool per label) that is a line, the line's own strength, else 0 (float32 per label).

    A line is thin where a digit does not lie on it: at most `limit` px across at the median position along axis
    `along` (1: a row). Its strength is the median of `run` over those thin positions, the digit's left out."""
    ids = np.flatnonzero(wanted)
    index = np.full(len(wanted), -1)
    index[ids] = np.arange(len(ids))
    which = index[labels]
    chosen = which >= 0
    cell = which[chosen] * labels.shape[along] + np.indices(labels.shape)[along][chosen]
    counts = np.bincount(cell, minlength=len(ids) * labels.shape[along])
    across = counts.reshape(len(ids), -1).astype(np.float32)
    thin = np.nanmedian(np.where(across > 0, across, np.nan), axis=1) <= limit
    keep = (counts[cell] <= limit) & thin[which[chosen]]
    group, value = which[chosen][keep], run[chosen][keep]
    order = np.lexsort((value, group))
    group, value = group[order], value[order]
    starts, sizes = np.searchsorted(group, np.arange(len(ids))), np.bincount(group, minlength=len(ids))
    levels = np.zeros(len(wanted), np.float32)
    has = sizes > 0
    levels[ids[has]] = value[starts[has] + sizes[has] // 2]
    return levels


def _parts(level):
    """The marks in a uint8 ink level: (labels, stats, strong, inside). Otsu's threshold with hysteresis labels
    them; `strong` counts each one's pixels above the threshold, `inside` says whether it lies FRAME away from the
    frame's edges (the background, label 0, counts as inside)."""
    otsu, _ = cv2.threshold(level, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    high = max(otsu, MIN_STRENGTH * 255)
    count, labels, stats, _ = cv2.connectedComponentsWithStats((level >= LOW * high).astype(np.uint8), connectivity=8)
    strong = np.bincount(labels.ravel(), weights=(level >= high).ravel(), minlength=count)
    h, w = level.shape
    m = max(1, round(FRAME * max(h, w)))
    x, y, bw, bh = stats[:, 0], stats[:, 1], stats[:, 2], stats[:, 3]
    inside = (x >= m) & (y >= m) & (x + bw <= w - m) & (y + bh <= h - m)
    inside[0] = True
    return labels, stats, strong, inside


def _digit(strength, labels, stats, strong, inside):
    """The labels of the digit's parts (see _parts), or None: the part with the most ink (of those with some
    pixels above the threshold) away from the frame's edges, if any is, and the parts near it."""
    mass = np.bincount(labels.ravel(), weights=strength.ravel(), minlength=len(stats))
    mass[0] = 0
    mass[strong == 0] = 0
    x, y, bw, bh = stats[:, 0], stats[:, 1], stats[:, 2], stats[:, 3]
    inside = inside & (mass > 0)
    main = int(np.argmax(np.where(inside, mass, 0))) if inside.any() else int(np.argmax(mass))
    if mass[main] <= 0:
        return None
    keep = [main]
    left, top, right, bottom = x[main], y[main], x[main] + bw[main], y[main] + bh[main]
    candidates = set(np.flatnonzero(inside & (mass >= PART * mass[main])).tolist()) - {main}
    grown = True
    while grown:  # the box grows with each part taken in, and may reach further parts
        grown = False
        gap = NEAR * max(right - left, bottom - top)
        for i in sorted(candidates):
            near = x[i] <= right + gap and x[i] + bw[i] >= left - gap
            if near and y[i] <= bottom + gap and y[i] + bh[i] >= top - gap:
                keep.append(i)
                candidates.discard(i)
                left, top = min(left, x[i]), min(top, y[i])
                right, bottom = max(right, x[i] + bw[i]), max(bottom, y[i] + bh[i])
                grown = True
    return keep


def _grey(image):
    """Grey uint8 from grey, RGB or RGBA; transparency is laid over the background that shows the ink."""
    a = np.asarray(image)
    if a.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got {a.dtype}")
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim == 2:
        return a
    if a.ndim != 3 or a.shape[2] not in (3, 4):
        raise ValueError(f"expected a grey (H,W), RGB (H,W,3) or RGBA (H,W,4) image, got shape {a.shape}")
    # the same weights either way; straight from RGBA saves copying out the colour planes (~0.35 ms a canvas)
    grey = cv2.cvtColor(np.ascontiguousarray(a), cv2.COLOR_RGBA2GRAY if a.shape[2] == 4 else cv2.COLOR_RGB2GRAY)
    if a.shape[2] == 3 or a[..., 3].min() == 255:
        return grey
    alpha = a[..., 3].astype(np.float32) / 255
    # light ink goes on black, dark ink on white, so a digit drawn only in alpha never vanishes
    bright_ink = (grey * alpha).sum() >= 127.5 * alpha.sum()
    background = 0.0 if bright_ink else 255.0
    return np.round(grey * alpha + background * (1 - alpha)).astype(np.uint8)


def read_image(source: str | Path | bytes | BinaryIO, name: str | None = None) -> np.ndarray:
    """Decode an image file (path, bytes or binary file) to a uint8 grey, RGB or RGBA array.

    `name` is what error messages call it (default: the path, or "the image"). A picture over BOUND px a side is
    read shrunk by a whole factor to at most BOUND (a JPEG by libjpeg as it decodes), in grey unless transparent;
    one whose decoding would take more than MAX_DECODED_MB is refused from its header."""
    name = name or (str(source) if isinstance(source, (str, Path)) else "the image")
    if isinstance(source, (bytes, bytearray)):
        source = io.BytesIO(source)
    too_large = f"{name} is too large: at most {MAX_PIXELS:,} pixels"
    try:
        with Image.open(source, formats=FORMATS) as im:
            width, height = im.size
            if width * height > MAX_PIXELS:
                raise ImageError(f"{too_large}, it has {width}x{height}")
            factor = _factor(im.size)
            shrink = factor > 1
            if shrink:  # a JPEG is decoded at 1/2, 1/4 or 1/8 of its size, in grey; the other formats ignore this
                im.draft("L", (max(1, width // factor), max(1, height // factor)))
            _check_fits(im, width, height, name)
            im = ImageOps.exif_transpose(_shrunk(im, shrink))  # photos from phones carry their rotation in EXIF
            mode = _mode(im, grey=shrink)
            if mode == "I":  # 16/32-bit grey: keep the top 8 bits of a 16-bit range
                return (np.asarray(im, dtype=np.float64) / 257).clip(0, 255).astype(np.uint8)
            return np.asarray(im.convert(mode))
    except FileNotFoundError:
        raise ImageError(f"image not found: {name}") from None
    except Image.DecompressionBombError:  # Pillow's own limit, met before ours for the largest headers
        raise ImageError(too_large) from None
    except UnidentifiedImageError:
        raise ImageError(f"{name} is not an image this app can read (PNG, JPEG, GIF, BMP, TIFF, WebP)") from None
    except (OSError, SyntaxError, ValueError) as e:  # truncated or malformed data
        raise ImageError(f"{name} could not be decoded ({e})") from None


def _mode(im, grey):
    """The mode a picture is read in: "I" (16/32-bit grey, scaled after), RGBA if transparent, else L or RGB."""
    if im.mode.startswith("I"):
        return "I"
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info:
        return "RGBA"
    return "L" if grey or im.mode in ("L", "1", "F") else "RGB"


def _check_fits(im, width, height, name):
    """Refuse, from its header, a picture whose decoding would take more than MAX_DECODED_MB: Pillow's image (after
    the draft), in 1 byte a pixel for L and P, 2 for 16-bit grey, 4 for the rest (RGB too); WebP's copies; a TIFF's
    buffers; libjpeg's coefficients of the whole image for a JPEG in several scans."""
    pixels = im.width * im.height * (WEBP_COPIES if im.format == "WEBP" else 1) + _tiff_extra(im)
    per_pixel = 1 if im.mode in ("1", "L", "P") else 2 if im.mode.startswith("I;16") else 4
    coefficients = _coefficients(im, width, height)
    mb = (pixels * per_pixel + coefficients) / 2**20
    if mb > MAX_DECODED_MB:
        kind = f"{im.mode} {im.format}"
        if coefficients:
            kind = "progressive JPEG" if im.info.get("progressive") else "JPEG in several scans"
        raise ImageError(f"{name} is too large to read: {width}x{height} {kind} takes {mb:.0f} MB decoded, at most "
                         f"{MAX_DECODED_MB} MB (a {'baseline ' if coefficients else ''}JPEG may be larger: it is "
                         "decoded scaled down)")


def _tiff_extra(im):
    """Pixels a TIFF takes besides its image (0 for the other formats): a second image if Pillow turns it by its
    orientation as it loads it (measured: 52 MB for a 6000x4000 L TIFF turned, 29 MB not), and the buffer libtiff
    decodes a compressed strip or tile into, as the tags claim (a tile far larger than the image counts)."""
    if not isinstance(im, TiffImagePlugin.TiffImageFile):
        return 0
    tags = im.tag_v2
    turned = im.width * im.height if tags.get(ExifTags.Base.Orientation, 1) in range(2, 9) else 0
    if not im.use_load_libtiff:
        return turned
    if TiffImagePlugin.TILEWIDTH in tags:
        width, rows = tags[TiffImagePlugin.TILEWIDTH], tags.get(TiffImagePlugin.TILELENGTH)
    else:  # libtiff takes at most the image's height for a strip
        width, rows = im.width, tags.get(TiffImagePlugin.ROWSPERSTRIP, im.height)
        rows = min(rows, im.height) if isinstance(rows, int) else rows
    if not (isinstance(width, int) and isinstance(rows, int)):
        raise ValueError("its tile or strip size is not a number")
    return turned + max(width, im.width) * rows  # Pillow's RGBA path (YCbCr) takes rows of the image's width


def _coefficients(im, width, height):
    """Bytes of the coefficients libjpeg keeps of the whole image to decode a JPEG in several scans (progressive, or
    a first scan without every component), at any draft's scale: 2 a coefficient, 64 an 8x8 block of each
    component (measured: 69 MB for a 24 MP progressive JPEG, 4:2:0; 229 MB at 40 MP, 4:4:4). 0 for the rest."""
    if not isinstance(im, JpegImagePlugin.JpegImageFile):
        return 0
    if not im.info.get("progressive") and _first_scan_components(im.fp) == len(im.layer):
        return 0
    h_max, v_max = (max(1, *(layer[i] for layer in im.layer)) for i in (1, 2))
    return 2 * width * height * sum(h * v for _, h, v, _ in im.layer) // (h_max * v_max)


def _first_scan_components(fp):
    """How many components a JPEG's first scan holds, its markers read the way Pillow reads them (0: no scan)."""
    at = fp.tell()
    fp.seek(2)  # after the start of image
    marker, count = fp.read(2), 0
    while len(marker) == 2 and not count:
        if marker[0] != 0xFF or marker[1] in (0x00, 0xFF):  # junk or padding: one byte on
            marker = marker[1:] + fp.read(1)
            continue
        if marker[1] == 0xDA:  # start of scan: its length, then the number of components
            scan = fp.read(3)
            count = scan[2] if len(scan) == 3 else -1
        elif not 0xD0 <= marker[1] <= 0xD9:  # a marker with a length (the restarts, start and end have none)
            fp.seek(int.from_bytes(fp.read(2), "big") - 2, io.SEEK_CUR)
        marker = fp.read(2)
    fp.seek(at)
    return max(count, 0)


def _factor(size):
    """The whole factor that brings a picture of `size` within BOUND px a side (1: it is within)."""
    return -(-max(size) // BOUND)


def _shrunk(im, grey):
    """The picture shrunk by a whole factor to at most BOUND px a side (itself if it is no larger), in its mode for
    reading; converted STRIP rows at a time, so a P, CMYK or 16-bit picture is never converted whole, nor an RGBA one
    premultiplied whole by reduce(). Its EXIF goes with it, for the rotation."""
    im.load()  # a TIFF is turned by its orientation as it loads
    factor = _factor(im.size)
    if factor == 1:
        return im
    mode = _mode(im, grey)
    shrunk = Image.new(mode, (-(-im.width // factor), -(-im.height // factor)))
    rows = STRIP * factor
    for top in range(0, im.height, rows):
        strip = im.crop((0, top, im.width, min(top + rows, im.height)))
        shrunk.paste(strip.convert(mode).reduce(factor), (0, top // factor))
    shrunk.info["exif"] = im.getexif().tobytes()
    return shrunk
