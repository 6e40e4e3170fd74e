"""Teaching a model a visitor's handwriting, and the drawings file that carries it."""

import io
import zipfile

import numpy as np
import pytest

import mnist_cnn
from mnist_cnn import styles, teaching


def _taught(model, mnist, small):
    """`model` (a copy) before and after being taught 5 European-style drawings per digit."""
    (x_train, y_train), _ = mnist
    _, (x_test, y_test) = small
    x, y = styles.style_set(5, seed=100, styles=styles.EUROPEAN)
    held = styles.style_set(50, seed=200, styles=styles.EUROPEAN)  # other drawings of the same style
    model = mnist_cnn.copy_model(model)
    log_before = [dict(r) for r in mnist_cnn.training_log(model)]
    rate = float(model.optimizer.learning_rate)
    before = mnist_cnn.evaluate(model, *held), mnist_cnn.evaluate(model, x_test, y_test)
    records = mnist_cnn.fine_tune(model, x, y, replay=(x_train, y_train), seed=0)
    after = mnist_cnn.evaluate(model, *held), mnist_cnn.evaluate(model, x_test, y_test)
    return {"model": model, "records": records, "log_before": log_before, "rate": rate, "before": before,
            "after": after}


@pytest.fixture(scope="module")
def taught(shipped, mnist, small):
    """The shipped model, taught: a model that has converged, as teaching expects."""
    return _taught(shipped, mnist, small)


@pytest.fixture(scope="module")
def taught_unstyled(trained, mnist, small):
    """A model of MNIST alone, taught: the shipped one already reads these styles (BENCHMARKS.md)."""
    return _taught(trained, mnist, small)


def test_teaching_raises_accuracy_on_held_out_drawings_of_the_style(taught_unstyled):
    (style_before, _), (style_after, _) = taught_unstyled["before"], taught_unstyled["after"]
    # a model of MNIST alone misreads a fifth of the style (European 1s as 7s, most of all); taught, it reads more
    # of it, no digit much worse. Measured on these 500 drawings, teaching seeds 0-2: 80.8 % -> 85.4-87.2 %, the
    # worst digit -8 points. Which digits gain moves with the seed and the CPU's arithmetic (1s: -2 to +14
    # points), so only the whole is held to a gain. (The shipped model before its styles: 93 % -> 98.6 %,
    # BENCHMARKS.md, "Teaching a handwriting style".)
    assert style_after.accuracy >= style_before.accuracy + 0.03, (style_before.per_class, style_after.per_class)
    assert all(style_after.per_class >= style_before.per_class - 0.1), (style_before.per_class, style_after.per_class)


def test_teaching_keeps_mnist_accuracy(taught):
    """On 1,000 test digits, at most 5 more mistakes (0.5 points; measured on all 10,000: 0.0-0.06 points)."""
    (_, mnist_before), (_, mnist_after) = taught["before"], taught["after"]
    assert mnist_after.accuracy >= mnist_before.accuracy - 0.005


def test_teaching_appends_marked_records_and_keeps_the_learning_rate(taught):
    log = mnist_cnn.training_log(taught["model"])
    records, before = taught["records"], taught["log_before"]
    assert len(records) == teaching.EPOCHS and log[: len(before)] == before and log[len(before) :] == records
    assert [r["epoch"] for r in records] == list(range(len(before) + 1, len(before) + 1 + teaching.EPOCHS))
    assert all(r["taught"] == 50 and "loss" in r for r in records)
    assert float(taught["model"].optimizer.learning_rate) == pytest.approx(taught["rate"])


def test_held_out_keeps_a_share_of_each_digit_and_none_of_a_small_set():
    assert not mnist_cnn.held_out(np.arange(10).repeat(1)).any()  # 10 drawings: every one is needed to teach
    labels = np.r_[np.arange(10).repeat(5), [3, 3, 3, 3, 3], [8]]  # 5 of each, 5 more 3s, one more 8: 56
    mask = mnist_cnn.held_out(labels, seed=1)
    held = np.bincount(labels[mask], minlength=10)
    assert held[3] == 2 and held[8] == 1 and all(held[d] == 1 for d in (0, 1, 2, 4, 5, 6, 7, 9))
    assert np.array_equal(mask, mnist_cnn.held_out(labels, seed=1))
    assert not np.array_equal(mask, mnist_cnn.held_out(labels, seed=2))
    lonely = np.r_[np.zeros(30, int), [7]]  # a digit drawn once is never held out: it could not be taught
    assert not mnist_cnn.held_out(lonely)[-1] and mnist_cnn.held_out(lonely)[:30].sum() == 6


