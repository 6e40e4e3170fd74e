"""A session's model goes when the session does. (Two sessions training at once, in real browsers:
tests/test_browser.py.)"""

import gc
import weakref

from app import dataset, session


def new_session_trains_one_epoch(new_session):
    at = new_session(timeout=300)
    at.switch_page("app/pages/training.py").run()
    at.selectbox(key="arch").set_value("default").run()
    at.button(key="reset").click().run()
    at.button(key="train_one").click().run()
    return at


def test_a_sessions_model_goes_with_the_session(monkeypatch, new_session):
    monkeypatch.setenv(dataset.SUBSET_VAR, "1000")
    at = new_session_trains_one_epoch(new_session)
    model = weakref.ref(at.session_state["model"])
    assert model() is not None and model() is not session.shipped_model()
    del at
    gc.collect()
    assert model() is None  # nothing else (caches, callbacks, traced functions) holds on to it

