"""The command line, run as a user runs it: python -m mnist_cnn ..."""

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from mnist_cnn import ARCHS, load_model

ROOT = Path(__file__).resolve().parent.parent


def cli(*args, check=True):
    result = subprocess.run([sys.executable, "-m", "mnist_cnn", *map(str, args)], cwd=ROOT, capture_output=True,
                            text=True, timeout=600, env={**os.environ, "PYTHONPATH": str(ROOT)})
    if check:
        assert result.returncode == 0, result.stderr
    return result


def assert_one_line_error(result, *words):
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and all(w in last for w in words), last


@pytest.mark.parametrize("command", ["train", "evaluate", "predict", "archs"])
def test_every_command_has_help(command):
    assert "usage:" in cli(command, "--help").stdout


def test_archs_lists_the_registry_with_sizes():
    out = cli("archs").stdout.splitlines()
    assert [line.split()[0] for line in out] == list(ARCHS)
    assert all("params" in line for line in out)


@pytest.mark.slow
def test_train_one_epoch_on_everything(tmp_path):
    out = tmp_path / "one.keras"
    result = cli("train", "--arch", "default", "--epochs", "1", "--seed", "0", "--out", out, "--json")
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert {"fit_seconds", "test_loss", "test_accuracy", "epochs", "arch"} <= set(report)
    assert report["arch"] == "default" and report["epochs"] == 1 and report["fit_seconds"] > 0
    assert report["test_accuracy"] >= 0.985  # the 99.2 % target is measured over seeds in bench/
    assert "epoch 1" in result.stderr  # progress
    assert load_model(out).name == "default"
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["test_accuracy"] == report["test_accuracy"] and "--seed 0" in record["command"]


@pytest.mark.slow
def test_evaluate_the_shipped_model():
    report = json.loads(cli("evaluate", "models/mnist_cnn.keras", "--json").stdout)
    assert report["test_accuracy"] >= 0.995 and len(report["per_class_accuracy"]) == 10
    text = cli("evaluate", "models/mnist_cnn.keras").stdout
    assert "test accuracy" in text and "  9:" in text


def test_predict_reads_image_files(tmp_path, mnist):
    x_test, y_test = mnist[1]
    paths = []
    for i in range(5):
        big = cv2.resize(x_test[i], (300, 300), interpolation=cv2.INTER_LINEAR)
        path = tmp_path / f"digit{i}.{'png' if i % 2 else 'jpg'}"
        cv2.imwrite(str(path), 255 - big if i == 0 else big)  # one dark-on-light, like paper
        paths.append(path)
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.zeros((50, 50), np.uint8))
    lines = cli("predict", "default", *paths, blank).stdout.splitlines()
    assert [int(line.split(": ")[1].split()[0]) for line in lines[:5]] == y_test[:5].tolist()
    assert "no digit" in lines[5]


def test_errors_are_one_line(tmp_path):
    assert_one_line_error(cli("train", "--arch", "resnet", "--out", tmp_path / "m.keras", check=False), "resnet")
    assert_one_line_error(cli("evaluate", tmp_path / "none.keras", check=False), "not found", "none.keras")
    bad = tmp_path / "bad.png"
    bad.write_text("not an image")
    assert_one_line_error(cli("predict", "default", bad, check=False), "bad.png")
    assert_one_line_error(cli("train", "--data", tmp_path / "no.npz", "--out", tmp_path / "m.keras", check=False),
                          "no.npz")


# teach, and train --styles
def _drawings_file(tmp_path, n_per_style=1):
    from mnist_cnn import save_drawings, style_set
    from mnist_cnn.styles import EUROPEAN

    path = tmp_path / "drawings.npz"
    path.write_bytes(save_drawings(*style_set(n_per_style, seed=7, styles=EUROPEAN)))
    return path


