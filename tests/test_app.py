"""The pages, driven headless by Streamlit's AppTest (the canvas itself needs a browser: see test_browser.py)."""

import hashlib
import json
import re
import subprocess
import sys
import threading

import numpy as np
import pytest

import mnist_cnn
from app import dataset, session, workers
from tests.conftest import PAGES as MENU
from tests.conftest import SHIPPED_EPOCHS

PAGES = [path for path, _ in MENU]


@pytest.fixture
def app(monkeypatch, new_session):
    """A fresh browser session on the canvas page; the app trains on a 3000-image subset."""
    monkeypatch.setenv(dataset.SUBSET_VAR, "3000")
    return new_session()


def card(at):
    return " ".join(m.value for m in at.sidebar.markdown)


def on(at, page):
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def weights_digest(model):
    return hashlib.sha256(b"".join(w.tobytes() for w in model.get_weights())).hexdigest()


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_with_the_model_card(app, page):
    on(app, page)
    assert not app.error
    text = card(app)
    assert "`best`" in text and "the shipped model" in text and "parameters: 125,354" in text
    assert f"epochs trained: {SHIPPED_EPOCHS}" in text
    assert f"test accuracy: {mnist_cnn.shipped_record()['test_accuracy']:.2%}" in text


def test_blank_canvas_asks_for_a_digit(app):
    assert any("Draw a digit" in i.value for i in app.info)
    assert not [m for m in app.markdown if "It's a" in m.value]


def test_uploaded_picture_is_classified(app, mnist, encode):
    _, (x_test, y_test) = mnist
    paper = 255 - np.kron(x_test[0], np.ones((4, 4), np.uint8))  # a dark digit on light paper, 112x112
    app.file_uploader(key="digit_upload").set_value(("digit.png", encode(paper), "image/png")).run()
    assert not app.exception and not app.error
    assert any(f"It's a **{y_test[0]}**" in m.value for m in app.markdown)
    assert app.get("plotly_chart")  # the ten probabilities


@pytest.mark.parametrize(
    "name, data, message",
    [("notes.png", b"this is text, not a picture", "not"), ("blank.png", np.full((64, 64), 255, np.uint8), "blank")],
    ids=["text", "blank"],
)
def test_odd_pictures_get_a_message(app, name, data, message, encode):
    data = data if isinstance(data, bytes) else encode(data)
    app.file_uploader(key="digit_upload").set_value((name, data, "image/png")).run()
    assert not app.exception
    shown = [e.value for e in app.error] + [i.value for i in app.info]
    assert any(message in text for text in shown), shown


def test_training_waits_for_a_free_worker(app, monkeypatch):
    """Every trainer busy with other visitors' training: a click's training waits its turn, then runs."""
    order, release = [], threading.Event()
    train = mnist_cnn.train
    monkeypatch.setattr(mnist_cnn, "train", lambda *args, **kwargs: order.append("trained") or train(*args, **kwargs))
    busy = [workers.trainers().submit(release.wait)[0] for _ in range(workers.TRAINERS)]
    threading.Timer(1, lambda: order.append("workers free") or release.set()).start()
    on(app, "pages/training.py")
    app.button(key="train_one").click().run()
    assert not app.exception and f"Epoch {SHIPPED_EPOCHS + 1} done" in app.success[0].value
    assert order == ["workers free", "trained"] and all(job.done() for job in busy)


