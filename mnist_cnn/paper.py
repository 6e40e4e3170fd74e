"""The sheet of paper in a photo of a sheet lying on a desk: found, the desk left out, its perspective corrected.

    sheet = find_sheet(grey)      # None: no sheet to find (the paper fills the picture, or nothing is paper-like)
    sheet.page                    # the sheet alone, as grey: warped onto its own aspect where its four corners are
                                  # in view, else cropped to it; the shadow lifted to find it lifted from it too;
                                  # the desk around it filled in with the paper's light
    sheet.kept                    # the part of `page` that is the sheet (the rest was filled in)
    sheet.outline                 # the sheet's outline in the photo, (N, 2) float32 points
    sheet.others                  # the sheet as the next readings found it, for drawing._photo to try too

The sheet is lighter than the desk, so it is the brightest region (Otsu's threshold on a reduced copy, its ink
and printed lines closed over and blurred), or the brighter part of it (a light desk). A hard shadow would cut
that region along its edge, so it is lifted first: a shadow's edge is a straight line across the whole frame with
one step of light all along it, over paper and desk alike (a sheet's edge ends at the sheet's corners, or steps
by the desk's grain). Each such line is lifted in turn (the light beyond it divided by its step), then none: the
readings whose region has a sheet's shape (convex, of a size to hold a digit), no ink across its sides (a sheet's
edge never cuts the digit on it) and the light falling clearly beyond them give the sheet and its others, the most
two-toned reading first (paper and desk, no shadow's step left). The shadow lifted to find a sheet is lifted from
its page too, its edge's place, blur and step measured there at the page's resolution. A shadow lifted that leaves
one paper with no edge may mean the page fills the picture: then a region whose every edge is that shadow's (the
lit part alone) is no sheet. BENCHMARKS.md, "Photos of a sheet on a desk (issue 22)": what each rule was worth,
measured on desk photos of MNIST training digits (bench/photos.py desk_set, seeds 1 and 2).
drawing._photo reads the digit on `page` as on any photo of paper (its ink darker) and on each of `others`, and
the whole picture if the digit found on each reaches the part filled in.
"""

from dataclasses import dataclass, replace

import cv2
import numpy as np

LOOK = 160  # the sheet is looked for at most this many px a side: its outline needs no more
BLUR = 0.015  # Gaussian sigma before the threshold, a share of the longer side: ink, lines and grain averaged out
MIN_SHEET = 0.12  # the sheet covers at least this share of the picture (a smaller one holds no readable digit)...
MAX_SHEET = 0.93  # ...and at most this: above, the desk is a sliver and the picture is paper as before
MIN_DESK = 0.05  # ...and what is left out is at least this share of it
MIN_SIDE = 0.08  # a side shorter than this share of the longer side is a rounded corner, not an edge
STEP_AT = 6  # px (at LOOK) either side of a side where its step of light is measured: past the blur
MIN_STEP, MAX_STEP = 0.5, 0.95  # a shadow leaves 50-95 % of the light as JPEG encodes it (~22-90 % of it): a
# dark desk beside the sheet steps further (0.25-0.5); at 0.2 it was lifted as a shadow (BENCHMARKS.md)
ALONG = 4  # px (at LOOK): a line whose ends lie within this of another's is the same line; a side, the same too
CANNY = (10, 30)  # Canny's thresholds on the blurred reading: a shadow's step of 15 % at paper's light passes
VOTES = 0.25  # a shadow's line gathers Hough votes from at least this share of the shorter side...
MAX_LINES = 12  # ...and is among the strongest this many lines
MIN_CHORD = 0.4  # a shadow's edge runs across the frame: at least this share of the shorter side in view...
STEADY, MIN_STEADY = 0.06, 0.5  # ...with its step within 6 % of its median at half the points along it...
MIN_CALM = 0.3  # ...where no other edge crosses it (the light either side steady along it): 30 % of them at least
# (0.5 left out shadows crossing two of the sheet's edges in a small frame). A wood desk's grain unsettles the step
# along a shadow's edge: at 75 % steady, with the first sheet found read first and the page keeping the shadow,
# 45 / 35 of 3,000 / 2,000 desk photos of training digits were misread; at half, the most two-toned reading first
# and the shadow lifted from the page (_unshadowed), 24 / 23
CONVEX = 0.9  # the region fills at least this share of its convex hull: a sheet, not a blob of light and desk
SHEET_STEP = 0.93  # beyond the sheet's sides the light falls to at most this share (a light desk: ~0.9)
CROSS, CROSS_INK = 3, 0.15  # ink taking 15 % of the light 3 px (at LOOK) both sides of a side crosses it (printed
# lines, thinner and fainter, stay below: ~0.1 at LOOK; the desk's grain lies on one side only)
INK = 11  # px (at LOOK): ink and printed lines narrower than this are closed over before the sheet is looked for
# (7 px left thick strokes open, so the ink-crossing test missed them: old photo set 97.7 %, at 11 px 98.8 %)
CORNER_EPS = 0.03  # approxPolyDP's tolerance, a share of the hull's perimeter: four corners for a sheet's outline
EDGE = 2  # px (at LOOK) from the frame's edge: a corner there is the frame's, not the sheet's
INSET = 0.012  # the sheet's edge (its blur and shading) left out, a share of the longer side
SAME_SHEET = 0.02  # another reading's sheet differing from one found before in less than this share is the same
MAX_SHEETS = 3  # the sheet, and at most two others to read (drawing._photo)
BAND = 0.03  # a shadow's edge on the page: its profile measured this share of the page's longer side (8 px at
# least) either side of the line...
SEGMENTS = 8  # ...and where it lies, in this many stretches along it (the line found at LOOK lay 2-6 px of the page
# off it: lifted where found, 26 of 2,000 misread; where it lies, 23)
FILL_SIGMA = 0.06  # the desk filled in with the sheet's light averaged over this share of the longer side