def test_teach_a_model_on_a_drawings_file(tmp_path):
    out = tmp_path / "taught.keras"
    result = cli("teach", "models/mnist_cnn.keras", _drawings_file(tmp_path), "--out", out, "--epochs", "1", "--json")
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["drawings"] == 10 and report["held_out"] == 0 and report["fit_seconds"] > 0  # too few to hold out
    assert {"drawings_accuracy_before", "drawings_accuracy_after", "test_accuracy_before",
            "test_accuracy"} <= set(report)
    assert report["test_accuracy"] >= report["test_accuracy_before"] - 0.01
    assert "drawings, the taught ones" in result.stdout and "MNIST test:" in result.stdout
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["test_accuracy"] == report["test_accuracy"] and "teach" in record["command"]
    from mnist_cnn import training_log

    log = training_log(load_model(out))
    assert log[-1]["taught"] == 10 and log[:-1] == training_log(load_model("models/mnist_cnn.keras"))


def test_teach_on_style_digits_alone_keeps_the_starting_models_record(tmp_path):
    out = tmp_path / "styled.keras"
    result = cli("teach", "default", "--styles", "23", "--epochs", "1", "--seed", "3", "--out", out, "--json")
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["drawings"] == 23 and report["styles"] == 23 and report["held_out"] > 0  # 23 >= HOLD_OUT_FROM
    assert report["base"] == json.loads((ROOT / "models" / "mnist_cnn.json").read_text())


def test_teach_errors_are_one_line(tmp_path):
    drawings = _drawings_file(tmp_path)
    out = tmp_path / "t.keras"
    notes = tmp_path / "notes.npz"
    notes.write_text("not drawings")
    assert_one_line_error(cli("teach", "default", notes, "--out", out, check=False), "notes.npz", "not a drawings")
    assert_one_line_error(cli("teach", "default", tmp_path / "no.npz", "--out", out, check=False), "not found")
    assert_one_line_error(cli("teach", tmp_path / "none.keras", drawings, "--out", out, check=False), "none.keras")
    assert_one_line_error(cli("teach", "default", drawings, "--out", tmp_path / "t.h5", check=False), ".keras")
    assert_one_line_error(cli("teach", "default", drawings, "--out", out, "--epochs", "0", check=False), "--epochs")
    assert_one_line_error(cli("teach", "default", "--out", out, check=False), "drawings file, --styles")
    assert "usage:" in cli("teach", "--help").stdout


def test_train_styles_adds_shuffled_style_digits():
    from mnist_cnn.cli import _with_styles

    x = np.zeros((300, 28, 28), np.uint8)
    y = np.zeros(300, np.uint8)
    x2, y2 = _with_styles(x, y, 120, seed=3)
    assert x2.dtype == np.uint8 and x2.shape == (420, 28, 28) and len(y2) == 420
    drawn = x2.reshape(420, -1).max(axis=1) > 0
    assert drawn.sum() == 120 and np.unique(y2[drawn]).size >= 5  # style digits of many kinds
    assert drawn[:300].sum() < 120  # shuffled in, not all at the end (a validation split takes some of each)
    np.testing.assert_array_equal(_with_styles(x, y, 120, seed=3)[0], x2)


@pytest.mark.slow
def test_train_with_styles_records_them(tmp_path):
    out = tmp_path / "styled.keras"
    cli("train", "--arch", "default", "--epochs", "1", "--styles", "500", "--out", out)
    assert json.loads(out.with_suffix(".json").read_text())["styles"] == 500


def test_hostile_files_are_refused_by_the_cli_as_by_the_app(tmp_path):
    """The CLI reads files through the same load_model() / load_drawings() / read_image(): the same budgets."""
    from tools import hostile

    wide, zeros, lies = tmp_path / "wide.keras", tmp_path / "zeros.npz", tmp_path / "lies.png"
    wide.write_bytes(hostile.wide_dense(3_000_000))
    zeros.write_bytes(hostile.zeros_npz(100_000))
    lies.write_bytes(hostile.png_header_lies(60_000, 60_000))
    assert_one_line_error(cli("evaluate", wide, check=False), "wide.keras", "2,385,000,010 parameters")
    assert_one_line_error(cli("teach", "default", zeros, "--out", tmp_path / "t.keras", check=False), "zeros.npz",
                          "images.npy unpacks to 74.8 MB")
    assert_one_line_error(cli("predict", "default", lies, check=False), "lies.png", "too large")