def test_teach_measures_on_held_out_drawings_and_reports_progress(shipped, mnist, small):
    (x_train, y_train), _ = mnist
    x, y = styles.style_set(5, seed=300, styles=styles.EUROPEAN)
    model = mnist_cnn.copy_model(shipped)
    seen = []
    lesson = mnist_cnn.teach(model, x, y, replay=(x_train, y_train), test=small[1], epochs=1,
                             callbacks=[mnist_cnn.Progress(seen.append, every=0)])
    assert (lesson.taught, lesson.held_out) == (40, 10)
    assert lesson.drawings_after >= lesson.drawings_before and lesson.seconds > 0
    kept = mnist_cnn.held_out(y)
    assert lesson.drawings_after == mnist_cnn.evaluate(model, x[kept], y[kept]).accuracy
    assert lesson.test_after == pytest.approx(mnist_cnn.evaluate(model, *small[1]).accuracy)
    assert lesson.test_after >= lesson.test_before - 0.01
    last = mnist_cnn.training_log(model)[-1]
    assert last["taught"] == 40 and last["test_accuracy"] == lesson.test_after
    assert seen and seen[-1].done == seen[-1].total  # 40 drawings x 8 + 40 x REPLAY_PER_DRAWING replayed, in batches


GOOD = np.full((3, 28, 28), 0.5, np.float32), np.array([1, 7, 9])
BAD_INPUTS = {
    "flat images": (np.zeros((3, 784), np.float32), GOOD[1]),
    "27 columns": (np.zeros((3, 28, 27), np.float32), GOOD[1]),
    "no drawings": (np.zeros((0, 28, 28), np.float32), np.zeros(0, int)),
    "above 1": (GOOD[0] + 0.6, GOOD[1]),
    "below 0": (GOOD[0] - 0.6, GOOD[1]),
    "NaN": (np.full((3, 28, 28), np.nan, np.float32), GOOD[1]),
    "int64 images": (np.zeros((3, 28, 28), np.int64), GOOD[1]),
    "label 10": (GOOD[0], np.array([1, 10, 9])),
    "label -1": (GOOD[0], np.array([1, -1, 9])),
    "float labels": (GOOD[0], np.array([1.0, 7.0, 9.0])),
    "too few labels": (GOOD[0], np.array([1, 7])),
}


@pytest.mark.parametrize("name", BAD_INPUTS)
def test_bad_inputs_raise_value_error(name, shipped):
    images, labels = BAD_INPUTS[name]
    with pytest.raises(ValueError):
        mnist_cnn.fine_tune(shipped, images, labels)  # refused before any training: the shared model is untouched


def test_bad_replay_and_epochs_raise_value_error(shipped):
    with pytest.raises(ValueError, match="replay"):
        mnist_cnn.fine_tune(shipped, *GOOD, replay=(np.zeros((5, 28, 28), np.uint8), np.zeros(4, np.uint8)))
    with pytest.raises(ValueError, match="epochs"):
        mnist_cnn.fine_tune(shipped, *GOOD, epochs=-1)


# the drawings file
def test_drawings_round_trip_through_bytes_and_paths(tmp_path):
    images, labels = styles.style_set(2, seed=1, styles=styles.EUROPEAN)
    data = mnist_cnn.save_drawings(images, labels)
    for source in (data, tmp_path / "drawings.npz", str(tmp_path / "drawings.npz")):
        (tmp_path / "drawings.npz").write_bytes(data)
        loaded, loaded_labels = mnist_cnn.load_drawings(source)
        assert loaded.dtype == np.float32 and loaded.shape == images.shape
        assert np.abs(loaded - images).max() <= 0.5 / 255 + 1e-6
        assert loaded_labels.dtype == np.uint8 and loaded_labels.tolist() == labels.tolist()
    with np.load(io.BytesIO(data)) as npz:  # the format: uint8 images and labels, nothing else
        assert sorted(npz.files) == ["images", "labels"] and npz["images"].dtype == npz["labels"].dtype == np.uint8


def _npz(**arrays):
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