def test_training_one_epoch_updates_history_chart_and_card(app):
    shipped_before = weights_digest(session.shipped_model())
    on(app, "pages/training.py")
    app.selectbox(key="arch").set_value("default").run()
    app.button(key="reset").click().run()
    assert "epochs trained: 0" in card(app) and "a new model" in card(app)
    app.button(key="train_one").click().run()
    assert not app.exception
    assert "Epoch 1 done" in app.success[0].value
    log = mnist_cnn.training_log(app.session_state["model"])
    # whether it learned is test_training.py's: one epoch of 17 batches from scratch lands anywhere in 0.01-0.86
    assert len(log) == 1 and 0 <= log[0]["test_accuracy"] <= 1 and "val_accuracy" in log[0]
    assert "epochs trained: 1" in card(app) and f"test accuracy: {log[0]['test_accuracy']:.2%}" in card(app)
    figure = json.loads(app.get("plotly_chart")[0].proto.spec)
    names = {trace.get("name") for trace in figure["data"]}
    assert {"training (per batch, smoothed)", "validation", "test"} <= names
    assert len(app.session_state["curve"].epoch) == 17  # 2100 training images in batches of 128

    app.number_input(key="epochs").set_value(2).run()
    app.button(key="train_many").click().run()
    assert "Epoch 3 done" in app.success[0].value and "epochs trained: 3" in card(app)
    on(app, "pages/gallery.py")  # the history survives page switches
    on(app, "pages/training.py")
    assert "epochs trained: 3" in card(app)
    tested = [t for t in json.loads(app.get("plotly_chart")[0].proto.spec)["data"] if t.get("name") == "test"]
    assert tested[0]["x"] == [1, 2, 3]
    assert weights_digest(session.shipped_model()) == shipped_before  # the shared model never changes
    assert len(mnist_cnn.training_log(session.shipped_model())) == SHIPPED_EPOCHS


def test_training_the_shipped_model_trains_a_copy(app):
    shipped_before = weights_digest(session.shipped_model())
    on(app, "pages/training.py")
    app.button(key="train_one").click().run()
    assert not app.exception and f"Epoch {SHIPPED_EPOCHS + 1} done" in app.success[0].value
    assert "trained further in this session" in card(app)
    assert app.session_state["model"] is not session.shipped_model()
    assert weights_digest(session.shipped_model()) == shipped_before


def test_gallery_filters_and_sorts(app, mnist):
    y_test = mnist[1][1]
    on(app, "pages/gallery.py")
    mistakes = int(app.metric[1].value.split()[0])
    assert 0 < mistakes < 100  # the shipped model

    def shown():
        images = app.get("image")[0]
        count = int(re.match(r"([\d,]+) images", app.caption[-1].value)[1].replace(",", ""))
        return count, images.captions

    count, captions = shown()
    assert count == mistakes and all(c.split()[0] != c.split()[-1] for c in captions)  # predicted != true
    app.toggle(key="gallery_mistakes").set_value(False).run()
    app.selectbox(key="gallery_true").set_value(3).run()
    count, captions = shown()
    assert count == int((y_test == 3).sum()) and len(captions) == 48
    assert all(c.endswith("true 3") for c in captions)
    confidences = [int(re.search(r"\((\d+)%\)", c)[1]) for c in captions]
    assert confidences == sorted(confidences, reverse=True)  # most confident first
    app.selectbox(key="gallery_pred").set_value(5).run()
    count, captions = shown()
    assert 0 < count < 10 and all(c.startswith("5 (") for c in captions)


def test_bad_model_upload_gets_a_message_and_a_good_one_is_used(app):
    on(app, "pages/training.py")
    app.file_uploader(key="model_upload").set_value(("broken.keras", b"not a zip", "application/zip")).run()
    assert not app.exception and "not a Keras .keras file" in app.error[0].value
    assert "the shipped model" in card(app)
    good = mnist_cnn.model_bytes(mnist_cnn.build_model("basic", seed=0))
    app.file_uploader(key="model_upload").set_value(("mine.keras", good, "application/zip")).run()
    assert not app.exception and not app.error
    assert "uploaded: mine.keras" in card(app) and "`basic`" in card(app)


