"""Robustness: the perturbations, the fixed test subset, the shipped model's curves, the CLI and the page."""

import json

import cv2
import numpy as np
import pytest

import mnist_cnn
from app import robustness as app_robustness
from mnist_cnn import PERTURBATIONS, perturb, robustness_curves
from mnist_cnn import robustness as core
from tests.test_cli import assert_one_line_error, cli

SIZE = 200  # test images, 20 of each digit: the curves' shape shows, in seconds


@pytest.fixture(scope="module")
def subset(mnist):
    return core.test_subset(*mnist[1], size=SIZE)


@pytest.mark.parametrize("name", PERTURBATIONS)
def test_the_clean_level_is_the_identity(subset, name):
    x = subset[0]
    clean = PERTURBATIONS[name].levels[0]
    for images in (x, x / np.float32(255), x[..., None]):
        out = perturb(images, name, clean)
        assert out.dtype == images.dtype and out.shape == images.shape
        np.testing.assert_array_equal(out, images)


@pytest.mark.parametrize("name", PERTURBATIONS)
def test_each_level_changes_the_images_more(subset, name):
    x = subset[0][:100] / np.float32(255)

    def soft(images):  # compared blurred: a digit shifted clear of where it was still counts as further off
        return np.stack([cv2.GaussianBlur(image, (0, 0), 3) for image in images])

    change = [np.abs(soft(perturb(x, name, level)) - soft(x)).mean() for level in PERTURBATIONS[name].levels]
    assert change[0] == 0 and np.all(np.diff(change) > 0), change
    strongest = perturb(subset[0][:100], name, PERTURBATIONS[name].levels[-1])
    assert strongest.dtype == np.uint8 and strongest.shape == (100, 28, 28)


def test_perturbations_are_seeded(subset):
    x = subset[0][:20]
    for name in ("rotation", "shift", "noise", "occlusion"):
        level = PERTURBATIONS[name].levels[-1]
        np.testing.assert_array_equal(perturb(x, name, level, seed=3), perturb(x, name, level, seed=3))
        assert not np.array_equal(perturb(x, name, level, seed=3), perturb(x, name, level, seed=4))


def test_the_subset_is_fixed_and_balanced(mnist):
    x_test, y_test = mnist[1]
    x, y = core.test_subset(x_test, y_test, size=300)
    assert x.shape == (300, 28, 28) and np.all(np.bincount(y, minlength=10) == 30)
    again, _ = core.test_subset(x_test, y_test, size=300)
    np.testing.assert_array_equal(x, again)
    assert not np.array_equal(x, core.test_subset(x_test, y_test, size=300, seed=1)[0])
    with pytest.raises(ValueError, match="at least 10"):
        core.test_subset(x_test, y_test, size=5)
    with pytest.raises(ValueError, match="only"):
        core.test_subset(x_test[:50], y_test[:50], size=100)


def test_an_unknown_perturbation_is_refused(subset, shipped):
    with pytest.raises(ValueError, match="unknown perturbation 'melt'"):
        perturb(subset[0], "melt", 1)
    with pytest.raises(ValueError, match="unknown perturbation"):
        robustness_curves(shipped, *subset, names=["rotation", "melt"])


def test_the_shipped_model_reads_clean_digits_and_breaks_under_strong_perturbations(shipped, subset):
    calls = []
    curves = robustness_curves(shipped, *subset, names=["rotation", "noise", "occlusion"],
                               progress=lambda done, total: calls.append((done, total)))
    assert list(curves) == ["rotation", "noise", "occlusion"]
    total = sum(len(PERTURBATIONS[n].levels) for n in curves)
    assert calls == [(i, total) for i in range(1, total + 1)]
    clean = mnist_cnn.evaluate(shipped, *subset).accuracy
    assert clean >= 0.97
    for name, curve in curves.items():
        assert [level for level, _ in curve] == list(PERTURBATIONS[name].levels)
        assert curve[0][1] == clean  # the clean level is the clean accuracy
        assert curve[-1][1] < clean - 0.5, (name, curve)  # the strongest level clearly breaks it
        assert curve[1][1] > clean - 0.1, (name, curve)  # the mildest barely shows


