"""The app in a real browser: `streamlit run` on a free port, Debian's chromium driven by Playwright.

Every test here is marked `browser` (deselect with -m "not browser"); Playwright is imported only when a test runs,
so the module is collected where it is not installed. Set MNIST_CNN_SCREENSHOTS=docs to refresh the README's
screenshots of each page.
"""

import asyncio
import contextlib
import hashlib
import io
import os
import re
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import mnist_cnn
from app import dataset, widgets
from tests.conftest import PAGES, SHIPPED_EPOCHS
from tools.browser import ONE, ROOT, SEVEN, draw, launch, load, serve

pytestmark = pytest.mark.browser

SHOTS = os.environ.get("MNIST_CNN_SCREENSHOTS")
WAIT = 120_000  # ms; a cold TensorFlow on a busy 2-core machine is slow


def expect(actual, message=None):
    """Playwright's expect (its timeout set to WAIT by the browser fixture), imported when a test runs."""
    from playwright.sync_api import expect

    return expect(actual, message)


def models_digest():
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted((ROOT / "models").iterdir())}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    before = models_digest()
    path = tmp_path_factory.mktemp("server") / "streamlit.log"
    with open(path, "w") as log, serve(log, env={dataset.SUBSET_VAR: "3000"}) as (url, _):
        yield url
    assert "Traceback" not in path.read_text(), "the server logged an exception"
    assert models_digest() == before  # visitors trained, uploaded and downloaded: models/ is as it was


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=WAIT)
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
    expect(card(page)).to_contain_text(f"epochs trained: {SHIPPED_EPOCHS}")
    key(page, "train_one").click()
    expect(page.locator('[data-testid="stProgress"]')).to_be_visible()  # live, while the epoch runs
    expect(page.get_by_text(f"Epoch {SHIPPED_EPOCHS + 1} done")).to_be_visible()
    expect(card(page)).to_contain_text(f"epochs trained: {SHIPPED_EPOCHS + 1}")
    expect(card(page)).to_contain_text("trained further in this session")
    chart = page.locator(".js-plotly-plot").first
    expect(chart).to_contain_text("training (per batch, smoothed)")
    expect(chart).to_contain_text("validation")
    screenshot(page, "training")

    key(page, "train_many").click()  # 3 epochs...
    expect(page.locator('[data-testid="stProgress"]')).to_be_visible()
    key(page, "stop").click()  # ...stopped at the next batch
    expect(page.get_by_text("Training stopped")).to_be_visible()
    expect(card(page)).not_to_contain_text(f"epochs trained: {SHIPPED_EPOCHS + 4}")
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
    assert model.name == "best" and SHIPPED_EPOCHS + 2 <= epochs <= SHIPPED_EPOCHS + 4
    expect(card(page)).to_contain_text(f"epochs trained: {epochs}")


def test_gallery_frames_right_in_blue_and_wrong_in_red(page):
    page.goto("/gallery")
    wrong = page.locator('img[alt^="wrong"]')
    expect(wrong.first).to_be_visible()
    assert page.locator('img[alt^="right"]').count() == 0  # mistakes only, by default
    assert np.abs(frame_colour(wrong.first) - widgets.WRONG).max() < 40
    page.get_by_text("Only mistakes").click()
    right = page.locator('img[alt^="right"]')
    expect(right.first).to_be_visible()
    assert np.abs(frame_colour(right.first) - widgets.RIGHT).max() < 40
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


MENU = [title for _, title in PAGES]  # the sidebar's pages, as streamlit_app.py routes them


def menu(page):
    """The labels of the sidebar's page links."""
    return page.locator('[data-testid="stSidebarNavLink"] [data-testid="stMarkdownContainer"]')


