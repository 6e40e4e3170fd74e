"""A session's work outlives the session for keep.KEEP_FOR, reachable through the token in its address: a reload
(a new AppTest session given the same query parameter) gets the same objects back, within the cap on own models.
(In a real browser, with page.reload() and page switches: tests/test_browser_keep.py.)"""

import gc
import weakref

import pytest
from streamlit.testing.v1 import AppTest

import mnist_cnn
from app import dataset, keep, robustness, runs, session, teaching
from tests.conftest import APP


@pytest.fixture(autouse=True)
def kept(monkeypatch):
    """This test's own server-wide store, on a 1000-image subset."""
    monkeypatch.setenv(dataset.SUBSET_VAR, "1000")
    monkeypatch.setattr(keep, "_kept", {})
    return keep._kept


def visit(token=None, page=None):
    """A new browser session, its address holding `token` if given, run once (on `page` if given)."""
    at = AppTest.from_file(APP, default_timeout=180)
    if token:
        at.query_params[keep.PARAM] = token
    at.run()
    if page:
        at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def sidebar_captions(at):
    return [c.value for c in at.sidebar.caption]


def own_model(at):
    """Give the session a new model of its own; returns its token."""
    at.switch_page("pages/training.py").run()
    at.button(key="start_new").click().run()
    assert not at.exception and at.session_state["model"] is not session.shipped_model()
    return at.query_params[keep.PARAM]


def add_drawings(at, mnist, n=4):
    _, (x_test, y_test) = mnist
    at.switch_page("pages/canvas.py").run()
    data = mnist_cnn.save_drawings(x_test[:n], y_test[:n])
    at.file_uploader(key="handwriting_upload").set_value(("mine.npz", data, "application/octet-stream")).run()
    assert not at.exception and len(at.session_state[teaching.SET]) == n


def test_the_work_keys_are_the_apps():
    assert {"model", "origin", "evaluation", "model_id", "curve"} <= set(keep.WORK)  # app/session.py's
    assert {teaching.SET, teaching.LESSON, runs.KEY, robustness.KEY} <= set(keep.WORK)
    assert set(keep.STARTS) <= set(keep.WORK)


def test_a_session_without_work_is_not_kept(kept):
    at = visit(page="pages/training.py")
    assert keep.PARAM not in at.query_params and not kept
    assert not any("kept" in c for c in sidebar_captions(at))


def test_a_reload_gets_the_same_model_and_drawings_back(kept, mnist):
    first = visit()
    token = own_model(first)
    assert len(token) >= 22 and list(kept) == [token]  # secrets.token_urlsafe(16)
    add_drawings(first, mnist)
    assert any(c.startswith("Your work is kept 30 min") for c in sidebar_captions(first))
    model, drawings = first.session_state["model"], first.session_state[teaching.SET]

    again = visit(token, page="pages/training.py")  # the same tab, reloaded: a new session
    assert again.session_state["model"] is model  # the object itself, not a copy
    assert again.session_state[teaching.SET] is drawings
    for key in ("origin", "model_id"):
        assert again.session_state[key] == first.session_state[key]
    assert "a new model, trained in this session" in " ".join(m.value for m in again.sidebar.markdown)
    assert again.query_params[keep.PARAM] == token


def test_the_token_comes_back_after_a_page_switch_leaves_it_out(mnist):
    at = visit()
    add_drawings(at, mnist, n=2)  # drawings alone make work worth keeping
    token = at.query_params[keep.PARAM]
    at.query_params.clear()  # what the browser does on a switch through the page menu
    at.switch_page("pages/gallery.py").run()
    assert at.query_params[keep.PARAM] == token


def test_an_unknown_or_expired_token_starts_afresh_and_says_so_once(kept, monkeypatch):
    at = visit("not-a-token")
    assert at.session_state["model"] is session.shipped_model() and keep.PARAM not in at.query_params
    assert any(c.startswith("Your earlier work expired") for c in sidebar_captions(at))
    at.switch_page("pages/data.py").run()
    assert not any("expired" in c for c in sidebar_captions(at))  # once

    first = visit()
    token = own_model(first)
    model = weakref.ref(first.session_state["model"])
    monkeypatch.setattr(keep, "KEEP_FOR", 0)  # its last run is longer ago than that
    again = visit(token)
    assert again.session_state["model"] is session.shipped_model() and keep.PARAM not in again.query_params
    assert any(c.startswith("Your earlier work expired") for c in sidebar_captions(again))
    del first
    gc.collect()
    assert model() is None and not kept  # nothing keeps an expired session's model


def test_two_tabs_with_one_token_share_the_work(mnist):
    a = visit()
    token = own_model(a)
    b = visit(token)
    assert b.session_state["model"] is a.session_state["model"]
    add_drawings(a, mnist, n=3)
    b.switch_page("pages/canvas.py").run()  # b's next run takes what a shared
    assert b.session_state[teaching.SET] is a.session_state[teaching.SET]
    b.button(key="clear_handwriting").click().run()  # and the other way
    a.run()
    assert a.session_state[teaching.SET] == ()


def test_a_tab_replacing_a_shared_model_needs_a_place(monkeypatch):
    """The model one tab replaces stays with the other tabs of its work until they run again: it still counts."""
    monkeypatch.setattr(session, "MAX_OWN_MODELS", 1)
    monkeypatch.setattr(session, "_own", weakref.WeakSet())
    a = visit()
    token = own_model(a)
    b = visit(token, page="pages/training.py")
    b.button(key="reset").click().run()
    assert "The server is full" in b.error[0].value
    assert b.session_state["model"] is a.session_state["model"]


def test_a_replaced_model_is_not_kept(kept):
    at = visit()
    token = own_model(at)
    old = weakref.ref(at.session_state["model"])
    at.button(key="reset").click().run()  # a new model of the design replaces it
    assert not at.exception and at.session_state["model"] is not old()
    assert kept[token].work["model"] is at.session_state["model"]
    at.run()  # Streamlit holds the state a run started from until the next run ends, with or without keep
    gc.collect()
    assert old() is None


def test_kept_work_holds_its_place_until_a_visitor_needs_it(monkeypatch):
    """A kept model counts under MAX_OWN_MODELS: a session that shows it keeps it whoever asks; work no session
    shows is given up for a visitor who asks for a model of their own, and its token then starts afresh."""
    monkeypatch.setattr(session, "MAX_OWN_MODELS", 1)
    monkeypatch.setattr(session, "_own", weakref.WeakSet())
    owner = visit()
    token = own_model(owner)
    visitor = visit(page="pages/training.py")
    visitor.button(key="start_new").click().run()
    assert "The server is full" in visitor.error[0].value

    del owner  # the tab is gone; its work is kept
    gc.collect()
    assert len(session._own) == 1  # and still takes its place
    back = visit(token, page="pages/training.py")
    assert back.session_state["model"] is not session.shipped_model()
    visitor.button(key="start_new").click().run()
    assert "The server is full" in visitor.error[0].value  # shown again: its place is taken

    del back
    gc.collect()
    visitor.button(key="start_new").click().run()  # unvisited: given up for the visitor
    assert not visitor.exception and not visitor.error
    assert visitor.session_state["model"] is not session.shipped_model() and len(session._own) == 1
    late = visit(token)
    assert late.session_state["model"] is session.shipped_model()
    assert any(c.startswith("Your earlier work expired") for c in sidebar_captions(late))
