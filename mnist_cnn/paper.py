"""The sheet of paper in a photo of a sheet lying on a desk: found, the desk left out, its perspective corrected.

    sheet = find_sheet(grey)      # None: no sheet to find (the paper fills the picture, or nothing is paper-like)
    sheet.page                    # the sheet alone, as grey: warped onto its own aspect where its four corners are
                                  # in view, else cropped to it; the desk around it filled in with the paper's light
    sheet.kept                    # the part of `page` that is the sheet (the rest was filled in)
    sheet.outline                 # the sheet's outline in the photo, (N, 2) float32 points

The sheet is lighter than the desk, so it is looked for among bright regions (Otsu's threshold on a reduced copy,
its ink and printed lines closed over and blurred). A hard shadow cuts such a region along a straight line, as the
sheet's own edge does; each side is therefore also tried as a shadow's edge (the light past it lifted by the step
across it) and the region grown past it kept where it grows as a sheet does (convex, its other sides continued).
A region is no sheet where the digit's ink crosses one of its sides (a sheet's edge never cuts the digit on it),
where lifting a side leaves the whole picture one paper (a shadow across a page that fills the photo), or where
the light does not fall clearly beyond its sides. BENCHMARKS.md, "Photos of a sheet on a desk (issue 22)": what
each rule was worth, measured on desk photos of MNIST training digits (bench/photos.py desk_set, seed 1).
drawing._photo reads the digit on `page` as on any photo of paper, and the whole picture if the digit found there
reaches the part filled in.
"""

from dataclasses import dataclass

import cv2
import numpy as np

LOOK = 160  # the sheet is looked for at most this many px a side: its outline needs no more
BLUR = 0.015  # Gaussian sigma before the threshold, a share of the longer side: ink, lines and grain averaged out
MIN_SHEET = 0.12  # the sheet covers at least this share of the picture (a smaller one holds no readable digit)...
MAX_SHEET = 0.93  # ...and at most this: above, the desk is a sliver and the picture is paper as before
MIN_DESK = 0.05  # ...and what is left out is at least this share of it
CONTAINS = 0.9  # a region grown past a shadow keeps this share of the region it grew from
GROWN = 1.08  # ...and is larger than it by this factor (else the side was no shadow)
MIN_SIDE = 0.08  # a side shorter than this share of the longer side is a rounded corner, not an edge
STEP_AT = 6  # px (at LOOK) either side of a side where its step of light is measured: past the blur
MIN_STEP, MAX_STEP = 0.2, 0.95  # a shadow leaves 20-95 % of the light (as JPEG encodes it): else no shadow
ALONG = 4  # px (at LOOK): a side within this of another's line continues it
PAST = 0.25  # a side's line is followed this share of its length past each end...
MIN_PAST = 5  # px (at LOOK): a line followed less far than this past an end cannot show that it stops
CONTINUES = 0.9  # ...and continues there if the light beyond it is below this share of the light before it
CONVEX = 0.9  # the region fills at least this share of its convex hull: a sheet, not a blob of light and desk
SHEET_STEP = 0.93  # beyond the sheet's sides the light falls to at most this share (a light desk: ~0.9)
CROSS, CROSS_INK = 3, 0.15  # ink taking 15 % of the light 3 px (at LOOK) both sides of a side crosses it (printed
# lines, thinner and fainter, stay below: ~0.1 at LOOK; the desk's grain lies on one side only)
INK = 11  # px (at LOOK): ink and printed lines narrower than this are closed over before the sheet is looked for
# (7 px left thick strokes open, so the ink-crossing test missed them: old photo set 97.7 %, at 11 px 98.8 %)
CORNER_EPS = 0.03  # approxPolyDP's tolerance, a share of the hull's perimeter: four corners for a sheet's outline
EDGE = 2  # px (at LOOK) from the frame's edge: a corner there is the frame's, not the sheet's
INSET = 0.012  # the sheet's edge (its blur and shading) left out, a share of the longer side
FILL_SIGMA = 0.06  # the desk filled in with the sheet's light averaged over this share of the longer side


@dataclass(frozen=True)
class Sheet:
    """A sheet found in a photo: `page` the grey sheet alone, `outline` its outline in the photo (x, y points)."""

    page: np.ndarray
    kept: np.ndarray  # bool, page-shaped: the sheet itself (the rest of `page` filled in with the paper's light)
    outline: np.ndarray
    warped: bool  # whether `page` was warped onto the sheet's own aspect (its four corners in view)


