"""Drawings and photos of digits to 28x28 MNIST-style images, made the way MNIST itself was made."""

import io
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .data import INPUT_SHAPE
from .errors import ImageError

MAX_PIXELS = 40_000_000  # larger images are refused from their header, before decoding (decompression bombs)
MIN_CONTRAST = 32  # grey levels ink must stand above the background; less is a blank page
INK_LEVEL = 0.3  # share of the strongest ink that counts towards the bounding box (drops paper noise)
FLOOR = 0.1  # share of the strongest ink below which a pixel is background
BOX = 20  # MNIST fits each digit's longest side to 20 px...
SIZE = INPUT_SHAPE[0]  # ...inside a 28x28 field...
CENTRE = 14.0  # ...with its centre of mass here (the training set's mean, in pixel indices)


@dataclass(frozen=True)
class Stages:
    """The preprocessing steps, for showing: each a float32 image in [0, 1], ink bright."""

    crop: np.ndarray  # the ink's bounding box, at the input's resolution
    box: np.ndarray  # the crop with its longest side scaled to 20 px
    centred: np.ndarray  # (28, 28): the box placed with its centre of mass at the centre; what the model sees


def canvas_to_mnist(image: np.ndarray) -> np.ndarray | None:
    """A uint8 grey, RGB or RGBA image of a digit, any size and polarity, as float32 (28, 28); None if blank."""
    stages = canvas_stages(image)
    return None if stages is None else stages.centred


def canvas_stages(image: np.ndarray) -> Stages | None:
    """Like canvas_to_mnist, but return every stage (a Stages), or None when there is no ink."""
    ink = _ink(_grey(image))
    peak = float(ink.max())
    if peak < MIN_CONTRAST:
        return None
    x, y, w, h = cv2.boundingRect((ink >= INK_LEVEL * peak).astype(np.uint8))
    crop = np.clip((ink[y : y + h, x : x + w] - FLOOR * peak) / ((1 - FLOOR) * peak), 0, 1)
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
    return Stages(crop.astype(np.float32), box, centred)


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
    grey = cv2.cvtColor(np.ascontiguousarray(a[..., :3]), cv2.COLOR_RGB2GRAY)
    if a.shape[2] == 3 or a[..., 3].min() == 255:
        return grey
    alpha = a[..., 3].astype(np.float32) / 255
    # light ink goes on black, dark ink on white, so a digit drawn only in alpha never vanishes
    bright_ink = (grey * alpha).sum() >= 127.5 * alpha.sum()
    background = 0.0 if bright_ink else 255.0
    return np.round(grey * alpha + background * (1 - alpha)).astype(np.uint8)


def _ink(grey):
    """Ink strength above the background, as float32: light-on-dark and dark-on-light alike."""
    g = grey.astype(np.float32)
    border = np.concatenate([g[0], g[-1], g[:, 0], g[:, -1]])
    background = float(np.median(border))  # ink is rarely most of the border, even when it touches it
    if background > 127.5:  # dark ink on light paper
        g, background = 255 - g, 255 - background
    return np.maximum(g - background, 0)


def read_image(source: str | Path | bytes | BinaryIO, name: str | None = None) -> np.ndarray:
    """Decode an image file (path, bytes or binary file) to a uint8 grey, RGB or RGBA array.

    `name` is what error messages call it (default: the path, or "the image").
    """
    name = name or (str(source) if isinstance(source, (str, Path)) else "the image")
    if isinstance(source, (bytes, bytearray)):
        source = io.BytesIO(source)
    too_large = f"{name} is too large: at most {MAX_PIXELS:,} pixels"
    try:
        with Image.open(source) as im:
            if im.width * im.height > MAX_PIXELS:
                raise ImageError(f"{too_large}, it has {im.width}x{im.height}")
            im = ImageOps.exif_transpose(im)  # photos from phones carry their rotation in EXIF
            if im.mode.startswith("I"):  # 16/32-bit grey: keep the top 8 bits of a 16-bit range
                return (np.asarray(im, dtype=np.float64) / 257).clip(0, 255).astype(np.uint8)
            if im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info:
                return np.asarray(im.convert("RGBA"))
            return np.asarray(im.convert("L" if im.mode in ("L", "1", "F") else "RGB"))
    except FileNotFoundError:
        raise ImageError(f"image not found: {name}") from None
    except Image.DecompressionBombError:  # Pillow's own limit, met before ours for the largest headers
        raise ImageError(too_large) from None
    except UnidentifiedImageError:
        raise ImageError(f"{name} is not an image this app can read (PNG, JPEG, GIF, BMP, TIFF, WebP)") from None
    except (OSError, SyntaxError, ValueError) as e:  # truncated or malformed data
        raise ImageError(f"{name} could not be decoded ({e})") from None
