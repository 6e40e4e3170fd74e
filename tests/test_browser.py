"""The app in a real browser: `streamlit run` on a free port, Debian's chromium driven by Playwright.

Set MNIST_CNN_SCREENSHOTS=docs to refresh the README's screenshots of each page.
"""

import io
import os
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import expect, sync_playwright

import mnist_cnn
from pages import ui
from tests.browser import ONE, SEVEN, draw, launch, serve

SHOTS = os.environ.get("MNIST_CNN_SCREENSHOTS")
WAIT = 120_000  # ms; a cold TensorFlow on a busy 2-core machine is slow
expect.set_options(timeout=WAIT)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    path = tmp_path_factory.mktemp("server") / "streamlit.log"
    with open(path, "w") as log, serve(log, env={ui.SUBSET_VAR: "3000"}) as (url, _):
        yield url
    assert "Traceback" not in path.read_text(), "the server logged an exception"


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        browser = launch(playwright)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, server):
    """A new browser session (its own Streamlit session) with the app's address as base URL."""
    context = browser.new_context(viewport={"width": 1400, "height": 1300}, base_url=server, accept_downloads=True)
    context.set_default_timeout(WAIT)
    yield context.new_page()
    context.close()


def screenshot(page, name):
    page.wait_for_timeout(1000)  # let charts finish drawing
    if SHOTS:
        page.screenshot(path=Path(SHOTS) / f"{name}.png")


def settled(page):
    """Wait for the script run to end and its stale elements to go."""
    expect(page.locator('[data-testid="stStatusWidget"]')).to_have_count(0)
    expect(page.locator('[data-stale="true"]')).to_have_count(0)


def no_exception_shown(page):
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)


def card(page):
    return page.locator(".st-key-model_card").filter(visible=True).first


def key(page, name):
    """The button with this key (Streamlit marks its container with st-key-<key>); while a rerun replaces the
    page the old one can linger beside the new one."""
    return page.locator(f".st-key-{name} button").filter(visible=True).first


def frame_colour(image_element):
    """The colour of an image's frame, from the middle of its left edge."""
    expect(image_element).to_have_js_property("complete", True)
    shot = np.array(Image.open(io.BytesIO(image_element.screenshot())).convert("RGB"))
    return shot[len(shot) // 2, 2].astype(int)


def test_drawing_a_digit_shows_what_the_model_reads(page):
    page.goto("/")
    expect(page.get_by_text("Draw a digit on the black canvas")).to_be_visible()
    draw(page, ONE)
    expect(page.locator("h3")).to_contain_text("It's a 1")
    expect(page.locator('img[alt="model input"]')).to_be_visible()
    no_exception_shown(page)
    page.get_by_role("button", name="Reset canvas & history").click()
    expect(page.get_by_text("Draw a digit on the black canvas")).to_be_visible()  # cleared: a prompt again
    draw(page, SEVEN)
    expect(page.locator("h3")).to_contain_text("It's a 7")
    screenshot(page, "canvas")


def test_training_shows_live_progress_stops_and_downloads(page, tmp_path):
    page.goto("/training")
    expect(card(page)).to_contain_text("epochs trained: 20")
    key(page, "train_one").click()
    expect(page.locator('[data-testid="stProgress"]')).to_be_visible()  # live, while the epoch runs
    expect(page.get_by_text("Epoch 21 done")).to_be_visible()
    expect(card(page)).to_contain_text("epochs trained: 21")
    expect(card(page)).to_contain_text("trained further in this session")
    chart = page.locator(".js-plotly-plot").first
    expect(chart).to_contain_text("training (per batch, smoothed)")
    expect(chart).to_contain_text("validation")
    screenshot(page, "training")

    key(page, "train_many").click()  # 3 epochs...
    expect(page.locator('[data-testid="stProgress"]')).to_be_visible()
    key(page, "stop").click()  # ...stopped at the next batch
    expect(page.get_by_text("Training stopped")).to_be_visible()
    expect(card(page)).not_to_contain_text("epochs trained: 24")
    key(page, "train_one").click()  # and training goes on
    expect(page.get_by_text("done: test accuracy")).to_be_visible()
    no_exception_shown(page)

    page.get_by_text("Save or load").click()
    with page.expect_download() as download:
        page.get_by_role("button", name="Download this model (.keras)").click()
    path = tmp_path / download.value.suggested_filename
    download.value.save_as(path)
    model = mnist_cnn.load_model(path)
    epochs = len(mnist_cnn.training_log(model))
    assert model.name == "best" and 22 <= epochs <= 24
    expect(card(page)).to_contain_text(f"epochs trained: {epochs}")


def test_gallery_frames_right_in_blue_and_wrong_in_red(page):
    page.goto("/gallery")
    wrong = page.locator('img[alt^="wrong"]')
    expect(wrong.first).to_be_visible()
    assert page.locator('img[alt^="right"]').count() == 0  # mistakes only, by default
    assert np.abs(frame_colour(wrong.first) - ui.WRONG).max() < 40
    page.get_by_text("Only mistakes").click()
    right = page.locator('img[alt^="right"]')
    expect(right.first).to_be_visible()
    assert np.abs(frame_colour(right.first) - ui.RIGHT).max() < 40
    # a click on the confusion matrix cell (true 9, predicted 4) shows just those images
    page.locator(".js-plotly-plot").first.locator("path.point").nth(94).click(force=True)
    expect(page.locator('[data-testid="stImageCaption"]').first).to_have_text(re.compile(r"^4 \(.*true 9$"))
    settled(page)
    captions = page.locator('[data-testid="stImageCaption"]').all_inner_texts()
    assert captions and all(c.startswith("4 (") and c.endswith("true 9") for c in captions)
    no_exception_shown(page)
    screenshot(page, "gallery")


@pytest.mark.parametrize("path, title", [("/", "Draw a digit"), ("/training", "Train a CNN"),
                                         ("/gallery", "Gallery of test predictions"), ("/data", "The MNIST data")])
def test_every_page_opens_without_an_exception(page, path, title):
    page.goto(path)
    expect(page.locator("h1")).to_contain_text(title)
    expect(card(page)).to_contain_text("parameters")
    page.wait_for_timeout(1500)  # anything still running would show its exception by now
    no_exception_shown(page)
    if path == "/data":
        screenshot(page, "data")
