"""The Compare page, driven headless by Streamlit's AppTest: the runs a session trains, side by side."""

import dataclasses

import numpy as np
import pytest
from streamlit.runtime.memory_uploaded_file_manager import MemoryUploadedFileManager

import mnist_cnn
from app import dataset, session
from app import runs as app_runs
from mnist_cnn import runs

HYPER = {"batch_size": 128, "validation_split": 0.3, "learning_rate": 0.4, "seed": None, "augment": None}


@pytest.fixture
def app(monkeypatch, new_session):
    """A fresh browser session; the app trains on a 3000-image subset."""
    monkeypatch.setenv(dataset.SUBSET_VAR, "3000")
    return new_session()


@pytest.fixture(scope="module")
def two_runs(trained, shipped, mnist):
    """A run of the briefly trained default model and one of the shipped model, with their test results."""
    _, test = mnist
    return tuple(runs.record(model, name, {**HYPER, "epochs": 1}, mnist_cnn.evaluate(model, *test), seconds)
                 for model, name, seconds in ((trained, "quick default", 1.2), (shipped, "shipped best", 25.0)))


def on(at, page):
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def names(at):
    return at.dataframe[0].value["name"].tolist()


def test_without_runs_it_says_how_to_make_them(app):
    on(app, "pages/compare.py")
    assert any("No runs yet" in i.value and "Train page" in i.value for i in app.info)
    assert not app.dataframe


def test_runs_side_by_side_restored_renamed_deleted(app, two_runs, mnist):
    app.session_state["runs"] = two_runs
    on(app, "pages/compare.py")
    table = app.dataframe[0].value
    assert table.columns.tolist() == ["name", "architecture", "params", "epochs", "batch", "lr", "val split", "seed",
                                      "test acc", "epoch s", "when"]
    assert names(app) == ["quick default", "shipped best"]
    assert table["architecture"].tolist() == ["default", "best"] and table["params"][1] == 125_354
    assert table["test acc"][1] == pytest.approx(mnist_cnn.shipped_record()["test_accuracy"], abs=1e-4)
    assert len(app.get("plotly_chart")) == 2  # the curves and the per-digit bars
    # what A (the quick one) gets wrong that B (the shipped model) gets right: as many as the predictions say
    _, (x_test, y_test) = mnist
    a, b = (mnist_cnn.predict_proba(runs.restore(r), x_test).argmax(axis=1) for r in two_runs)
    wrong = len(mnist_cnn.disagreements(a, b, y_test))
    assert not app.get("image")  # runs that did not train here: their models read the test images when asked
    app.button(key="compare_read").click().run()
    assert any(f"gets **{wrong:,}** test images wrong" in m.value for m in app.markdown)
    assert len(app.get("image")[0].captions) == min(wrong, 48)  # the images, A's answer and B's

    app.selectbox(key="run_pick").set_value(two_runs[0].id).run()
    app.button(key="run_restore").click().run()
    assert not app.exception and not app.error
    model = app.session_state["model"]
    assert model is not session.shipped_model() and mnist_cnn.epochs_trained(model) == 2
    assert "run `quick default`, made the session's model again" in " ".join(m.value for m in app.sidebar.markdown)

    app.text_input(key=f"run_name_{two_runs[0].id}").set_value("  my first  ")
    next(b for b in app.button if b.label == "Rename").click().run()
    assert names(app) == ["my first", "shipped best"]

    app.button(key="run_delete").click().run()
    assert names(app) == ["shipped best"]
    assert any("Deleted `my first`" in s.value for s in app.success)
    assert any("a second run" in i.value for i in app.info)


def test_runs_download_and_upload_as_one_file(app, two_runs):
    on(app, "pages/compare.py")
    app.file_uploader(key="runs_upload").set_value(("runs.zip", b"not a zip", "application/zip")).run()
    assert [e.value for e in app.error] == ["runs.zip is not a runs file (not a zip archive)"]
    data = mnist_cnn.save_runs(two_runs)
    app.file_uploader(key="runs_upload").set_value(("mine.zip", data, "application/zip")).run()
    assert not app.exception and not app.error
    assert names(app) == ["quick default", "shipped best"]
    assert any("Added 2 runs" in s.value for s in app.success)
    assert all(r.id not in {u.id for u in two_runs} for r in app.session_state["runs"])  # new ids