@dataclass(frozen=True)
class Sheet:
    """A sheet found in a photo: `page` the grey sheet alone, `outline` its outline in the photo (x, y points)."""

    page: np.ndarray
    kept: np.ndarray  # bool, page-shaped: the sheet itself (the rest of `page` filled in with the paper's light)
    outline: np.ndarray
    warped: bool  # whether `page` was warped onto the sheet's own aspect (its four corners in view)
    others: tuple["Sheet", ...] = ()  # the sheet as other readings found it (another line taken for the shadow's)


def find_sheet(grey: np.ndarray) -> Sheet | None:
    """The sheet of paper in a grey uint8 photo, when it lies on a darker desk in view; None when there is none.

    A hard shadow's edge is a straight line across the whole frame with the same step of light all along it, over
    the paper and the desk alike; a sheet's edge stops at the sheet's corners, or steps by the desk's grain. Each
    such line is lifted in turn (the light beyond it divided by its step), and then none: the readings whose
    brightest region is a sheet (convex, of a size to hold a digit, no ink across its sides, the light falling
    clearly beyond them) give the sheet and its `others` (at most MAX_SHEETS in all), the most two-toned first."""
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
    found, pages = [], []  # found: (keep, polygon, how two-toned, line); pages: the lines whose lifting left one
    # paper with no edge
    for line, lifted in (*((line, _lifted(blurred, line, sigma)) for line in _shadows(blurred)), (None, blurred)):
        bright = _region(lifted, None)
        sheet = None if bright is None else _sheet(lifted, ink, bright)
        if line is None and sheet is not None and pages and _along(sheet[1], pages, lifted.shape):
            # the lit part of a page filling the picture, the rest in those shadows. A sheet with an edge of its
            # own is a sheet: taken for a shadow's, its edge on a light desk lifted left one paper too (desk photos
            # of training digits, 2,000 of them: 52 -> 45 misread)
            sheet = None
        if sheet is None and line is not None and (bright is None or np.count_nonzero(
                bright[0]) > MAX_SHEET * lifted.size or not _edged(lifted, bright[1])):
            pages.append(line)
        if sheet is not None and not any(np.count_nonzero(sheet[0] != f[0]) < SAME_SHEET * sheet[0].size
                                         for f in found):
            found.append((*sheet, _two_toned(lifted), line))
    if not found:
        return None
    # the most two-toned reading first: a wrong line lifted (the sheet's own edge, a streak of the desk's grain)
    # leaves three tones, or a lit part of sheet and desk as one (at MIN_STEADY 0.5, of 2,000 misread: 31 -> 29)
    found.sort(key=lambda f: -f[2])
    sheets = [_page_of(grey, keep, polygon, scale, line) for keep, polygon, _, line in found[:MAX_SHEETS]]
    return replace(sheets[0], others=tuple(sheets[1:]))


