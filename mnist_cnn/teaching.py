"""Teaching a model a visitor's handwriting: a short fine-tune on their drawings, with MNIST replayed alongside.

Also the drawings file: an `.npz` with `images` uint8 (N, 28, 28) and `labels` uint8 (N,), as the app and the
CLI's `teach` read and write it.
"""

import io
import math
import os
import time
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
from numpy.lib import format as npy

from .archives import open_zip
from .data import NUM_CLASSES
from .errors import DataError
from .evaluation import evaluate
from .memory import forget, remember
from .training import train, training_log

# Defaults, measured with the shipped model taught 5 drawings per digit of styles.EUROPEAN, 3 seeds
# (BENCHMARKS.md, "Teaching"): 2 epochs or 16 replayed images per drawing left MNIST 0.05-0.1 points lower;
# a share of 0.05 learned the style less (98.2 %); 0.2 was no better than 0.1 and less steady on MNIST.
EPOCHS = 3  # passes over the mix of drawings and replayed MNIST
REPEATS = 8  # each drawing appears this many times an epoch, each time augmented differently
# 64 rather than 32 (12 synthetic writers, BENCHMARKS.md "Teaching at once"): MNIST's worst cost 0.27 -> 0.21 points,
# median 0.09 -> 0.05, the writers' own drawings 99.7 % either way; 128 cost no less (0.25) and read the pool less
REPLAY_PER_DRAWING = 64  # MNIST training images mixed in per drawing, so MNIST accuracy holds
RATE_SHARE = 0.1  # the learning rate (the one-cycle peak) as a share of the model's own: 0.01 for the shipped 0.1
MAX_DRAWINGS = 2000  # a drawings file may hold at most this many
# From this many drawings on, a share of each digit's is kept out of teaching to measure it honestly; fewer, and
# every drawing is needed to teach (5 per digit, the target, is 50: 10 are held out, one per digit).
HOLD_OUT_FROM = 20
HOLD_OUT_SHARE = 0.2
IMAGES, LABELS = "images", "labels"
# Digits whose reading is a question of the writer's conventions, not of a drawing's quality: a flagged 1 is
# MNIST's 7, a crossed 7 drawn without lifting the pen its 2, a straight-stemmed 9 its 4, a one-stroke 5 its 3 or 6.
CONVENTIONS = frozenset(frozenset(pair) for pair in ((1, 7), (2, 7), (4, 9), (3, 5), (5, 6)))
QUESTION = 0.1  # the runner-up's probability from which such an answer is put as a question
# ...when the two hold this much together: torn between them, not unsure of everything (an untrained model's top two
# hold ~25 %). With the shipped model: asked for 1.26 % of MNIST's test digits (1.37 % without), 2.8 % of 20
# synthetic writers' pool (3.0 %); at 0.8 only 0.79 %, a third of the asks on MNIST's mistakes gone.
PAIR = 0.7
# a drawings file holds these two arrays and nothing else: at most MAX_DRAWINGS of 28x28 bytes, with a .npy
# header each (128 bytes as numpy writes it; its format allows up to 64 KB)
MEMBERS = {f"{IMAGES}.npy": 2**16 + MAX_DRAWINGS * 28 * 28, f"{LABELS}.npy": 2**16 + MAX_DRAWINGS}
MAX_FILE = sum(MEMBERS.values()) + 2**16  # the members stored as they are, and the archive's own records


