"""A session's model goes when the session does, and only so many sessions own one at once. (Two sessions
training at once, in real browsers: tests/test_browser.py.)"""

import gc
import weakref

import mnist_cnn
from app import dataset, keep, session


def new_session_trains_one_epoch_and_explains(new_session):
    at = new_session(timeout=300)
    at.switch_page("pages/training.py").run()
    at.selectbox(key="arch").set_value("default").run()
    at.button(key="reset").click().run()
    at.button(key="train_one").click().run()
    at.switch_page("pages/gallery.py").run()
    next(s for s in at.selectbox if s.key.startswith("gallery_explain_")).select_index(1).run()
    assert not at.exception and any(c.startswith("evidence for") for i in at.get("image") for c in i.captions)
    return at


def test_a_sessions_model_and_its_explanations_go_with_the_session(monkeypatch, new_session):
    """The session's model is explained with an index of its own, built on demand; all of it goes with the
    session, once the work kept for its address (app/keep.py) expires."""
    monkeypatch.setenv(dataset.SUBSET_VAR, "1000")
    at = new_session_trains_one_epoch_and_explains(new_session)
    model = weakref.ref(at.session_state["model"])
    assert model() is not None and model() is not session.shipped_model()
    del at
    gc.collect()
    assert model() is not None  # kept for a reload
    monkeypatch.setattr(keep, "KEEP_FOR", 0)
    assert keep.expire() >= 1
    gc.collect()
    assert model() is None  # nothing else (caches, callbacks, traced functions, its index) holds on to it


def test_a_full_server_says_so_and_makes_room_when_a_session_ends(monkeypatch, new_session):
    """At most MAX_OWN_MODELS sessions own a model; one more gets the reason, not a model, and keeps drawing with
    the shipped one; when an owner's session ends, its place is free."""
    monkeypatch.setenv(dataset.SUBSET_VAR, "1000")
    monkeypatch.setattr(session, "MAX_OWN_MODELS", 1)
    monkeypatch.setattr(session, "_own", weakref.WeakSet())
    owner = new_session().switch_page("pages/training.py").run()
    owner.button(key="start_new").click().run()
    assert not owner.exception and owner.session_state["model"] is not session.shipped_model()

    visitor = new_session().switch_page("pages/training.py").run()
    for key in ("start_new", "train_one"):
        visitor.button(key=key).click().run()
        assert not visitor.exception and "The server is full" in visitor.error[0].value
    good = mnist_cnn.model_bytes(mnist_cnn.build_model("basic", seed=0))
    visitor.file_uploader(key="model_upload").set_value(("mine.keras", good, "application/zip")).run()
    assert "The server is full" in visitor.error[0].value
    assert visitor.session_state["model"] is session.shipped_model()

    del owner  # its session ends
    visitor.button(key="start_new").click().run()
    assert not visitor.exception and not visitor.error
    assert visitor.session_state["model"] is not session.shipped_model()