def find_sheet(grey: np.ndarray) -> Sheet | None:
    """The sheet of paper in a grey uint8 photo, when it lies on a darker desk in view; None when there is none.

    A hard shadow across the frame cuts the brightest region (the sheet in the light) along a straight line, as
    the sheet's own edge does. So each straight side of a bright region is tried as a shadow: the light beyond it
    raised by the step across it; if the region then grows into a convex one, that side was a shadow's edge. Of
    the regions so found, the largest with a corner of its own (two sides that end there, neither continuing past
    it as a shadow's edge would) is the sheet. With no such corner (the desk on one side only, a shadow across
    it) brightness cannot tell the sheet's edge from the shadow's: only what is dark in every reading (the desk
    in the shadow) is left out."""
    h, w = grey.shape
    scale = min(1.0, LOOK / max(h, w))
    small = cv2.resize(grey, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    if min(small.shape) < 16:
        return None
    sigma = max(1.0, BLUR * max(small.shape))
    # ink and printed lines closed over first (a closing keeps wider steps: the sheet's edges, a shadow's)
    closed = cv2.morphologyEx(small, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (INK, INK)))
    blurred = cv2.GaussianBlur(closed, (0, 0), sigma).astype(np.float32)
    ink = (closed.astype(np.float32) - small) / np.maximum(closed, 1)  # the share of the light ink takes
    first = _region(blurred, None)
    if first is None:
        return None
    # the bright region, and its brighter part (the sheet, where a light desk beside it is bright too)
    found = _candidates(blurred, ink, sigma, [first, _region(blurred, first[0])])
    if not found:
        return None
    cornered = [f for f in found if f[2] > 0]
    if cornered:
        region, polygon, _ = max(cornered, key=lambda f: np.count_nonzero(f[0]))
        keep = region
    else:  # the sheet's edge or the shadow's: keep what either reading calls paper
        keep = np.logical_or.reduce([f[0] for f in found])
        if keep.mean() > MAX_SHEET:
            return None
        polygon = cv2.convexHull(cv2.findNonZero(keep.astype(np.uint8)))[:, 0].astype(np.float32)
    if not _contrasted(blurred, keep, polygon):
        return None
    outline = _outline(keep) / scale
    corners = cv2.approxPolyDP(polygon[:, None].astype(np.float32), CORNER_EPS * cv2.arcLength(
        polygon[:, None].astype(np.float32), True), True)[:, 0]
    if cornered and len(corners) == 4 and _inside(corners, small.shape) and cv2.isContourConvex(corners):
        return Sheet(*_warped(grey, _ordered(corners / scale)), outline=outline, warped=True)
    mask = cv2.resize(keep.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST)
    return Sheet(*_cropped(grey, mask), outline=outline, warped=False)


def _candidates(blurred, ink, sigma, bases):
    """The sheets the base regions (region, polygon; or None) may be, each as (filled region, polygon, its own
    corners): the region itself, and grown past each side taken as a shadow's edge."""
    found = []
    for region, polygon in (b for b in bases if b is not None):
        grown, paper_beyond = _compensated(blurred, region, polygon, sigma)
        # a side past which, its shadow lifted, the whole picture is bright was a shadow over paper, not the
        # sheet's edge: the region is no sheet (the paper may fill the picture, as in a photo of a page)
        for candidate in grown if paper_beyond else [(region, polygon), *grown]:
            if _valid(candidate[0], candidate[1], float(blurred.size)) and np.count_nonzero(
                    candidate[0] & region) >= CONTAINS * np.count_nonzero(region) and not _crosses_ink(
                    ink, candidate[1]):
                filled = cv2.fillPoly(np.zeros(blurred.shape, np.uint8), [np.round(candidate[1]).astype(np.int32)], 1)
                found.append((filled.astype(bool), candidate[1], _own_corners(blurred, candidate[1])))
    return found