def test_missing_data_is_explained_and_the_canvas_still_works(monkeypatch, tmp_path, new_session):
    monkeypatch.setenv("MNIST_NPZ", str(tmp_path / "nowhere.npz"))
    at = new_session(timeout=60)
    assert not at.exception and not at.error  # the canvas page needs no data, nor Compare before a run
    for page in (page for page in PAGES if page not in ("pages/canvas.py", "pages/compare.py")):
        on(at, page)
        assert "MNIST could not be loaded" in at.error[0].value and "nowhere.npz" in at.error[0].value
        assert "MNIST_NPZ=" in at.info[0].value


def test_test_predictions_are_computed_once_per_model_state(app):
    on(app, "pages/training.py")
    app.selectbox(key="arch").set_value("default").run()
    app.button(key="reset").click().run()
    on(app, "pages/gallery.py")
    first = app.session_state["evaluation"]
    app.toggle(key="gallery_mistakes").set_value(False).run()
    on(app, "pages/data.py")
    on(app, "pages/gallery.py")
    assert app.session_state["evaluation"] is first  # reused across reruns and page switches
    on(app, "pages/training.py")
    app.button(key="train_one").click().run()
    on(app, "pages/gallery.py")
    assert app.session_state["evaluation"] is not first  # a new model state, new predictions
    assert app.session_state["evaluation"].accuracy == pytest.approx(
        mnist_cnn.training_log(app.session_state["model"])[-1]["test_accuracy"]
    )


def test_the_core_never_imports_streamlit():
    modules = ["cli", "data", "drawing", "errors", "evaluation", "explanation", "files", "models", "state", "styles",
               "teaching", "training", "vetting"]
    code = f"import sys; [__import__('mnist_cnn.' + m) for m in {modules}]; print('streamlit' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_an_untrained_model_says_it_is_unsure(app, mnist, encode):
    on(app, "pages/training.py")
    app.selectbox(key="arch").set_value("default").run()
    app.button(key="reset").click().run()
    on(app, "pages/canvas.py")
    app.file_uploader(key="digit_upload").set_value(("digit.png", encode(mnist[1][0][0]), "image/png")).run()
    assert not app.exception
    assert "The model is unsure" in app.warning[0].value
    assert any("Maybe a" in m.value for m in app.markdown)


def test_gallery_pages_through_all_test_images(app):
    on(app, "pages/gallery.py")
    app.toggle(key="gallery_mistakes").set_value(False).run()
    app.selectbox(key="gallery_sort").set_value("test set order").run()
    assert "10,000 images; showing 1-48" in app.caption[-1].value
    first = app.get("image")[0].captions
    app.number_input[0].set_value(209).run()  # the last page
    assert "showing 9985-10000" in app.caption[-1].value
    assert len(app.get("image")[0].captions) == 16 and app.get("image")[0].captions != first


def test_data_page_reshuffles_its_samples(app):
    on(app, "pages/data.py")
    before = app.get("image")[0].captions
    app.button(key="reshuffle").click().run()
    after = app.get("image")[0].captions
    assert len(after) == 24 and after != before
    assert "(60000, 28, 28)" in str(app.dataframe[0].value)  # the full set, whatever the training subset


def test_importing_the_core_loads_neither_tensorflow_nor_data():
    code = "import sys, mnist_cnn; print(sorted(m for m in ('tensorflow', 'keras', 'cv2') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"  # names load on first use: the canvas page never pays for the data


def test_a_newcomer_is_offered_a_new_default_model_first(app):
    """On the shipped model the Train page's first, primary step starts a new `default` model, with the time an
    epoch takes; continuing the shipped model stays possible (test_training_the_shipped_model_trains_a_copy)."""
    on(app, "pages/training.py")
    start = app.button(key="start_new")
    assert start.proto.type == "primary" and app.button(key="train_one").proto.type == "secondary"
    offer = app.markdown[0].value
    assert "To watch a model learn, start a new one" in offer and re.search(r"about \d+ s", offer)
    start.click().run()
    assert not app.exception and "`default`" in card(app) and "epochs trained: 0" in card(app)
    assert not [b for b in app.button if b.key == "start_new"]  # offered only on the shipped model
    assert app.button(key="train_one").proto.type == "primary"
    assert any(re.search(r"an epoch takes about \d+ s", caption.value) for caption in app.caption)