def _page_of(grey, keep, polygon, scale, line):
    """The Sheet of a region found at LOOK (`keep`, its hull's `polygon`) with `line` lifted (a shadow's, or None):
    warped when its four corners show."""
    h, w = grey.shape
    corners = cv2.approxPolyDP(polygon[:, None], CORNER_EPS * cv2.arcLength(polygon[:, None], True), True)[:, 0]
    warped = len(corners) == 4 and _inside(corners, keep.shape) and cv2.isContourConvex(corners)
    if warped:
        page, kept, to_page = _warped(grey, _ordered(corners / scale))
    else:
        page, kept, to_page = _cropped(grey, cv2.resize(keep.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST))
    if line is not None:  # the shadow's line in the page: its ends, and a point on its shadow's side
        a, b, normal, _ = line
        ends = np.float32([a, b, a + STEP_AT * normal])[None] / scale
        page = _unshadowed(page, kept, *cv2.perspectiveTransform(ends, to_page)[0])
    return Sheet(_filled(page, kept), kept, outline=_outline(keep) / scale, warped=warped)


def _sheet(lifted, ink, first):
    """The sheet in a reading with no shadow left, (filled region, polygon), or None: the brightest region
    (`first`), or the brighter part of it (a light desk beside the sheet is bright too), if it has a sheet's shape
    and edges."""
    for base in (first, _region(lifted, first[0])):
        if base is None:
            continue
        region, polygon = base
        if _valid(region, polygon, float(lifted.size)) and not _crosses_ink(ink, polygon):
            filled = cv2.fillPoly(np.zeros(lifted.shape, np.uint8), [np.round(polygon).astype(np.int32)], 1)
            keep = filled.astype(bool)
            if (~keep).mean() >= MIN_DESK and _edged(lifted, polygon):
                return keep, polygon
    return None