IMAGES = np.zeros((4, 28, 28), np.uint8)
LABELS = np.array([0, 1, 2, 9], np.uint8)
BAD_FILES = {
    "not npz": (b"images and labels, honest\n", "not a drawings .npz"),
    "pickle inside": (_npz(images=np.array([{"a": 1}] * 4, dtype=object), labels=LABELS), "pickle"),
    "float images": (_npz(images=IMAGES.astype(np.float32), labels=LABELS), "uint8"),
    "int64 labels": (_npz(images=IMAGES, labels=LABELS.astype(np.int64)), "uint8"),
    "wrong shape": (_npz(images=np.zeros((4, 28, 27), np.uint8), labels=LABELS), "(N, 28, 28)"),
    "labels not matching": (_npz(images=IMAGES, labels=LABELS[:3]), "(N,)"),
    "labels above 9": (_npz(images=IMAGES, labels=np.array([0, 1, 12, 9], np.uint8)), "above 9"),
    "too many": (_npz(images=np.zeros((teaching.MAX_DRAWINGS + 1, 28, 28), np.uint8),
                      labels=np.zeros(teaching.MAX_DRAWINGS + 1, np.uint8)), "at most"),
    "empty": (_npz(images=IMAGES[:0], labels=LABELS[:0]), "no drawings"),
    "no labels": (_npz(images=IMAGES), "lacks labels"),
    "truncated": (_npz(images=IMAGES, labels=LABELS)[:200], "not"),
}


@pytest.mark.parametrize("name", BAD_FILES)
def test_bad_drawings_files_are_refused_in_one_line(name):
    data, words = BAD_FILES[name]
    with pytest.raises(mnist_cnn.DataError) as error:
        mnist_cnn.load_drawings(data)
    message = str(error.value)
    assert words in message and "\n" not in message, message


def test_a_missing_drawings_file_is_a_data_error(tmp_path):
    with pytest.raises(mnist_cnn.DataError, match="not found"):
        mnist_cnn.load_drawings(tmp_path / "none.npz")


def test_save_drawings_refuses_what_it_could_not_load_back():
    with pytest.raises(ValueError):
        mnist_cnn.save_drawings(np.zeros((teaching.MAX_DRAWINGS + 1, 28, 28), np.float32),
                                np.zeros(teaching.MAX_DRAWINGS + 1, np.uint8))
    with pytest.raises(ValueError):
        mnist_cnn.save_drawings(np.full((2, 28, 28), 2.0, np.float32), np.array([1, 2]))


def _member(header_shape, data_bytes):
    """A .npy member whose header says `header_shape` (uint8) and whose data is `data_bytes` zero bytes."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "|u1", "fortran_order": False, "shape": header_shape})
    return header.getvalue() + bytes(data_bytes)


def test_drawings_file_headers_are_judged_before_reading(monkeypatch):
    """Shapes, dtypes and sizes come from each .npy header and the zip's directory: an array is read only once
    they agree and fit, and reading is bounded by what they say."""
    from tools import hostile

    says_more = hostile.npz({"images.npy": _member((20, 28, 28), 10 * 28 * 28), "labels.npy": _member((20,), 20)})
    with pytest.raises(mnist_cnn.DataError, match=r"its images.npy says \(20, 28, 28\) \(15,808 bytes\) but is 7,968"):
        mnist_cnn.load_drawings(says_more)
    extra = hostile.npz({"images.npy": _member((1, 28, 28), 784), "labels.npy": _member((1,), 1), "x.npy": b""})
    with pytest.raises(mnist_cnn.DataError, match="holds 3 files or more; a drawings .npz file holds at most 2"):
        mnist_cnn.load_drawings(extra)
    fortran = hostile.npz({"images.npy": hostile.npy(np.asfortranarray(np.arange(784, dtype=np.uint8)
                                                                      .reshape(1, 28, 28))),
                           "labels.npy": hostile.npy(np.array([3], np.uint8))})
    images, _ = mnist_cnn.load_drawings(fortran)
    assert np.array_equal(np.round(images * 255).astype(np.uint8), np.arange(784, dtype=np.uint8).reshape(1, 28, 28))
    reads = []
    real_read = zipfile.ZipExtFile.read
    monkeypatch.setattr(zipfile.ZipExtFile, "read", lambda self, n=-1: reads.append(n) or real_read(self, n))
    too_many = hostile.npz({"images.npy": _member((teaching.MAX_DRAWINGS + 1, 28, 28), 2001 * 784),
                            "labels.npy": _member((2001,), 2001)})
    with pytest.raises(mnist_cnn.DataError, match="holds 2,001 drawings; at most 2,000 are taken"):
        mnist_cnn.load_drawings(too_many)
    assert reads and 0 < max(reads) <= 2**16, reads  # the header only, never the data