def test_the_model_card_is_rendered_once_per_run(app):
    for page in PAGES:
        on(app, page)
        assert sum("**Model: `" in m.value for m in app.sidebar.markdown) == 1


def explanation_shown(at):
    """The captions of the explanation's pictures: the two evidence maps, the neighbours, the feature maps."""
    captions = [caption for image in at.get("image") for caption in image.captions]
    evidence = [c for c in captions if c.startswith("evidence for")]
    neighbours = [c for c in captions if re.fullmatch(r"a \d · [\d.]+", c)]
    blocks = [c for c in captions if c.startswith("block")]
    return evidence, neighbours, blocks


def test_an_answer_explains_itself_on_demand(app, mnist, encode):
    _, (x_test, y_test) = mnist
    app.file_uploader(key="digit_upload").set_value(("digit.png", encode(x_test[0]), "image/png")).run()
    assert explanation_shown(app) == ([], [], [])  # the answer does not wait for an explanation nobody asked for
    app.toggle(key="explain").set_value(True).run()
    assert not app.exception
    evidence, neighbours, blocks = explanation_shown(app)
    assert evidence[0].startswith(f"evidence for {y_test[0]} ") and len(evidence) == 2
    assert len(neighbours) == 8 and sum(c.startswith(f"a {y_test[0]} ") for c in neighbours) >= 5
    assert len(blocks) == 3  # the shipped model's three convolution blocks


def test_a_gallery_image_explains_why_it_was_misread(app):
    on(app, "pages/gallery.py")  # mistakes only, most confident first
    box = next(s for s in app.selectbox if s.key.startswith("gallery_explain_"))
    worst = box.options[1]  # the most confident mistake
    box.select_index(1).run()
    assert not app.exception
    evidence, neighbours, blocks = explanation_shown(app)
    read_as = re.search(r"read as (\d)", worst)[1]
    assert evidence[0].startswith(f"evidence for {read_as} ") and len(neighbours) == 8 and blocks


# corrections and teaching
def handwriting(at):
    """The labels of the session's set of drawings, oldest first."""
    from app import teaching

    return [d.label for d in at.session_state[teaching.SET]] if teaching.SET in at.session_state else []


def test_corrections_build_a_set_that_teaches_the_sessions_model(app, mnist, encode):
    _, (x_test, y_test) = mnist
    app.file_uploader(key="digit_upload").set_value(("digit.png", encode(x_test[0]), "image/png")).run()
    app.button_group(key="correct_upload").set_value(int(y_test[0])).run()  # a right answer, confirmed
    wrong = (int(y_test[0]) + 1) % 10
    app.button_group(key="correct_upload").set_value(wrong).run()  # "Wrong? It's a ..."
    assert not app.exception and handwriting(app) == [y_test[0], wrong]
    assert app.button_group(key="correct_upload").value is None  # ready for the next drawing
    assert any(m.value.startswith(f"**{wrong}** · 1") for m in app.markdown)  # the grid, by digit
    assert any("Your handwriting (2 drawings)" in h.value for h in app.header)
    shipped = weights_digest(session.shipped_model())
    app.button(key="teach").click().run()
    assert not app.exception and not app.error
    metrics = {m.label: m for m in app.metric}
    drawings = metrics["Your drawings"]
    assert any("the taught ones, as there were too few to hold any out" in c.value for c in app.caption)
    assert drawings.value in ("50%", "100%") and "points from 50%" in drawings.delta  # the wrong one is learned, or not
    assert float(metrics["MNIST test images"].value.rstrip("%")) > 99.0
    assert weights_digest(session.shipped_model()) == shipped  # the session taught a copy
    assert "trained further in this session" in card(app)