def _two_toned(lifted):
    """How two-toned a reading is: the share of its log light's variance that Otsu's two classes explain (1: two
    flat tones, the sheet and the desk)."""
    light = np.clip(lifted, 1, 255)
    level, _ = cv2.threshold(light.astype(np.uint8).reshape(-1, 1), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    log, bright = np.log(light).ravel(), light.ravel() > level
    share = float(bright.mean())
    if not 0 < share < 1:
        return 0.0
    between = share * (1 - share) * float(log[bright].mean() - log[~bright].mean()) ** 2
    return between / max(float(log.var()), 1e-9)


def _shadows(blurred):
    """Straight lines across the frame with one step of light all along them (a hard shadow's edge), as (a, b,
    normal into the shadow, step), the steadiest first."""
    h, w = blurred.shape
    edges = cv2.Canny(np.clip(blurred, 0, 255).astype(np.uint8), CANNY[0], CANNY[1])
    lines = cv2.HoughLines(edges, 1, np.pi / 180, max(8, round(VOTES * min(h, w))))
    found = []
    for rho, theta in ([] if lines is None else lines[:MAX_LINES, 0]):
        normal = np.float32([np.cos(theta), np.sin(theta)])
        chord = _chord(rho * normal, np.float32([-normal[1], normal[0]]), w, h)
        if chord is None or np.linalg.norm(chord[1] - chord[0]) < MIN_CHORD * min(h, w):
            continue
        a, b = chord
        t = np.linspace(0, 1, 48, dtype=np.float32)[:, None]
        points = a + t * (b - a)
        direction = (b - a) / max(float(np.linalg.norm(b - a)), 1e-6)
        # the light either side; a point where it changes along the line (another edge crossing there) is left out
        sides = [[_sample(blurred, points + sign * STEP_AT * normal + along * STEP_AT * direction) for along in
                  (-0.5, 0, 0.5)] for sign in (1, -1)]
        calm = np.all([np.abs(np.log(np.maximum(v[2], 1) / np.maximum(v[0], 1))) <= STEADY for v in sides], axis=0)
        if calm.mean() < MIN_CALM:
            continue
        ratio = np.maximum(sides[0][1], 1) / np.maximum(sides[1][1], 1)
        step = float(np.median(ratio[calm]))
        if step > 1:
            normal, ratio, step = -normal, 1 / ratio, 1 / step
        steady = float(np.mean(np.abs(np.log(ratio[calm] / step)) <= STEADY))
        if MIN_STEP <= step <= MAX_STEP and steady >= MIN_STEADY and not any(
                abs(np.dot(a - c, n)) <= ALONG and abs(np.dot(b - c, n)) <= ALONG for c, _, n, _, _ in found):
            found.append((a, b, normal, step, steady))
    return [f[:4] for f in sorted(found, key=lambda f: -f[4])]


def _along(polygon, lines, shape):
    """Whether every side of the polygon (the frame's edges left out) lies along one of the lines (a, b, normal,
    step): its middle half within ALONG of it (its ends, at the frame or rounded corners, may stray further)."""
    return all(any(all(abs(float(np.dot(p + t * (q - p) - a, n))) <= ALONG for t in (0.25, 0.75))
                   for a, _, n, _ in lines) for p, q, _ in _sides(polygon, shape))


def _chord(point, direction, w, h):
    """The part of the line through `point` along `direction` within the frame, STEP_AT px in: (a, b) or None."""
    lo, hi = -1e9, 1e9
    for i, size in ((0, w), (1, h)):
        if abs(direction[i]) < 1e-6:
            if not STEP_AT <= point[i] <= size - 1 - STEP_AT:
                return None
            continue
        t0, t1 = sorted(((STEP_AT - point[i]) / direction[i], (size - 1 - STEP_AT - point[i]) / direction[i]))
        lo, hi = max(lo, t0), min(hi, t1)
    return None if hi <= lo else (point + lo * direction, point + hi * direction)


def _lifted(blurred, line, sigma):
    """The reading with the shadow beyond `line` lifted: the light there divided by its step (blurred as the
    picture is)."""
    a, _, normal, step = line
    h, w = blurred.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    beyond = ((xx - a[0]) * normal[0] + (yy - a[1]) * normal[1] > 0).astype(np.float32)
    return blurred / (1 - (1 - step) * cv2.GaussianBlur(beyond, (0, 0), sigma))


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


def _sample(image, points, border=cv2.BORDER_REPLICATE):
    """The image at (..., 2) x, y points, bilinear: an array of the points' shape less the last axis."""
    xy = np.float32(points).reshape(1, -1, 2)
    return cv2.remap(image, xy[..., 0], xy[..., 1], cv2.INTER_LINEAR, borderMode=border)[0].reshape(
        np.shape(points)[:-1])


def _valid(region, polygon, frame):
    """A sheet's shape: convex, of a size to hold a digit, leaving some desk in view."""
    area = float(np.count_nonzero(region))
    return MIN_SHEET * frame <= area <= MAX_SHEET * frame and area >= CONVEX * max(
        cv2.contourArea(polygon[:, None]), 1.0)


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
    has in the photo: (page, the sheet's part of it with its edge inset, the photo-to-page transform)."""
    top, right, bottom, left = (float(np.linalg.norm(corners[(i + 1) % 4] - corners[i])) for i in range(4))
    width, height = max(8, round((top + bottom) / 2)), max(8, round((left + right) / 2))
    target = np.float32([[0, 0], [width, 0], [width, height], [0, height]])
    to_page = cv2.getPerspectiveTransform(corners, target)
    page = cv2.warpPerspective(grey, to_page, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    inset = max(1, round(INSET * max(width, height)))
    mask = np.zeros((height, width), np.uint8)
    mask[inset:-inset, inset:-inset] = 1
    return page, mask.astype(bool), to_page


def _cropped(grey, mask):
    """The photo cropped to the sheet kept (`mask`): (page, the sheet's part of it with its edge left out, the
    photo-to-page transform); the whole photo, all of it kept, when too little is."""
    h, w = grey.shape
    inset = max(1, round(INSET * max(h, w)))
    mask = cv2.erode(mask, np.ones((2 * inset + 1, 2 * inset + 1), np.uint8))
    x, y, bw, bh = cv2.boundingRect(mask)
    if bw < 8 or bh < 8:
        return grey, np.ones(grey.shape, bool), np.eye(3)
    return grey[y : y + bh, x : x + bw], mask[y : y + bh, x : x + bw].astype(bool), np.float64(
        [[1, 0, -x], [0, 1, -y], [0, 0, 1]])


def _unshadowed(page, kept, a, b, shadowed):
    """`page` with the step of light across the line a-b (its shadow on `shadowed`'s side) divided out: the edge's
    profile across it measured on the page (a median along it, so ink and printed lines drop out), where it lies
    refined first. Unchanged when no shadow's step is found along it on the sheet."""
    h, w = page.shape

    def across_line(a, b, side):
        """The unit normal of the line a-b on the side of the vector `side`."""
        normal = np.float32([(b - a)[1], -(b - a)[0]]) / max(float(np.linalg.norm(b - a)), 1e-6)
        return normal if np.dot(side, normal) >= 0 else -normal

    normal = across_line(a, b, shadowed - a)  # the shadow's side, fixed before the line moves
    reach = max(8, round(BAND * max(h, w)))
    across = np.arange(-reach, reach + 1, dtype=np.float32)
    smooth = cv2.medianBlur(page, 5).astype(np.float32)
    on_sheet = kept.astype(np.float32)

    def profile(a, b, t0, t1, count):
        """The light across the line (lit side first) over the lit side's, the median of `count` points along
        it between t0 and t1 (shares of its length) whose whole profile lies on the sheet; None if too few do."""
        t = np.linspace(t0, t1, count, dtype=np.float32)[:, None, None]
        points = a + t * (b - a) + across[None, :, None] * normal
        on = _sample(on_sheet, points, cv2.BORDER_CONSTANT).min(axis=1) > 0.99
        if np.count_nonzero(on) < 3:
            return None
        light = _sample(smooth, points)[on]
        return np.median(light / np.maximum(np.median(light[:, :3], axis=1, keepdims=True), 1), axis=0)

    # where the edge lies along the line: the profile's halfway point in each stretch, a straight line fitted
    along, off = [], []
    for i in range(SEGMENTS):
        got = profile(a, b, i / SEGMENTS, (i + 1) / SEGMENTS, 12)
        if got is None or not MIN_STEP <= (step := float(np.median(got[-3:]))) <= MAX_STEP:
            continue
        half = (1 + step) / 2
        below = np.flatnonzero(got < half)
        if below.size and below[0] > 0:
            j = int(below[0])
            along.append((i + 0.5) / SEGMENTS)
            off.append(across[j - 1] + (got[j - 1] - half) / max(float(got[j - 1] - got[j]), 1e-6))
    if len(along) >= 3:  # Theil and Sen's line: one stretch thrown off (the digit along the edge) is outvoted
        t, o = np.float32(along), np.float32(off)
        first, second = np.triu_indices(len(t), 1)
        slope = float(np.median((o[second] - o[first]) / (t[second] - t[first])))
        start = float(np.median(o - slope * t))
        a, b = a + start * normal, b + (start + slope) * normal
        normal = across_line(a, b, normal)
    light = profile(a, b, 0, 1, 64)
    if light is None:
        return page
    step = float(np.median(light[-3:]))
    if not MIN_STEP <= step <= MAX_STEP:  # a shadow's step, as the line's was found (no step: nothing to lift)
        return page
    light = np.clip(light, step, 1)
    light[:3], light[-3:] = 1, step
    distance = np.add.outer((np.arange(h, dtype=np.float32) - a[1]) * normal[1],
                            (np.arange(w, dtype=np.float32) - a[0]) * normal[0])
    return np.clip(np.round(page / np.interp(distance, across, light)), 0, 255).astype(np.uint8)


def _filled(page, mask):
    """`page` with the pixels outside `mask` replaced by the paper's light nearby (a mask-weighted blur), so the
    steps after see paper there: no edge, no ink."""
    sigma = max(2.0, FILL_SIGMA * max(page.shape))
    weight = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), sigma)
    light = cv2.GaussianBlur(page.astype(np.float32) * mask, (0, 0), sigma)
    paper = float(np.median(page[mask.astype(bool)])) if mask.any() else float(np.median(page))
    fill = np.where(weight > 1e-3, light / np.maximum(weight, 1e-3), paper)
    return np.where(mask.astype(bool), page, np.clip(np.round(fill), 0, 255)).astype(np.uint8)