@contextlib.contextmanager
def first_requests(browser, tmp_path, *paths):
    """A fresh server whose first requests are `/path` for each of `paths`, sent at once: yield (pages, url) once
    every page is there and settled.

    Until st.navigation has run once in a server, Streamlit runs the page a URL names on its own, with the
    `pages/` folder's file names as the menu and no model card, unless the page runs streamlit_app.py in its place
    (runtime.through_entry_script)."""
    log_path = tmp_path / "streamlit.log"
    with open(log_path, "w") as log, serve(log, env={dataset.SUBSET_VAR: "1000"}) as (url, _):
        contexts = [browser.new_context(viewport={"width": 1400, "height": 1000}, base_url=url) for _ in paths]
        pages = [context.new_page() for context in contexts]
        for page, path in zip(pages, paths, strict=True):
            page.set_default_timeout(WAIT)
            page.goto(f"/{path}", wait_until="commit")  # the next request goes out before this page is up
        for page in pages:
            expect(page.locator("h1")).to_be_visible()
            settled(page)
        yield pages, url
        for page, context in zip(pages, contexts, strict=True):
            no_exception_shown(page)
            context.close()
    assert "Traceback" not in log_path.read_text(), "the server logged an exception"


def shows_the_app(page, url, path, title):
    """The page `/path` named, under the app's menu, with the model card in the sidebar."""
    expect(page.locator("h1")).to_have_text(title)
    expect(menu(page)).to_have_text(MENU, timeout=10_000)
    expect(page.locator('[data-testid="stSidebar"] .st-key-model_card')).to_contain_text("parameters: 125,354")
    if path != "canvas":  # the default page's address is `/`: Streamlit answers /canvas with it
        expect(page).to_have_url(f"{url}/{path}")


DEEP_LINKS = [("training", "Train a CNN"), ("gallery", "Gallery of test predictions"), ("data", "The MNIST data"),
              ("canvas", "Draw a digit")]


@pytest.mark.parametrize("path, title", DEEP_LINKS)
def test_a_deep_link_as_a_fresh_servers_first_request_shows_the_app(browser, tmp_path, path, title):
    with first_requests(browser, tmp_path, path) as ([page], url):
        shows_the_app(page, url, path, title)


def test_a_fresh_servers_first_visitors_at_once_each_get_the_app(browser, tmp_path):
    """Their runs all start down the folder-based path before the first page ends it for the server: each page runs
    streamlit_app.py in its place too (with Streamlit's flag as the only sign, 4 of 5 got the page alone)."""
    visits = [*DEEP_LINKS, ("", "Draw a digit")]
    with first_requests(browser, tmp_path, *(path for path, _ in visits)) as (pages, url):
        for page, (path, title) in zip(pages, visits, strict=True):
            shows_the_app(page, url, path, title)


@pytest.mark.parametrize("module", ["ui", "runtime", "widgets", "session", "workers"])
def test_a_module_as_a_fresh_servers_first_request_is_no_page(browser, tmp_path, module):
    with first_requests(browser, tmp_path, module) as ([page], url):
        expect(page.locator('[data-testid="stDialog"]')).to_contain_text("Page not found")
        expect(page.locator("h1")).to_have_text("Draw a digit")  # the default page, not an empty one
        expect(page).to_have_url(f"{url}/")
        expect(menu(page)).to_have_text(MENU, timeout=10_000)


def test_a_page_switch_mid_epoch_leaves_a_consistent_history(page):
    page.goto("/training")
    key(page, "train_many").click()
    expect(page.locator('[data-testid="stProgress"]')).to_be_visible()
    page.get_by_role("link", name="Gallery").click()  # the same session, another page, mid-epoch
    expect(page.locator("h1")).to_contain_text("Gallery")
    page.get_by_role("link", name="Train").click()
    expect(page.get_by_text("Training stopped")).to_be_visible()
    expect(card(page)).to_contain_text("trained further in this session")
    key(page, "train_one").click()  # the model is still usable
    expect(page.get_by_text("done: test accuracy")).to_be_visible()
    no_exception_shown(page)


def test_downloading_mid_training_gives_a_whole_model(page, tmp_path):
    page.goto("/training")
    page.get_by_text("Save or load").click()
    key(page, "train_many").click()
    expect(page.locator('[data-testid="stProgress"]')).to_be_visible()
    with page.expect_download() as download:
        page.get_by_role("button", name="Download this model (.keras)").click()
    path = tmp_path / "mid-training.keras"
    download.value.save_as(path)
    model = mnist_cnn.load_model(path)
    assert model.name == "best" and SHIPPED_EPOCHS <= len(mnist_cnn.training_log(model)) <= SHIPPED_EPOCHS + 3
    assert np.isfinite(mnist_cnn.predict_proba(model, np.zeros((1, 28, 28)))).all()
    key(page, "stop").click()
    expect(page.get_by_text("Training stopped")).to_be_visible()


