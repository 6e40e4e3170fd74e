"""A reload in a real browser comes back to the session's work (app/keep.py): the token in the address survives the
page menu's switches (which leave query parameters out) and brings the drawings and the taught model back."""

import re

import pytest

from tests import test_browser
from tests.test_browser import card, expect, key, no_exception_shown, settled
from tools.browser import ONE, draw

pytestmark = pytest.mark.browser
browser, server, page = test_browser.browser, test_browser.server, test_browser.page  # its fixtures

TOKEN = re.compile(r"[?&]work=([\w-]{22})(&|$)")


def token(tab):
    expect(tab).to_have_url(TOKEN)
    return TOKEN.search(tab.url)[1]


def handwriting(tab):
    return tab.locator("h2", has_text="Your handwriting")


def test_a_reload_and_page_switches_keep_the_drawings_and_the_taught_model(page, browser, server):
    page.goto("/")
    expect(page).not_to_have_url(TOKEN)  # nothing to keep yet
    draw(page, ONE)
    expect(page.locator("h3")).to_contain_text("It's a")
    page.locator(".st-key-correct_draw").get_by_role("radio", name="1", exact=True).click()  # kept as a 1
    expect(handwriting(page)).to_have_text("Your handwriting (1 drawing)")
    mine = token(page)  # the first work: the session is kept from now on
    key(page, "teach").click()
    expect(page.get_by_text("Your drawings: the taught ones")).to_be_visible()
    expect(card(page)).to_contain_text("trained further in this session")
    expect(card(page)).to_contain_text("Your work is kept 30 min")
    settled(page)

    page.reload()  # a new session
    expect(handwriting(page)).to_have_text("Your handwriting (1 drawing)")
    expect(card(page)).to_contain_text("trained further in this session")
    assert token(page) == mine

    page.get_by_role("link", name="Train").click()  # the menu leaves the query out; the app puts it back
    expect(page.locator("h1")).to_contain_text("Train a CNN")
    settled(page)
    expect(page).to_have_url(re.compile(rf"/training\?work={mine}$"))
    page.reload()
    expect(page.locator("h1")).to_contain_text("Train a CNN")
    expect(card(page)).to_contain_text("trained further in this session")
    page.get_by_role("link", name="Draw a digit").click()
    expect(handwriting(page)).to_have_text("Your handwriting (1 drawing)")
    assert token(page) == mine
    no_exception_shown(page)

    other = browser.new_context(base_url=server)  # another visitor, without the address: the shipped model
    stranger = other.new_page()
    stranger.goto("/")
    expect(card(stranger)).to_contain_text("the shipped model")
    expect(handwriting(stranger)).to_have_text("Your handwriting (0 drawings)")
    stranger.goto(f"/?work={'x' * 22}")  # a guessed token: a fresh start, said once, and out of the address
    expect(card(stranger)).to_contain_text("Your earlier work expired")
    expect(stranger).not_to_have_url(TOKEN)
    expect(card(stranger)).to_contain_text("the shipped model")
    other.close()