def fine_tune(
    model: keras.Model,
    images: np.ndarray,
    labels: np.ndarray,
    *,
    replay: tuple[np.ndarray, np.ndarray] | None = None,
    epochs: int | None = None,
    seed: int = 0,
    callbacks: Sequence[keras.callbacks.Callback] = (),
) -> list[dict]:
    """Teach `model` the handwriting in `images`, in place; return the training-log records it appended.

    Two parts. The network is fine-tuned: each epoch trains on every drawing REPEATS times and on
    REPLAY_PER_DRAWING images per drawing drawn from `replay`, all with the training augmentation, at RATE_SHARE
    of the model's own learning rate (put back afterwards); the records are marked {"taught": number of drawings}.
    Then the drawings become the model's memory (memory.remember: prototypes inside the model, replacing any it
    had, kept from MNIST's own digits in `replay`), so drawings like them are read as taught at once. With epochs=0
    only the memory is made: no training, no records, a fraction of a second.

    Args:
        model: a compiled model, e.g. from load_model(); changed in place.
        images: (N, 28, 28) float in [0, 1] as canvas_to_mnist returns them (or uint8 0-255).
        labels: (N,) integers 0-9.
        replay: (images, labels) of MNIST *training* data to mix in; None mixes nothing in, and MNIST accuracy
            may then fall.
        epochs: passes over the mix; default EPOCHS; 0: the memory alone.
        seed: the same seed gives the same run.
        callbacks: Keras callbacks, e.g. Progress.
    """
    x, y = _checked(images, labels)
    epochs = EPOCHS if epochs is None else epochs
    if not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"epochs must be a whole number >= 0, got {epochs!r}")
    if getattr(model, "optimizer", None) is None:
        raise ValueError("the model is not compiled; compile it or use load_model()")
    taught = x, y
    x, y = np.repeat(x, REPEATS, axis=0), np.repeat(y, REPEATS)
    if replay is not None:
        rx, ry = (np.asarray(a) for a in replay)
        if len(rx) != len(ry):
            raise ValueError(f"replay has {len(rx)} images but {len(ry)} labels")
        count = min(len(rx), REPLAY_PER_DRAWING * len(images))
        picked = np.sort(np.random.default_rng(seed).choice(len(rx), count, replace=False))
        rx, ry = _checked(rx[picked], ry[picked], what="replay")
        x, y = np.concatenate([x, rx]), np.concatenate([y, ry])
    if epochs == 0:
        remember(model, *taught, against=replay)
        return []
    forget(model)  # the network learns the drawings itself; the memory is made again from its new features
    log = training_log(model)
    before = len(log)
    peak = float(model.optimizer.learning_rate)
    try:
        train(model, (x, y), epochs=epochs, learning_rate=RATE_SHARE * peak, seed=seed, augment=True,
              callbacks=callbacks)
    finally:
        model.optimizer.learning_rate = peak  # the model's next training goes on at its own rate
        for record in log[before:]:
            record["taught"] = len(images)
        remember(model, *taught, against=replay)  # a training stopped half-way keeps the drawings too
    return log[before:]


def convention_question(proba: np.ndarray) -> tuple[int, int] | None:
    """(answer, runner-up) when the model's two likeliest digits for one image (`proba`, 10 probabilities) are a
    pair in CONVENTIONS, the runner-up has at least QUESTION and the two at least PAIR together: "a 1 or a 7?" is
    then the honest answer."""
    proba = np.asarray(proba, np.float64).reshape(-1)
    if proba.shape != (NUM_CLASSES,):
        raise ValueError(f"proba must be {NUM_CLASSES} probabilities, got shape {proba.shape}")
    first, second = (int(d) for d in np.argsort(proba, kind="stable")[::-1][:2])
    if frozenset((first, second)) in CONVENTIONS and proba[second] >= QUESTION and proba[first] + proba[second] >= PAIR:
        return first, second
    return None


@dataclass(frozen=True)
class Lesson:
    """What teaching did. The drawings' accuracy is on `held_out` drawings kept out of teaching, or, when there
    were too few to spare any (held_out == 0), on the taught drawings themselves."""

    taught: int
    held_out: int
    drawings_before: float
    drawings_after: float
    test_before: float | None  # MNIST test accuracy, when test data was given
    test_after: float | None
    seconds: float  # the fine-tune alone, without the evaluations