def test_eight_visitors_drawing_at_once_all_get_answers(server):
    result = []
    # the async API in its own thread: this module's sync Playwright owns the main thread's loop
    worker = threading.Thread(target=lambda: result.append(asyncio.run(load(server, pages=8, drawings=5))))
    worker.start()
    worker.join()
    timings, problems = result[0]
    assert not problems and len(timings) == 40
    # every answer came in its own websocket message after its drawing went out: the timing's legs are real
    assert all(t.send > 0 and t.server > 0 and t.render > 0 for t in timings)  # NaN: a frame not seen


def test_after_a_restart_the_app_comes_back_with_the_shipped_model(browser, tmp_path):
    for run in range(2):
        with open(tmp_path / f"run-{run}.log", "w") as log, serve(log, env={dataset.SUBSET_VAR: "1000"}) as (url, _):
            context = browser.new_context(base_url=url)
            context.set_default_timeout(WAIT)
            page = context.new_page()
            page.goto("/training")
            expect(card(page)).to_contain_text("the shipped model")
            expect(card(page)).to_contain_text(f"epochs trained: {SHIPPED_EPOCHS}")
            key(page, "train_one").click()  # what this visitor does is gone after the restart
            expect(card(page)).to_contain_text(f"epochs trained: {SHIPPED_EPOCHS + 1}")
            context.close()


def test_two_sessions_training_at_once_keep_their_own_models(browser, server, tmp_path):
    def session():
        context = browser.new_context(base_url=server, accept_downloads=True)
        context.set_default_timeout(WAIT)
        page = context.new_page()
        page.goto("/training")
        expect(card(page)).to_contain_text(f"epochs trained: {SHIPPED_EPOCHS}")
        return context, page

    def download(page, name):
        page.get_by_text("Save or load").click()
        with page.expect_download() as file:
            page.get_by_role("button", name="Download this model (.keras)").click()
        file.value.save_as(tmp_path / name)
        return mnist_cnn.load_model(tmp_path / name).get_weights()

    (a, page_a), (b, page_b) = session(), session()
    key(page_a, "train_one").click()
    key(page_b, "train_one").click()  # both epochs run at once on the server
    for page in (page_a, page_b):
        expect(page.get_by_text(f"Epoch {SHIPPED_EPOCHS + 1} done")).to_be_visible()
        expect(card(page)).to_contain_text(f"epochs trained: {SHIPPED_EPOCHS + 1}")
    weights_a, weights_b = download(page_a, "a.keras"), download(page_b, "b.keras")
    assert not all(np.array_equal(u, v) for u, v in zip(weights_a, weights_b, strict=True))
    c, page_c = session()  # a third visitor still gets the shipped model, byte for byte
    shipped = mnist_cnn.load_model(ROOT / "models" / "mnist_cnn.keras").get_weights()
    assert all(np.array_equal(u, v) for u, v in zip(download(page_c, "c.keras"), shipped, strict=True))
    for context in (a, b, c):
        context.close()


def test_a_drawing_explains_itself(page):
    page.goto("/")
    draw(page, SEVEN)
    expect(page.locator("h3")).to_contain_text("It's a 7")
    page.locator(".st-key-explain").get_by_text("Why?").click()
    expect(page.locator('img[alt="evidence for 7"]')).to_be_visible()
    expect(page.locator('img[alt^="evidence for"]')).to_have_count(2)
    expect(page.locator('img[alt^="neighbour: a"]')).to_have_count(8)
    expect(page.locator('img[alt^="feature maps of block"]')).to_have_count(3)
    no_exception_shown(page)
    page.get_by_text("What the model looked at").evaluate("e => e.scrollIntoView({block: 'center'})")
    screenshot(page, "explain")


def test_a_gallery_mistake_explains_itself(page):
    page.goto("/gallery")
    picker = page.locator('[class*="st-key-gallery_explain_"]').filter(visible=True).first
    picker.get_by_role("combobox").click()
    page.get_by_role("option").filter(has_text="read as").first.click()  # the most confident mistake
    expect(page.locator('img[alt^="evidence for"]')).to_have_count(2)
    expect(page.locator('img[alt^="neighbour: a"]')).to_have_count(8)
    no_exception_shown(page)
    page.get_by_text("What the model looked at").evaluate("e => e.scrollIntoView({block: 'start'})")
    screenshot(page, "gallery-explain")