def test_the_set_removes_clears_downloads_and_takes_uploads(app, mnist, encode):
    _, (x_test, y_test) = mnist
    app.file_uploader(key="digit_upload").set_value(("digit.png", encode(x_test[0]), "image/png")).run()
    for label in (3, 3, 5):
        app.button_group(key="correct_upload").set_value(label).run()
    assert handwriting(app) == [3, 5]  # the same drawing and digit twice is one drawing
    first = next(b for b in app.button if b.key.startswith("remove_"))
    first.click().run()
    assert handwriting(app) == [5]
    assert not app.get("download_button")[0].proto.disabled  # what it downloads: test_browser.py
    upload = app.file_uploader(key="handwriting_upload")
    upload.set_value(("mine.npz", mnist_cnn.save_drawings(x_test[:4], y_test[:4]), "application/octet-stream")).run()
    assert handwriting(app) == [5, *y_test[:4]]
    app.file_uploader(key="handwriting_upload").set_value(("bad.npz", b"not a zip", "application/zip")).run()
    assert any(e.value.startswith("bad.npz: ") and "not a drawings .npz" in e.value for e in app.error)
    assert len(handwriting(app)) == 5  # nothing lost
    app.button(key="clear_handwriting").click().run()
    assert handwriting(app) == [] and app.button(key="teach").disabled



def headline(at):
    return next(m.value for m in at.markdown if m.value.startswith("### "))


def test_a_correction_changes_the_next_answer_at_once(app, mnist, encode):
    _, (x_test, _) = mnist
    picture = encode(255 - np.kron(x_test[0], np.ones((4, 4), np.uint8)))
    app.file_uploader(key="digit_upload").set_value(("digit.png", picture, "image/png")).run()
    shipped = session.shipped_model()
    read = mnist_cnn.canvas_to_mnist(mnist_cnn.read_image(picture))
    runner_up = int(np.argsort(mnist_cnn.predict_proba(shipped, read[None])[0])[-2])
    assert f"**{runner_up}**" not in headline(app)
    digest = weights_digest(shipped)
    app.button_group(key="correct_upload").set_value(runner_up).run()  # "Wrong? It's a ..."
    assert not app.exception and handwriting(app) == [runner_up]
    assert headline(app).startswith((f"### It's a **{runner_up}**", f"### A **{runner_up}**"))  # no teaching pressed
    own = app.session_state["model"]
    assert own is not shipped and mnist_cnn.remembered(own) == 1 and weights_digest(shipped) == digest
    assert "memory: 1 taught drawing" in card(app) and "parameters: 125,354" in card(app)  # the network's own
    app.button(key="clear_handwriting").click().run()  # the memory follows the set
    assert mnist_cnn.remembered(own) == 0 and f"**{runner_up}**" not in headline(app)
    assert "memory:" not in card(app)


def test_a_convention_question_is_asked_and_one_tap_teaches_it(app, encode):
    from mnist_cnn import styles

    rng, shipped = np.random.default_rng(0), session.shipped_model()
    for _ in range(60):  # long-flagged 1s: MNIST's writers drew 7s so, and the shipped model hesitates on many
        page = styles.draw_canvas(1, "long-flag", rng)
        proba = mnist_cnn.predict_proba(shipped, mnist_cnn.canvas_to_mnist(page)[None])[0]
        question = mnist_cnn.convention_question(proba)
        if question:
            break
    app.file_uploader(key="digit_upload").set_value(("one.png", encode(page), "image/png")).run()
    assert not app.exception
    assert headline(app) == f"### A **{question[0]}** or a **{question[1]}**?"
    asked = app.button_group(key="question_upload")
    assert sorted(asked.options) == ["1", "7"]
    asked.set_value(1).run()  # one tap
    assert not app.exception and handwriting(app) == [1]
    assert headline(app).startswith("### It's a **1**")  # the same drawing, read the writer's way at once
