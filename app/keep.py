"""A session's work, kept on the server for KEEP_FOR seconds after its last run, so that a reload or a phone's dropped
connection (each starts a new Streamlit session) comes back to it rather than to the shipped model.

The work is reachable only through an unguessable token in the page's address (`?work=...`, secrets.token_urlsafe),
so the same browser tab comes back to it and nobody else does: anyone the address is given to opens the same work.
A session is kept from its first work (a model of its own, a drawing or a run), and every run of it shares its work
again: the store holds the objects themselves (the session's model, its drawings tuple, its runs), never copies, so
keeping adds no memory while a session shows the work, and after it ends holds what the session held.

Two tabs with the same token (a copied address, or a reload while the old session lingers) show the same work: at
the start of each run a tab takes what another tab shared since its own last run, key by key, unless it changed
that key itself since, in which case its value is the newest (the last to change a key wins). They share the model
object itself: a training in one tab trains the other's model too (trainings run one at a time, workers.TRAINERS).

A kept model of its own still counts under session.MAX_OWN_MODELS until its work expires; when the server is full,
the work no session shows is given up first, the longest unvisited first (give_up), so a visitor at the server is
served before one who left. An unknown or expired token starts afresh, leaves the address, and the model card says
so once.
"""

import secrets
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field

import streamlit as st

PARAM = "work"  # the query parameter that holds the token
KEEP_FOR = 30 * 60  # seconds after its last run
TOKEN_BYTES = 16  # 128 bits, 22 characters
# session-state keys that hold work: the model and what goes with it (app/session.py), the drawings and the last
# lesson (app/teaching.py SET, LESSON), the runs (app/runs.py KEY), the robustness curves of its models
# (app/robustness.py KEY, ~2 KB a model, 8 s each to compute again). Widget keys are not work: widgets start afresh.
WORK = ("model", "origin", "evaluation", "model_id", "curve", "handwriting", "lesson", "runs", "robustness")
STARTS = ("handwriting", "runs")  # a session is kept from the first of these, or its first model of its own (save)
KEPT = "Your work is kept {minutes} min after you leave: this tab's address brings it back."
KEPT_HELP = ("The address holds an unguessable key to this session's work: anyone you give it to opens the same "
             "work. To share the app, share its address without `?work=...`.")
EXPIRED = "Your earlier work expired ({minutes} min after its last visit, or the server restarted): a fresh start."
_VISIT, _EXPIRED = "keep_visit", "keep_expired"  # session-state keys: this session's _Visit; the notice to show once
_MISSING = object()  # a key the session does not have


@dataclass(eq=False)
class _Visit:
    """A session's tie to its kept work: the token, and each work key's value as this session last shared it."""

    token: str
    shared: dict[str, object] = field(default_factory=dict)


@dataclass(eq=False)
class _Kept:
    work: dict[str, object]
    last_run: float  # time.monotonic()
    visits: "weakref.WeakSet[_Visit]" = field(default_factory=weakref.WeakSet)  # the sessions that show it now


_kept: dict[str, _Kept] = {}  # token -> work, for the whole server
_lock = threading.Lock()


def restore() -> None:
    """At the top of every run, before any page reads the session state: a new session whose address holds a
    valid token gets its work; a kept session shares its work (and puts its token back in the address, which a page
    switch leaves out); a session is kept from the first of its STARTS keys."""
    state = st.session_state
    visit = state.get(_VISIT)
    if visit is None:
        token = st.query_params.get(PARAM)
        if token is not None:
            expire()  # the sweep may not have run yet
            if token in _kept:
                visit = state[_VISIT] = _Visit(token)
            else:
                del st.query_params[PARAM]
                state[_EXPIRED] = True
        if visit is None and not any(state.get(key) for key in STARTS):
            return
    save(start=True)


def save(start: bool = False) -> None:
    """Share this session's work with its kept copy, and take what another tab shared; with `start`, keep the session
    from now on if it is not kept yet. session.set_model calls it, so the kept work lets a replaced model go at once."""
    state = st.session_state
    visit = state.get(_VISIT)
    if visit is None:
        if not start:
            return
        visit = state[_VISIT] = _Visit(secrets.token_urlsafe(TOKEN_BYTES))
    if st.query_params.get(PARAM) != visit.token:
        st.query_params[PARAM] = visit.token
    with _lock:
        kept = _kept.get(visit.token)
        if kept is None:  # new, or expired while this session lived on: what it holds is the work
            kept = _kept[visit.token] = _Kept({}, time.monotonic())
            visit.shared.clear()
        kept.last_run = time.monotonic()
        kept.visits.add(visit)
        for key in WORK:
            mine, shared = state.get(key, _MISSING), visit.shared.get(key, _MISSING)
            value = mine if mine is not shared else kept.work.get(key, _MISSING)  # changed here, or by another tab
            for place in (kept.work, visit.shared):
                _put(place, key, value)
            if value is not mine:
                _put(state, key, value)


def _put(place, key: str, value: object) -> None:
    if value is _MISSING:
        place.pop(key, None)
    else:
        place[key] = value


def visitors() -> int:
    """The sessions that show this session's work now, itself included (1 if it is not kept); ended sessions count
    until the garbage collector frees them."""
    visit = st.session_state.get(_VISIT)
    with _lock:
        kept = _kept.get(visit.token) if visit else None
        return len(kept.visits) if kept else 1


def note() -> None:
    """The model card's line: that the work is kept, or, once, that the earlier work expired."""
    state = st.session_state
    if state.pop(_EXPIRED, False):
        st.caption(EXPIRED.format(minutes=KEEP_FOR // 60))
    elif _VISIT in state:
        st.caption(KEPT.format(minutes=KEEP_FOR // 60), help=KEPT_HELP)


def expire() -> int:
    """Forget the work whose last run was more than KEEP_FOR seconds ago; returns how many. (A session still open
    keeps what it holds, and is kept again at its next run.)"""
    now = time.monotonic()
    with _lock:
        old = [token for token, kept in _kept.items() if now - kept.last_run > KEEP_FOR]
        for token in old:
            del _kept[token]
    return len(old)


def give_up(holds: Callable[[dict[str, object]], bool], count: int) -> int:
    """Forget up to `count` kept works that no session shows and for which holds(work) is true, the longest
    unvisited first; returns how many (what they held goes at the next full garbage collection)."""
    with _lock:
        unvisited = sorted((kept.last_run, token) for token, kept in _kept.items()
                           if not kept.visits and holds(kept.work))
        for _, token in unvisited[:count]:
            del _kept[token]
    return min(count, len(unvisited))