def held_out(labels: np.ndarray, seed: int = 0) -> np.ndarray:
    """A mask of the drawings to keep out of teaching: none below HOLD_OUT_FROM, else HOLD_OUT_SHARE of each
    digit's (rounded, and never all of a digit's), picked with `seed`."""
    labels = np.asarray(labels)
    mask = np.zeros(len(labels), bool)
    if len(labels) < HOLD_OUT_FROM:
        return mask
    rng = np.random.default_rng(seed)
    for digit in np.unique(labels):
        where = np.flatnonzero(labels == digit)
        mask[rng.choice(where, min(round(len(where) * HOLD_OUT_SHARE), len(where) - 1), replace=False)] = True
    return mask


def teach(
    model: keras.Model,
    images: np.ndarray,
    labels: np.ndarray,
    *,
    replay: tuple[np.ndarray, np.ndarray] | None = None,
    test: tuple[np.ndarray, np.ndarray] | None = None,
    epochs: int | None = None,
    seed: int = 0,
    callbacks: Sequence[keras.callbacks.Callback] = (),
) -> Lesson:
    """fine_tune() on the drawings that held_out() does not keep back, measured before (the network without a
    memory) and after: on the held-out drawings (or the taught ones, if none) and on `test`. The last log record
    gets the test metrics."""
    x, y = _checked(images, labels)
    kept = held_out(y, seed)
    measured = (x[kept], y[kept]) if kept.any() else (x, y)
    forget(model)  # "before" is the network's own: a memory made from corrections may hold the held-out drawings
    drawings_before = evaluate(model, *measured).accuracy
    test_before = None if test is None else evaluate(model, *test).accuracy
    start = time.perf_counter()
    records = fine_tune(model, x[~kept], y[~kept], replay=replay, epochs=epochs, seed=seed, callbacks=callbacks)
    seconds = time.perf_counter() - start
    test_after = None
    if test is not None:
        after = evaluate(model, *test)
        test_after = after.accuracy
        if records:  # the model card reads these
            records[-1].update(test_loss=after.loss, test_accuracy=after.accuracy)
    return Lesson(
        taught=int((~kept).sum()), held_out=int(kept.sum()), drawings_before=drawings_before,
        drawings_after=evaluate(model, *measured).accuracy, test_before=test_before, test_after=test_after,
        seconds=seconds,
    )


def _checked(images, labels, what="images"):
    """Images as float32 (N, 28, 28, 1) in [0, 1] and labels as int32 (N,), or ValueError saying what is wrong."""
    x = np.asarray(images)
    if x.ndim == 4 and x.shape[-1] == 1:
        x = x[..., 0]
    if x.ndim != 3 or x.shape[1:] != (28, 28) or len(x) == 0:
        raise ValueError(f"{what} must be (N, 28, 28) with N >= 1, got shape {x.shape}")
    if x.dtype == np.uint8:
        x = x.astype(np.float32) / 255
    elif np.issubdtype(x.dtype, np.floating):
        if not (np.all(np.isfinite(x)) and x.min() >= 0 and x.max() <= 1):
            raise ValueError(f"{what} must be in [0, 1] (as canvas_to_mnist returns them)")
        x = x.astype(np.float32)
    else:
        raise ValueError(f"{what} must be float in [0, 1] or uint8, got {x.dtype}")
    y = np.asarray(labels)
    if y.shape != (len(x),) or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"labels of the {what} must be {len(x)} integers (N,), got {y.dtype}{list(y.shape)}")
    if y.min() < 0 or y.max() >= NUM_CLASSES:
        raise ValueError(f"labels of the {what} must be digits 0-9, got {y.min()}..{y.max()}")
    return x[..., None], y.astype(np.int32)


def save_drawings(images: np.ndarray, labels: np.ndarray) -> bytes:
    """Drawings (float in [0, 1] or uint8, (N, 28, 28)) and their labels as the bytes of a drawings `.npz`."""
    x, y = _checked(images, labels)
    if len(x) > MAX_DRAWINGS:
        raise ValueError(f"at most {MAX_DRAWINGS:,} drawings go in a file, got {len(x):,}")
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **{IMAGES: np.round(x[..., 0] * 255).astype(np.uint8), LABELS: y.astype(np.uint8)})
    return buffer.getvalue()


