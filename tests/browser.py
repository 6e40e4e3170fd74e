"""The app in a real browser, for the browser tests and the benchmarks: a `streamlit run` server on a free
loopback port, Debian's chromium through Playwright, and mouse strokes on the canvas."""

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# no background networking: this machine has no internet, and chromium's attempts only slow it down
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync"]
ONE = [[(140, 40), (145, 140), (150, 240)]]  # canvas strokes of a 1
SEVEN = [[(70, 60), (210, 60), (120, 240)]]  # and of a 7


@contextlib.contextmanager
def serve(log, env=None, timeout=60):
    """Start `streamlit run streamlit_app.py` on 127.0.0.1 and yield (url, process) once it answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true"],
        cwd=ROOT, env={**os.environ, **(env or {})}, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                urllib.request.urlopen(f"{url}/_stcore/health", timeout=2)
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"streamlit did not start (exit code {process.poll()})") from None
                time.sleep(0.2)
        yield url, process
    finally:
        process.terminate()
        process.wait(timeout=20)


def launch(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)


def draw(page, strokes):
    """Mouse strokes on the canvas; each stroke a list of (x, y) in canvas pixels."""
    box = page.locator(".st-key-canvas canvas").last.bounding_box()
    for stroke in strokes:
        page.mouse.move(box["x"] + stroke[0][0], box["y"] + stroke[0][1])
        page.mouse.down()
        for x, y in stroke[1:]:
            page.mouse.move(box["x"] + x, box["y"] + y, steps=5)
        page.mouse.up()