def test_a_runs_file_once_read_is_no_longer_held_by_streamlit(app, two_runs, monkeypatch):
    """runtime.forget_upload: Streamlit would keep the file's bytes until the session ends, beside the runs read."""
    managers = []
    add_file = MemoryUploadedFileManager.add_file
    monkeypatch.setattr(MemoryUploadedFileManager, "add_file",
                        lambda manager, *args: (managers.append(manager), add_file(manager, *args))[1])
    on(app, "pages/compare.py")
    app.file_uploader(key="runs_upload").set_value(("mine.zip", mnist_cnn.save_runs(two_runs), "application/zip")).run()
    assert names(app) == ["quick default", "shipped best"]
    assert managers and not any(files for manager in managers for files in manager.file_storage.values())


def test_uploads_past_the_budgets_are_refused(app, two_runs, monkeypatch):
    app.session_state["runs"] = tuple(dataclasses.replace(two_runs[0], id=f"r{i}", name=f"run {i}") for i in range(9))
    on(app, "pages/compare.py")
    data = mnist_cnn.save_runs(two_runs)
    app.file_uploader(key="runs_upload").set_value(("two.zip", data, "application/zip")).run()
    assert [e.value for e in app.error] == [
        "this session has 9 runs and the file 2: a session keeps 10 (16 MB) at most. Delete some runs first."]
    monkeypatch.setattr(app_runs, "MAX_SERVER_BYTES", len(two_runs[0].weights))  # every session's runs together
    app.session_state["runs"] = ()
    app.file_uploader(key="runs_upload").set_value(("two.zip", data, "application/zip")).run()
    assert any("the server holds as many runs as its memory allows" in e.value for e in app.error)
    assert not app.dataframe


def test_each_training_is_a_run_and_training_a_model_again_updates_its_own(app):
    """Through the Train page: a new default model trained twice is one run of 2 epochs; a new dropout model
    trained once is a second run."""
    on(app, "pages/training.py")
    app.button(key="start_new").click().run()
    app.button(key="train_one").click().run()
    assert any("Kept as run `default 1`" in s.value for s in app.success)
    app.button(key="train_one").click().run()
    assert any("Updated run `default 1`" in s.value for s in app.success)
    app.selectbox(key="arch").set_value("dropout").run()
    app.button(key="reset").click().run()
    app.button(key="train_one").click().run()
    on(app, "pages/compare.py")
    table = app.dataframe[0].value
    assert names(app) == ["default 1", "dropout 1"] and table["epochs"].tolist() == [2, 1]
    # their predictions were made as they were recorded: compared at once, no model restored
    assert any("test images wrong that `dropout 1` gets right" in m.value for m in app.markdown)
    assert not [b for b in app.button if b.key == "compare_read"]
    assert np.all(table["test acc"] > 0.5)
    last = mnist_cnn.training_log(app.session_state["model"])[-1]
    assert app.session_state["runs"][-1].test_accuracy == pytest.approx(last["test_accuracy"])


def test_the_eleventh_run_replaces_the_oldest_and_says_so(app, two_runs):
    app.session_state["runs"] = tuple(dataclasses.replace(two_runs[0], id=f"r{i}", name=f"run {i}") for i in range(10))
    on(app, "pages/training.py")
    said = [element.value for element in (*app.caption, *app.warning)]
    assert any("the next training replaces the oldest, `run 0`" in text for text in said), said
    app.button(key="start_new").click().run()
    app.button(key="train_one").click().run()
    assert any("Kept as run `default 1`" in s.value and "it replaced the oldest: `run 0`." in s.value
               for s in app.success)
    assert [r.name for r in app.session_state["runs"]] == [*(f"run {i}" for i in range(1, 10)), "default 1"]