def _region(blurred, within):
    """The largest region above Otsu's threshold (of the pixels `within`, a mask, if given) and its hull's polygon,
    or None."""
    values = blurred if within is None else blurred[within]
    if values.size < 64 or values.max() - values.min() < 8:
        return None
    level, _ = cv2.threshold(np.clip(values, 0, 255).astype(np.uint8).reshape(-1, 1), 0, 255,
                             cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    bright = cv2.morphologyEx((blurred > level).astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(bright, connectivity=4)
    if count < 2:
        return None
    main = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    region = labels == main
    return region, _polygon(region)


def _polygon(region):
    """The polygon of a region's convex hull, its sides straightened (approxPolyDP), as (N, 2) float32."""
    hull = cv2.convexHull(cv2.findNonZero(region.astype(np.uint8)))
    return cv2.approxPolyDP(hull, CORNER_EPS * cv2.arcLength(hull, True), True)[:, 0].astype(np.float32)


def _sides(polygon, shape):
    """The polygon's sides that are not the frame's edge: (start, end, outward unit normal) each."""
    h, w = shape
    centre = polygon.mean(axis=0)
    sides = []
    for a, b in zip(polygon, np.roll(polygon, -1, axis=0), strict=True):
        length = float(np.linalg.norm(b - a))
        on_frame = any(abs(a[i] - edge) <= EDGE and abs(b[i] - edge) <= EDGE
                       for i, edge in ((0, 0), (0, w - 1), (1, 0), (1, h - 1)))
        if on_frame or length < MIN_SIDE * max(h, w):
            continue
        normal = np.float32([(b - a)[1], -(b - a)[0]]) / length
        if np.dot(normal, (a + b) / 2 - centre) < 0:
            normal = -normal
        sides.append((a, b, normal))
    return sides


def _step(blurred, a, b, normal, t0=0.15, t1=0.85):
    """The light just outside a side (a, b) over the light just inside it: the median ratio of points along it."""
    t = np.linspace(t0, t1, 16, dtype=np.float32)[:, None]
    points = a + t * (b - a)
    outside, inside = (_sample(blurred, points + sign * STEP_AT * normal) for sign in (1, -1))
    return float(np.median(outside / np.maximum(inside, 1)))


def _sample(image, points):
    xy = np.float32(points).reshape(1, -1, 2)
    return cv2.remap(image, xy[..., 0], xy[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)[0]


def _compensated(blurred, region, polygon, sigma):
    """For each side of the region taken as a shadow's edge: the light beyond it raised by the step across it,
    and the largest bright region then (region, polygon), kept where it grew as a sheet does past a shadow; and
    whether some side, lifted so, left the whole picture bright."""
    h, w = blurred.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    found, paper_beyond = [], False
    sides = _sides(polygon, blurred.shape)
    for a, b, normal in sides:
        step = _step(blurred, a, b, normal)
        if not (MIN_STEP <= step <= MAX_STEP or 1 / MAX_STEP <= step <= 1 / MIN_STEP):  # the region in shadow:
            continue  # the light beyond lowered
        beyond = ((xx - a[0]) * normal[0] + (yy - a[1]) * normal[1] > 0).astype(np.float32)
        shade = 1 - (1 - step) * cv2.GaussianBlur(beyond, (0, 0), sigma)  # the shadow, blurred as the picture is
        lifted = blurred / shade
        bright = _region(lifted, None)
        if bright is None or np.count_nonzero(bright[0]) > MAX_SHEET * bright[0].size or not _edged(
                lifted, bright[1]):
            paper_beyond = True  # no edge left: all one paper, lit and in a shadow (or a gradient's halves)
            continue
        # a light desk: the paper only in the brighter part of what is bright
        for grown in (bright, _region(lifted, bright[0])):
            if grown is None or np.count_nonzero(grown[0]) <= GROWN * np.count_nonzero(region):
                continue
            # past a shadow lies more of the same sheet: on this side of the shadow's edge, every side of the
            # sheet grown is one of the region's own sides, continued
            others = [(c, d) for c, d, _ in sides if c is not a]
            if all(_collinear(c, d, others) for c, d, _ in _sides(grown[1], blurred.shape)
                   if min(np.dot(c - a, normal), np.dot(d - a, normal)) < -ALONG):
                found.append(grown)
    return found, paper_beyond


def _collinear(c, d, sides):
    """Whether the side (c, d) continues one of `sides`: that side's ends within ALONG px of its line."""
    direction = (d - c) / max(float(np.linalg.norm(d - c)), 1e-6)
    normal = np.float32([-direction[1], direction[0]])
    return any(abs(np.dot(a - c, normal)) <= ALONG and abs(np.dot(b - c, normal)) <= ALONG for a, b in sides)


def _valid(region, polygon, frame):
    """A sheet's shape: convex, of a size to hold a digit, leaving some desk in view."""
    area = float(np.count_nonzero(region))
    return MIN_SHEET * frame <= area <= MAX_SHEET * frame and area >= CONVEX * max(
        cv2.contourArea(polygon[:, None]), 1.0)


def _own_corners(blurred, polygon):
    """How many of the polygon's corners inside the frame are its own: both sides end there, their lines not
    continuing past it with a step of the same light (as a shadow's edge and the sheet's edge it crosses do)."""
    h, w = blurred.shape
    sides = _sides(polygon, blurred.shape)
    ends = {}
    for a, b, normal in sides:
        length = float(np.linalg.norm(b - a))
        direction = (b - a) / length
        for end, sign in ((a, -1), (b, 1)):
            # followed past the end as far as the frame allows (a side whose line leaves the frame at once may
            # be a shadow's edge there: not a corner of its own)
            reach = PAST * length
            for i, limit in ((0, w - 1), (1, h - 1)):
                step = sign * direction[i]
                if step > 1e-6:
                    reach = min(reach, (limit - STEP_AT - end[i]) / step)
                elif step < -1e-6:
                    reach = min(reach, (end[i] - STEP_AT) / -step)
            continues = reach < MIN_PAST or _step(blurred, end + sign * direction * 0.3 * reach,
                                                  end + sign * direction * reach, normal, 0, 1) < CONTINUES
            key = (round(float(end[0])), round(float(end[1])))
            ends.setdefault(key, []).append(continues)
    own = 0
    for (x, y), continuing in ends.items():
        if len(continuing) == 2 and not any(continuing) and EDGE < x < w - 1 - EDGE and EDGE < y < h - 1 - EDGE:
            own += 1
    return own


def _crosses_ink(ink, polygon):
    """Whether ink (the digit's strokes) runs across one of the polygon's sides: a sheet's edge never cuts the
    digit written on it, a shadow's edge may."""
    for a, b, normal in _sides(polygon, ink.shape):
        t = np.linspace(0.03, 0.97, max(8, round(float(np.linalg.norm(b - a)))), dtype=np.float32)[:, None]
        points = a + t * (b - a)
        across = np.minimum(_sample(ink, points - CROSS * normal), _sample(ink, points + CROSS * normal))
        if float(across.max()) > CROSS_INK:
            return True
    return False


def _contrasted(blurred, keep, polygon):
    """Whether the sheet kept stands clearly above what lies beyond its sides (the desk, lit or in shadow)."""
    return (~keep).mean() >= MIN_DESK and _edged(blurred, polygon)


def _edged(blurred, polygon):
    """Whether light falls clearly (to SHEET_STEP) across the polygon's sides, the frame's edges left out."""
    sides = _sides(polygon, blurred.shape)
    return bool(sides) and float(np.median([_step(blurred, a, b, normal) for a, b, normal in sides])) <= SHEET_STEP


def _outline(keep):
    """The outline of the kept region, (N, 2) float32 points."""
    contours, _ = cv2.findContours(keep.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    return max(contours, key=cv2.contourArea)[:, 0].astype(np.float32)


def _inside(corners, shape):
    h, w = shape
    return bool(np.all((corners[:, 0] > EDGE) & (corners[:, 0] < w - 1 - EDGE) & (corners[:, 1] > EDGE)
                       & (corners[:, 1] < h - 1 - EDGE)))


def _ordered(corners):
    """Four corners as top left, top right, bottom right, bottom left."""
    centre = corners.mean(axis=0)
    angles = np.arctan2(corners[:, 1] - centre[1], corners[:, 0] - centre[0])
    ring = corners[np.argsort(angles)]  # clockwise in image coordinates, from the left
    first = int(np.argmin(ring.sum(axis=1)))  # the top left has the smallest x + y
    return np.roll(ring, -first, axis=0)


def _warped(grey, corners):
    """The sheet warped onto a rectangle of its own aspect (the mean of its opposite sides), at the resolution it
    has in the photo; its edge inset and filled in."""
    top, right, bottom, left = (float(np.linalg.norm(corners[(i + 1) % 4] - corners[i])) for i in range(4))
    width, height = max(8, round((top + bottom) / 2)), max(8, round((left + right) / 2))
    target = np.float32([[0, 0], [width, 0], [width, height], [0, height]])
    page = cv2.warpPerspective(grey, cv2.getPerspectiveTransform(corners, target), (width, height),
                               flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    inset = max(1, round(INSET * max(width, height)))
    mask = np.zeros((height, width), np.uint8)
    mask[inset:-inset, inset:-inset] = 1
    return _filled(page, mask), mask.astype(bool)


def _cropped(grey, mask):
    """The photo cropped to the sheet kept (`mask`), the rest within the crop (and the sheet's edge) filled in."""
    h, w = grey.shape
    inset = max(1, round(INSET * max(h, w)))
    mask = cv2.erode(mask, np.ones((2 * inset + 1, 2 * inset + 1), np.uint8))
    x, y, bw, bh = cv2.boundingRect(mask)
    if bw < 8 or bh < 8:
        return grey, np.ones(grey.shape, bool)
    mask = mask[y : y + bh, x : x + bw]
    return _filled(grey[y : y + bh, x : x + bw], mask), mask.astype(bool)


def _filled(page, mask):
    """`page` with the pixels outside `mask` replaced by the paper's light nearby (a mask-weighted blur), so the
    steps after see paper there: no edge, no ink."""
    sigma = max(2.0, FILL_SIGMA * max(page.shape))
    weight = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), sigma)
    light = cv2.GaussianBlur(page.astype(np.float32) * mask, (0, 0), sigma)
    paper = float(np.median(page[mask.astype(bool)])) if mask.any() else float(np.median(page))
    fill = np.where(weight > 1e-3, light / np.maximum(weight, 1e-3), paper)
    return np.where(mask.astype(bool), page, np.clip(np.round(fill), 0, 255)).astype(np.uint8)
