"""A session's model goes when the session does. (Two sessions training at once, in real browsers:
tests/test_browser.py.)"""

import gc
import weakref

from app import dataset, session


def new_session_trains_one_epoch_and_explains(new_session):
    at = new_session(timeout=300)
    at.switch_page("app/pages/training.py").run()
    at.selectbox(key="arch").set_value("default").run()
    at.button(key="reset").click().run()
    at.button(key="train_one").click().run()
    at.switch_page("app/pages/gallery.py").run()
    next(s for s in at.selectbox if s.key.startswith("gallery_explain_")).select_index(1).run()
    assert not at.exception and any(c.startswith("evidence for") for i in at.get("image") for c in i.captions)
    return at


def test_a_sessions_model_and_its_explanations_go_with_the_session(monkeypatch, new_session):
    """The session's model is explained with an index of its own, built on demand; all of it goes with the
    session."""
    monkeypatch.setenv(dataset.SUBSET_VAR, "1000")
    at = new_session_trains_one_epoch_and_explains(new_session)
    model = weakref.ref(at.session_state["model"])
    assert model() is not None and model() is not session.shipped_model()
    del at
    gc.collect()
    assert model() is None  # nothing else (caches, callbacks, traced functions, its index) holds on to it