def load_drawings(source: bytes | str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """A drawings `.npz` (bytes or path) as images (N, 28, 28) float32 in [0, 1] and labels (N,) uint8.

    Judged from the archive's directory (archives.py) and each array's `.npy` header before its data is read:
    anything else (not an .npz, other members, pickled objects, other dtypes or shapes, more than MAX_DRAWINGS, a
    member whose size disagrees with its header) raises DataError with a one-line reason, as do labels above 9.
    """
    if isinstance(source, (bytes, bytearray)):
        name, data = "the drawings file", bytes(source)
    else:
        name, path = str(source), Path(source)
        try:
            if path.stat().st_size > MAX_FILE:
                raise DataError(f"{name} is {path.stat().st_size / 2**20:.1f} MB; a drawings file is at most "
                                f"{MAX_FILE / 2**20:.1f} MB")
            data = path.read_bytes()
        except FileNotFoundError:
            raise DataError(f"drawings file not found: {name}") from None
        except OSError as e:
            raise DataError(f"{name} could not be read ({e.strerror or e})") from None
    with open_zip(data, name, MEMBERS, DataError, "a drawings .npz") as npz:
        missing = [key for key in (IMAGES, LABELS) if f"{key}.npy" not in npz.namelist()]
        if missing:
            raise DataError(f"{name} is not a drawings .npz: it lacks {', '.join(missing)}")
        images, labels = (_array(npz, key, name) for key in (IMAGES, LABELS))
    if images.ndim != 3 or images.shape[1:] != (28, 28) or labels.shape != (len(images),):
        raise DataError(f"{name}: expected images (N, 28, 28) and labels (N,), got {images.shape} and {labels.shape}")
    if len(images) == 0:
        raise DataError(f"{name} holds no drawings")
    if labels.max() >= NUM_CLASSES:
        raise DataError(f"{name} has labels above 9 (up to {labels.max()})")
    return images.astype(np.float32) / 255, labels


def _array(npz, key, name):
    """A member's array, read only once its header says it is uint8, at most MAX_DRAWINGS long, and the
    member's declared size is the header's plus the data's."""
    member = f"{key}.npy"
    try:
        with npz.open(member) as f:
            version = npy.read_magic(f)
            if version not in ((1, 0), (2, 0)):  # what numpy writes for such arrays
                raise DataError(f"{name}: its {member} is .npy version {version[0]}.{version[1]}, not 1.0 or 2.0")
            read_header = npy.read_array_header_1_0 if version == (1, 0) else npy.read_array_header_2_0
            shape, fortran, dtype = read_header(f)
            header = f.tell()
            if dtype.hasobject:
                raise DataError(f"{name} holds Python objects (pickle), which are refused")
            if dtype != np.uint8:
                raise DataError(f"{name}: images and labels must be uint8, {key} is {dtype}")
            if shape and shape[0] > MAX_DRAWINGS:
                raise DataError(f"{name} holds {shape[0]:,} drawings; at most {MAX_DRAWINGS:,} are taken")
            size = math.prod(shape)
            if npz.getinfo(member).file_size != header + size:
                raise DataError(f"{name}: its {member} says {shape} ({header + size:,} bytes) but is "
                                f"{npz.getinfo(member).file_size:,} bytes")
            array = np.frombuffer(f.read(size), np.uint8)
            return array.reshape(shape[::-1]).T if fortran else array.reshape(shape)
    except DataError:
        raise
    except (ValueError, OSError, zipfile.BadZipFile, zlib.error, EOFError) as e:  # a broken header, data or CRC
        raise DataError(f"{name} is not a readable .npz file ({member}: {str(e).splitlines()[0] if str(e) else e!r})")\
            from None
