"""The lab in a real browser: design a model, train it, train another, compare them, take one's code home and run
it, open the robustness curves, reload the tab and find the runs. Set MNIST_CNN_SCREENSHOTS=docs for the README's
screenshots of the builder, the Compare page and the robustness curves."""

import os
import re
import subprocess
import sys

import numpy as np
import pytest

import mnist_cnn
from tests import test_browser
from tests.conftest import SHIPPED_EPOCHS
from tests.test_browser import card, expect, key, no_exception_shown, screenshot, settled

pytestmark = pytest.mark.browser
browser, server, page = test_browser.browser, test_browser.server, test_browser.page  # its fixtures


def train_one(page):
    key(page, "train_one").click()
    expect(page.get_by_text(re.compile("Epoch [0-9]+ done"))).to_be_visible()
    expect(page.get_by_text(re.compile("(Kept as|Updated) run .* on the Compare page"))).to_be_visible()
    # the run may still be ending: a click on a button it is about to replace is lost (seen once, the machine busy)
    settled(page)


def test_design_train_two_compare_export_robustness_and_reload(page, tmp_path, mnist):
    page.goto("/training")
    page.get_by_text("Design a model").click()
    box = page.locator(".st-key-builder_block_1 input[type=number]").first  # the default preset's first block
    box.fill("8")
    box.press("Enter")
    settled(page)
    key(page, "reset").click()  # "Start a new model of this design"
    expect(card(page)).to_contain_text("epochs trained: 0")
    expect(card(page)).to_contain_text("Model: custom")
    train_one(page)
    screenshot(page, "design")
    page.get_by_text("Design a model").click()  # the page's layout changed: a new expander, closed
    key(page, "shipped").click()  # another run: the shipped model trained one more epoch
    expect(card(page)).to_contain_text(f"epochs trained: {SHIPPED_EPOCHS}")
    train_one(page)
    no_exception_shown(page)

    page.get_by_role("link", name="Compare").click()
    expect(page.locator("h1")).to_contain_text("Compare runs")
    table = page.locator('[data-testid="stDataFrame"]')
    expect(table).to_be_visible()
    expect(page.get_by_text("What A gets wrong that B gets right")).to_be_visible()
    expect(page.locator(".js-plotly-plot").first).to_be_visible()
    settled(page)
    screenshot(page, "compare")

    with page.expect_download() as download:  # the picked run's code: the last one, the shipped model's
        key(page, "run_code").click()
    script = tmp_path / "train.py"
    download.value.save_as(script)
    assert "import mnist_cnn" not in script.read_text()
    (x_train, y_train), (x_test, y_test) = mnist
    small = tmp_path / "small.npz"  # the script's own data loading, on a subset so it runs in seconds
    np.savez(small, x_train=x_train[:3000], y_train=y_train[:3000], x_test=x_test[:1000], y_test=y_test[:1000])
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=600,
                         env={**os.environ, "MNIST_NPZ": str(small)})
    assert run.returncode == 0, run.stderr[-2000:]
    last = run.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"test_accuracy=0\.\d{4}", last) and float(last.split("=")[1]) > 0.8, last

    page.get_by_role("link", name="Robustness").click()
    expect(page.locator("h1")).to_contain_text("How robust is it?")
    expect(page.locator(".js-plotly-plot")).to_have_count(len(mnist_cnn.PERTURBATIONS))
    settled(page)
    screenshot(page, "robustness")
    no_exception_shown(page)

    page.get_by_role("link", name="Compare").click()
    expect(page.locator("h1")).to_contain_text("Compare runs")
    settled(page)
    page.reload()  # a new session: the address brings the runs back
    expect(page.locator("h1")).to_contain_text("Compare runs")
    expect(page.locator('[data-testid="stDataFrame"]')).to_be_visible()
    expect(card(page)).to_contain_text("Model: best")
    no_exception_shown(page)