PHONE = {"viewport": {"width": 375, "height": 740}, "has_touch": True, "is_mobile": True, "device_scale_factor": 2}


SCROLLED = "[...document.querySelectorAll('*')].reduce((s, e) => s + e.scrollTop, window.scrollY)"  # in all, px


def test_on_a_phone_touch_draws_corrects_teaches_and_clears(browser, server, tmp_path):
    from tools.browser import touch

    context = browser.new_context(**PHONE, base_url=server, accept_downloads=True)
    context.set_default_timeout(WAIT)
    page = context.new_page()
    page.goto("/")
    prompt = page.get_by_text("Draw a digit on the black canvas")
    expect(prompt).to_be_visible()
    canvas = page.locator(".st-key-canvas canvas").last
    box = canvas.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 375 and box["width"] == 280  # the whole canvas on screen
    assert page.evaluate("document.documentElement.scrollWidth") <= 375  # and nothing wider than the phone
    canvas.evaluate("e => e.scrollIntoView({block: 'center'})")  # the page could scroll both ways from here
    before = page.evaluate(SCROLLED)
    assert before > 0  # scrolled down to the canvas: a swipe that moved the page would show
    touch(page, ONE)
    expect(page.locator("h3")).to_contain_text("It's a 1")
    assert page.evaluate(SCROLLED) == before  # the finger drew; the page did not move
    touch(page, [[(340, 250), (340, 0)]])  # a swipe beside the canvas does scroll: the check above can fail
    page.wait_for_function(f"() => {SCROLLED} != {before}")

    key(page, "undo").tap()  # the page's own Undo: a phone never shows the canvas' hover toolbar
    expect(prompt).to_be_visible()
    touch(page, SEVEN)
    expect(page.locator("h3")).to_contain_text("It's a 7")
    page.locator(".st-key-canvas").evaluate("e => e.scrollIntoView({block: 'start'})")
    screenshot(page, "teach-phone")  # the drawing, its answer and the digit buttons, on a phone
    digits = page.locator(".st-key-correct_draw")
    for digit in range(10):
        size = digits.get_by_role("radio", name=str(digit), exact=True).bounding_box()
        assert size["width"] >= 44 and size["height"] >= 44  # thumb-size
    digits.get_by_role("radio", name="1", exact=True).tap()  # "Wrong? It's a 1": recorded, and the canvas clears
    expect(prompt).to_be_visible()
    expect(page.locator("h2", has_text="Your handwriting")).to_have_text("Your handwriting (1 drawing)")
    touch(page, SEVEN)  # the same 7 again: the correction took at once, before any teaching
    expect(page.locator("h3")).to_contain_text("It's a 1")
    digits.get_by_role("radio", name="7", exact=True).tap()  # a 7 after all
    expect(page.locator("h2", has_text="Your handwriting")).to_have_text("Your handwriting (2 drawings)")

    key(page, "teach").tap()
    expect(page.get_by_text("MNIST test images")).to_be_visible()
    expect(page.get_by_text("Your drawings: the taught ones")).to_be_visible()
    expect(card(page)).to_contain_text("trained further in this session")
    no_exception_shown(page)
    if SHOTS:  # the same session on a wide screen: the set by digit and the result side by side
        page.set_viewport_size({"width": 1200, "height": 1000})
        page.locator("h2", has_text="Your handwriting").evaluate("e => e.scrollIntoView({block: 'start'})")
        screenshot(page, "teach")
        page.set_viewport_size(PHONE["viewport"])
    with page.expect_download() as download:
        key(page, "download_handwriting").tap()
    images, labels = mnist_cnn.load_drawings(Path(download.value.path()).read_bytes())
    assert labels.tolist() == [1, 7] and images.shape == (2, 28, 28)

    touch(page, ONE)
    expect(page.locator("h3")).to_contain_text("It's a")
    key(page, "clear").tap()
    expect(prompt).to_be_visible()
    page.get_by_role("button", name="Clear all").tap()
    key(page, "clear_handwriting").tap()
    expect(page.locator("h2", has_text="Your handwriting")).to_have_text("Your handwriting (0 drawings)")
    no_exception_shown(page)
    context.close()
