"""Runs (mnist_cnn/runs.py): recorded compactly, restored to the same model, saved and loaded as one file, and
hostile runs files refused in one line from their headers."""

import io
import json
import struct
import zipfile

import numpy as np
import pytest

import mnist_cnn
from mnist_cnn import runs
from tools import hostile

HYPER = {"epochs": 2, "batch_size": 128, "validation_split": 0.0, "learning_rate": 0.4, "seed": 0, "augment": False}


@pytest.fixture(scope="module")
def run(trained, small):
    return runs.record(trained, "default 1", HYPER, mnist_cnn.evaluate(trained, *small[1]), 1.5)


def one_line(e):
    assert "\n" not in str(e.value) and len(str(e.value)) < 400, str(e.value)
    return str(e.value)


def test_a_run_holds_how_it_was_made_and_what_it_reached(run, trained, small):
    evaluation = mnist_cnn.evaluate(trained, *small[1])
    assert (run.name, run.architecture, run.params) == ("default 1", "default", trained.count_params())
    assert run.spec == mnist_cnn.ARCHS["default"].spec.to_dict()
    assert run.hyper == HYPER  # epochs: from the history, 2
    assert run.history == tuple(mnist_cnn.training_log(trained)) and len(run.history) == 2
    assert run.test_accuracy == evaluation.accuracy and np.allclose(run.per_digit, evaluation.per_class)
    assert run.epoch_seconds == 1.5 and run.when.endswith("+00:00")
    assert len(run.weights) < len(mnist_cnn.model_bytes(trained))  # deflated


def test_restore_gives_the_same_model_which_trains_on(run, trained, small):
    model = runs.restore(run)
    assert model is not trained
    np.testing.assert_array_equal(mnist_cnn.predict_proba(model, small[1][0]),
                                  mnist_cnn.predict_proba(trained, small[1][0]))
    assert mnist_cnn.spec_of(model) == mnist_cnn.spec_of(trained)
    mnist_cnn.train(model, (small[0][0][:256], small[0][1][:256]), epochs=1)
    assert mnist_cnn.epochs_trained(model) == 3 and mnist_cnn.epochs_trained(trained) == 2


def test_renamed_and_bad_names(run):
    assert runs.renamed(run, "  adam, lr 1e-3 ").name == "adam, lr 1e-3"
    for name in ("", "   ", "x" * (runs.MAX_NAME + 1)):
        with pytest.raises(ValueError, match="1 to 60 characters"):
            runs.renamed(run, name)


def test_disagreements_are_what_a_gets_wrong_and_b_right():
    labels = np.array([0, 1, 2, 3, 4])
    a = np.array([0, 9, 9, 3, 9])
    b = np.array([0, 1, 9, 9, 4])
    assert mnist_cnn.disagreements(a, b, labels).tolist() == [1, 4]
    assert mnist_cnn.disagreements(b, a, labels).tolist() == [3]
    with pytest.raises(ValueError, match="differ in length"):
        mnist_cnn.disagreements(a, b[:3], labels)


def test_runs_file_round_trip(run, small):
    other = runs.renamed(run, "second")
    loaded = mnist_cnn.load_runs(mnist_cnn.save_runs([run, other]))
    assert [r.name for r in loaded] == ["default 1", "second"]
    for back in loaded:
        assert back.id != run.id
        for field in ("architecture", "params", "spec", "hyper", "history", "test_accuracy", "per_digit",
                      "epoch_seconds", "when"):
            assert getattr(back, field) == getattr(run, field), field
        np.testing.assert_array_equal(mnist_cnn.predict_proba(runs.restore(back), small[1][0][:100]),
                                      mnist_cnn.predict_proba(runs.restore(run), small[1][0][:100]))
    with pytest.raises(ValueError, match="1 to 10 runs"):
        mnist_cnn.save_runs([run] * 11)


