"""How robust is a model: its accuracy on test digits rotated, shifted, scaled, thickened, noisy, blurred or
partly covered, each over a range of levels from the clean images (the first level) to where it clearly breaks."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import keras
import numpy as np

from .data import NUM_CLASSES, as_images, as_labels
from .evaluation import predict_proba

SUBSET = 2000  # test images the curves are measured on: the shipped model's every curve in 23 CPU-seconds (18 s here)
CENTRE = (13.5, 13.5)  # MNIST centres each digit's mass in the 28x28 image: rotations and scalings turn about it
INK = 0.5  # a pixel this bright is part of a stroke (occlusion covers one)

Curves = dict[str, list[tuple[float, float]]]  # perturbation -> (level, accuracy), the clean level first


@dataclass(frozen=True)
class Perturbation:
    unit: str  # what a level measures, for a chart's axis
    levels: tuple[float, ...]  # the first leaves the images as they are
    apply: Callable[[np.ndarray, float, np.random.Generator], np.ndarray]  # (N,28,28) float32 in [0,1], level, rng


def _warp(images, matrices):
    """Each image moved by its own 2x3 affine matrix, with black coming in from outside."""
    return np.stack([cv2.warpAffine(image, m, image.shape[::-1], flags=cv2.INTER_LINEAR,
                                    borderMode=cv2.BORDER_CONSTANT, borderValue=0)
                     for image, m in zip(images, matrices, strict=True)])


def _rotate(images, degrees, rng):
    """Turned by `degrees`, clockwise or anticlockwise at random per image (a model may lean one way)."""
    signs = rng.choice([-1, 1], len(images))
    return _warp(images, [cv2.getRotationMatrix2D(CENTRE, s * degrees, 1.0) for s in signs])


def _shift(images, pixels, rng):
    """Moved `pixels` in a random direction per image."""
    angles = rng.uniform(0, 2 * np.pi, len(images))
    return _warp(images, [np.float32([[1, 0, pixels * np.cos(a)], [0, 1, pixels * np.sin(a)]]) for a in angles])


def _scale(images, factor, rng):
    """Shrunk (or grown) by `factor` about the centre."""
    return _warp(images, [cv2.getRotationMatrix2D(CENTRE, 0, factor)] * len(images))


def _thicken(images, pixels, rng):
    """Strokes `pixels` thicker on every side: a grey dilation by a disc."""
    if not pixels:
        return images
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * int(pixels) + 1,) * 2)
    return np.stack([cv2.dilate(image, disc) for image in images])


def _noise(images, sigma, rng):
    """Gaussian noise of standard deviation `sigma` (1 = black to white) on every pixel, clipped to [0, 1]."""
    return np.clip(images + sigma * rng.standard_normal(images.shape, np.float32), 0, 1)


def _blur(images, sigma, rng):
    """A Gaussian blur of `sigma` pixels."""
    if not sigma:
        return images
    return np.stack([cv2.GaussianBlur(image, (0, 0), sigma, borderType=cv2.BORDER_CONSTANT) for image in images])


def _occlude(images, side, rng):
    """A black square `side` pixels wide over a random stroke pixel of each image (so it always hides ink)."""
    covered = images.copy()
    for image, pick in zip(covered, rng.random(len(images)), strict=True):
        ys, xs = np.nonzero(image >= INK)
        if side and len(ys):
            y, x = ys[int(pick * len(ys))], xs[int(pick * len(ys))]
            corner = (int(x - side // 2), int(y - side // 2))
            cv2.rectangle(image, corner, (corner[0] + int(side) - 1, corner[1] + int(side) - 1), 0, cv2.FILLED)
    return covered


# Each range measured on the shipped model to run from no visible effect to clearly broken (BENCHMARKS.md). Scale
# only shrinks: grown 1.4 times (the 20-pixel digit box fills the image) it still read 99.2 % right.
PERTURBATIONS: dict[str, Perturbation] = {
    "rotation": Perturbation("degrees", (0, 10, 20, 30, 45, 60, 90), _rotate),
    "shift": Perturbation("pixels", (0, 2, 4, 6, 8, 10), _shift),
    "scale": Perturbation("times its size", (1.0, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3), _scale),
    "thickness": Perturbation("pixels thicker", (0, 1, 2, 3, 4, 5), _thicken),
    "noise": Perturbation("standard deviation, 1 = black to white", (0, 0.05, 0.1, 0.15, 0.2, 0.3), _noise),
    "blur": Perturbation("standard deviation, pixels", (0, 0.5, 1, 1.5, 2, 2.5), _blur),
    "occlusion": Perturbation("square's side, pixels", (0, 4, 8, 12, 16, 20), _occlude),
}


def perturb(images: np.ndarray, name: str, level: float, seed: int = 0) -> np.ndarray:
    """(N,28,28[,1]) images, uint8 or float in [0,1], under perturbation `name` at `level`; same shape and dtype.
    Seeded: the same call gives the same images, and each image's random direction, sign or spot is the same at
    every level, so a curve's steps show the level's effect rather than new dice."""
    x = as_images(images)
    if not len(x):
        return np.array(images, copy=True)  # no images: none to stack
    uint8 = x.dtype == np.uint8
    pixels = x[..., 0].astype(np.float32) / 255 if uint8 else x[..., 0].astype(np.float32)
    out = _perturbation(name).apply(pixels, level, np.random.default_rng(seed)).reshape(np.shape(images))
    return np.round(out * 255).astype(np.uint8) if uint8 else out.astype(x.dtype, copy=False)


def _perturbation(name):
    if name not in PERTURBATIONS:
        raise ValueError(f"unknown perturbation {name!r}; choose from: {', '.join(PERTURBATIONS)}")
    return PERTURBATIONS[name]


def test_subset(x: np.ndarray, y: np.ndarray, size: int = SUBSET, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A fixed subset of (x, y): size // 10 images of each digit, drawn with `seed`, in the set's order."""
    labels = as_labels(y, len(x), one_hot=False)
    each = size // NUM_CLASSES
    if each < 1:
        raise ValueError(f"a subset needs at least {NUM_CLASSES} images (one per digit), not {size}")
    rng = np.random.default_rng(seed)
    picked = []
    for digit in range(NUM_CLASSES):
        where = np.flatnonzero(labels == digit)
        if len(where) < each:
            raise ValueError(f"only {len(where)} images of digit {digit}; a subset of {size} needs {each}")
        picked.append(rng.choice(where, each, replace=False))
    order = np.sort(np.concatenate(picked))
    return x[order], labels[order]


def robustness_curves(model: keras.Model, images: np.ndarray, labels: np.ndarray, names: Sequence[str] | None = None,
                      progress: Callable[[int, int], None] | None = None, seed: int = 0) -> Curves:
    """The model's accuracy on `images` under each perturbation (all of them if names is None) at each of its
    levels, the clean level first. progress(done, total) is called after each level measured."""
    names = list(PERTURBATIONS) if names is None else list(names)
    chosen = {name: _perturbation(name) for name in names}
    labels = as_labels(labels, len(images), one_hot=False)
    total, done = sum(len(p.levels) for p in chosen.values()), 0

    def accuracy(x):
        return float(np.mean(predict_proba(model, x).argmax(axis=1) == labels)) if len(labels) else float("nan")

    clean = accuracy(images)  # every perturbation's first level: measured once
    curves: Curves = {}
    for name, perturbation in chosen.items():
        curves[name] = []
        for i, level in enumerate(perturbation.levels):
            score = clean if i == 0 else accuracy(perturb(images, name, level, seed))
            curves[name].append((float(level), score))
            done += 1
            if progress:
                progress(done, total)
    return curves
