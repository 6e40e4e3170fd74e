"""A session's model goes when the session does. (Two sessions training at once, in real browsers:
tests/test_browser.py.)"""

import gc
import weakref

from streamlit.testing.v1 import AppTest

from pages import ui

APP = "../streamlit_app.py"


def new_session_trains_one_epoch():
    at = AppTest.from_file(APP, default_timeout=300).run()
    at.switch_page("pages/training.py").run()
    at.selectbox(key="arch").set_value("default").run()
    at.button(key="reset").click().run()
    at.button(key="train_one").click().run()
    return at


def test_a_sessions_model_goes_with_the_session(monkeypatch):
    monkeypatch.setenv(ui.SUBSET_VAR, "1000")
    at = new_session_trains_one_epoch()
    model = weakref.ref(at.session_state["model"])
    assert model() is not None and model() is not ui.shipped_model()
    del at
    gc.collect()
    assert model() is None  # nothing else (caches, callbacks, traced functions) holds on to it