def test_ten_runs_of_the_registry_fit_the_budget(small):
    """The registry's five architectures, trained a few batches (their optimizer slots made), twice over: within
    the issue's 20 MB, and ten of the largest within what a session keeps."""
    (x, y), (x_test, y_test) = small
    sizes = {}
    for arch in mnist_cnn.ARCHS:
        model = mnist_cnn.build_model(arch, seed=0)
        mnist_cnn.train(model, (x[:256], y[:256]), epochs=1, batch_size=64, seed=0)
        sizes[arch] = len(runs.record(model, arch, {}, mnist_cnn.evaluate(model, x_test[:10], y_test[:10]), 1).weights)
    assert 2 * sum(sizes.values()) <= 20 * 2**20, sizes
    assert 10 * max(sizes.values()) <= runs.MAX_RUN_BYTES, sizes


def runs_file(index, members):
    """A runs file of an index (a dict, or raw bytes) and members, deflated."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(runs.INDEX, index if isinstance(index, bytes) else json.dumps(index))
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def entry(**changes):
    return {"name": "a run", "hyper": {}, "test_accuracy": 0.9, "per_digit": [0.9] * 10, "epoch_seconds": 1.0,
            "when": "2026-12-01T10:00:00+00:00", "model": "run1.keras", **changes}


def index(*entries):
    return {"format": runs.FORMAT, "runs": list(entries)}


def lying_size(data, member, size):
    """`data`, a zip, with the directory's uncompressed size of `member` said to be `size`."""
    at = data.index(b"PK\x01\x02")
    while data[at + 46 : at + 46 + struct.unpack_from("<H", data, at + 28)[0]] != member.encode():
        at = data.index(b"PK\x01\x02", at + 4)
    return data[: at + 24] + struct.pack("<L", size) + data[at + 28 :]


HOSTILE = [
    ("too many listed", "lists 11 runs; a runs file holds 1 to 10"),
    ("too many members", "holds 12 files or more"),
    ("oversized models", "its models unpack to 20.0 MB, more than the 16 MB a session keeps"),
    ("index bomb", "runs.json unpacks to 50.0 MB, more than a runs file's 256 KB"),
    ("not a model", "the runs file's run1.keras is not a Keras .keras file (not a zip archive)"),
    ("a model over the limits", "the runs file's run1.keras is refused: it has 2,385,000,010 parameters"),
    ("a member that lies", "is not a readable runs file"),
    ("a .keras file", "holds 'metadata.json', which is not part of a runs file"),
    ("not a zip", "is not a runs file (not a zip archive)"),
    ("bad field", "run 1: test_accuracy must be from 0 to 1"),
    ("missing model", "names models twice or models it does not hold"),
]


@pytest.mark.parametrize("case, message", HOSTILE, ids=[case for case, _ in HOSTILE])
def test_hostile_runs_files_are_refused_in_one_line(case, message, run):
    model = run.weights
    data = {
        "too many listed": lambda: runs_file(index(*[entry()] * 11), {"run1.keras": model}),
        "too many members": lambda: runs_file(index(entry()), {f"run{i}.keras": b"" for i in range(1, 12)}),
        "oversized models": lambda: runs_file(index(entry()), {"run1.keras": bytes(20 * 2**20)}),
        "index bomb": lambda: runs_file(b" " * (50 * 2**20), {}),
        "not a model": lambda: runs_file(index(entry()), {"run1.keras": b"hello"}),
        "a model over the limits": lambda: runs_file(index(entry()), {"run1.keras": hostile.wide_dense(3_000_000)}),
        "a member that lies": lambda: lying_size(runs_file(index(entry()), {"run1.keras": model}), "run1.keras", 1000),
        "a .keras file": lambda: model,
        "not a zip": lambda: b"just text",
        "bad field": lambda: runs_file(index(entry(test_accuracy=7)), {"run1.keras": model}),
        "missing model": lambda: runs_file(index(entry(model="run2.keras")), {"run1.keras": model}),
    }[case]()
    assert len(data) < 2**20  # every one is a small upload
    with pytest.raises(mnist_cnn.ModelFileError) as e:
        mnist_cnn.load_runs(data)
    assert message in one_line(e), str(e.value)