def test_cli_json_maps_every_perturbation_to_its_curve_clean_first():
    result = cli("robustness", "default", "--size", SIZE, "--json")
    curves = json.loads(result.stdout.strip().splitlines()[-1])
    assert list(curves) == list(PERTURBATIONS)
    cleans = {curve[0][1] for curve in curves.values()}
    assert len(cleans) == 1 and cleans.pop() >= 0.97
    for name, curve in curves.items():
        assert [level for level, _ in curve] == list(PERTURBATIONS[name].levels)
        assert all(0 <= accuracy <= 1 for _, accuracy in curve)


def test_cli_table_names_every_perturbation():
    out = cli("robustness", "default", "--size", SIZE).stdout
    assert f"on {SIZE} test images (20 of each digit)" in out
    assert all(f"  {name} ({p.unit}):" in out for name, p in PERTURBATIONS.items())


@pytest.mark.parametrize("args, words", [
    (["missing.keras"], ["model file not found", "missing.keras"]),
    (["default", "--size", "3"], ["at least 10"]),
], ids=["model", "size"])
def test_cli_bad_input_gets_one_error_line(args, words):
    assert_one_line_error(cli("robustness", *args, check=False), *words)


def charts_of(at):
    return {json.loads(c.proto.spec)["layout"]["title"]["text"]: json.loads(c.proto.spec)
            for c in at.get("plotly_chart")}


def test_the_page_draws_a_curve_per_perturbation_and_previews_a_digit(monkeypatch, new_session):
    monkeypatch.setattr(app_robustness, "SIZE", SIZE)
    at = new_session().switch_page("pages/robustness.py").run()
    assert not at.exception and not at.error
    charts = charts_of(at)
    assert sorted(charts) == sorted(name.capitalize() for name in PERTURBATIONS)  # in two columns
    rotation = charts["Rotation"]["data"][0]
    assert rotation["name"] == "this session's model (best)"
    assert rotation["x"] == list(PERTURBATIONS["rotation"].levels) and rotation["y"][0] >= 0.97
    assert rotation["y"][-1] < 0.5

    at.selectbox(key="robustness_name").set_value("occlusion").run()
    at.select_slider(key="robustness_occlusion_level").set_value(20).run()
    assert not at.exception
    captions = at.get("image")[0].captions
    assert captions[0].startswith("clean: read as 0") and captions[1].startswith("occlusion 20: read as")


def test_a_sessions_own_model_gets_its_curves_once_per_model_state(monkeypatch, new_session):
    monkeypatch.setattr(app_robustness, "SIZE", SIZE)
    monkeypatch.setenv("MNIST_CNN_TRAIN_SUBSET", "3000")
    at = new_session().switch_page("pages/training.py").run()
    at.button(key="start_new").click().run()  # a new, untrained model of its own
    at.switch_page("pages/robustness.py").run()
    assert not at.exception
    untrained = at.session_state[app_robustness.KEY]
    assert len(untrained) == 1 and charts_of(at)["Rotation"]["data"][0]["y"][0] < 0.5  # it guesses
    kept = dict(untrained)
    at.switch_page("pages/training.py").run()
    at.button(key="train_one").click().run()
    at.switch_page("pages/robustness.py").run()
    assert not at.exception
    after = at.session_state[app_robustness.KEY]
    assert len(after) == 2 and all(after[key] is curves for key, curves in kept.items())  # the old state's kept
    (trained,) = (curves for key, curves in after.items() if key not in kept)  # a new state, measured anew
    assert charts_of(at)["Rotation"]["data"][0]["y"] == [accuracy for _, accuracy in trained["rotation"]]
