"""The app in a real browser, for the browser tests (tests/test_browser.py) and the benchmarks
(bench/run.py): a `streamlit run` server on a free loopback port, Debian's chromium through Playwright, and
mouse strokes on the canvas."""

import asyncio
import contextlib
import dataclasses
import itertools
import math
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
def serve(log, env=None, options=(), timeout=60):
    """Start `streamlit run streamlit_app.py [options]` on 127.0.0.1; yield (url, process) once it answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true", *options],
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


def mouse_moves(box, strokes):
    """A drawing as mouse actions ("down" | "move" | "up", x, y) in page pixels; each stroke a list of (x, y)
    canvas pixels."""
    for stroke in strokes:
        (x, y), *rest = [(box["x"] + x, box["y"] + y) for x, y in stroke]
        yield "move", x, y
        yield "down", x, y
        for x, y in rest:
            yield "move", x, y
        yield "up", x, y


CANVAS_READY = "Reset canvas & history"  # the canvas's toolbar: drawn once the canvas takes strokes


def draw(page, strokes):
    """Mouse strokes on the canvas, once it is ready for them."""
    page.get_by_role("button", name=CANVAS_READY).wait_for()
    for action, x, y in mouse_moves(page.locator(".st-key-canvas canvas").last.bounding_box(), strokes):
        if action == "move":
            page.mouse.move(x, y, steps=5)
        else:
            getattr(page.mouse, action)()


def touch(page, strokes, steps=8):
    """Finger strokes on the canvas through the DevTools protocol's touch events (a context made with
    has_touch=True): each stroke a touchStart, touchMoves `steps` to a segment, a touchEnd."""
    page.get_by_role("button", name=CANVAS_READY).wait_for()
    canvas = page.locator(".st-key-canvas canvas").last
    canvas.evaluate("e => e.scrollIntoView({block: 'center'})")  # clear of the app's header, which takes touches
    box = canvas.bounding_box()
    cdp = page.context.new_cdp_session(page)

    def send(kind, *point):
        points = [{"x": box["x"] + point[0], "y": box["y"] + point[1]}] if point else []
        cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points})

    for stroke in strokes:
        send("touchStart", *stroke[0])
        for (x0, y0), (x1, y1) in itertools.pairwise(stroke):
            for step in range(1, steps + 1):
                send("touchMove", x0 + (x1 - x0) * step / steps, y0 + (y1 - y0) * step / steps)
        send("touchEnd")
    cdp.detach()


ANSWER = "h3:has-text(\"It's a\"), h3:has-text(\"Maybe a\")"
ANSWER_BYTES = (b"It's a", b"Maybe a")  # in the websocket message that brings the answer
PROMPT = "Draw a digit on the black canvas"
LOOK_S, STROKE_SEGMENT_S = 1.5, 0.25  # a person's pace: a look at each answer, a quarter second per stroke segment


async def load(url, pages=8, drawings=5, human=False, timeout_ms=120_000):
    """`pages` browser sessions at once, each drawing `drawings` digits (a 1, then a 7, ...) and clearing the
    canvas in between: as fast as the browser goes, or at a person's pace if `human`. Returns one Timing per
    answer and what went wrong."""
    from playwright.async_api import async_playwright

    timings, problems = [], []

    async def visitor(browser, n):
        context = await browser.new_context(viewport={"width": 1400, "height": 1000})
        context.set_default_timeout(timeout_ms)
        page = await context.new_page()
        marks = {}  # this drawing's moments: mouse-up, the drawing sent, the answer received

        def on_websocket(ws):
            ws.on("framesent", lambda _: "up" in marks and marks.setdefault("sent", time.perf_counter()))
            ws.on("framereceived", lambda frame: "up" in marks and isinstance(frame, bytes)
                  and any(a in frame for a in ANSWER_BYTES) and marks.setdefault("received", time.perf_counter()))

        page.on("websocket", on_websocket)
        await page.goto(url)
        await page.get_by_text(PROMPT).wait_for()
        for i in range(drawings):
            await page.get_by_role("button", name=CANVAS_READY).wait_for()
            box = await page.locator(".st-key-canvas canvas").last.bounding_box()
            marks.clear()
            for action, x, y in mouse_moves(box, ONE if (n + i) % 2 == 0 else SEVEN):
                if action != "move":
                    await getattr(page.mouse, action)()
                elif human:
                    await page.mouse.move(x, y, steps=10)
                    await asyncio.sleep(STROKE_SEGMENT_S)
                else:
                    await page.mouse.move(x, y, steps=5)
            marks["up"] = time.perf_counter()
            await page.locator(ANSWER).first.wait_for()
            timings.append(Timing.of(marks, time.perf_counter()))
            if await page.locator('[data-testid="stException"], [data-testid="stAlertContentError"]').count():
                problems.append(f"session {n}, drawing {i}: an error is shown")
            if human:
                await asyncio.sleep(LOOK_S)
            await page.get_by_role("button", name=CANVAS_READY).click()
            await page.get_by_text(PROMPT).wait_for()
        await context.close()

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        results = await asyncio.gather(*(visitor(browser, n) for n in range(pages)), return_exceptions=True)
        await browser.close()
    problems += [f"session {n}: {r!r}" for n, r in enumerate(results) if isinstance(r, BaseException)]
    return timings, problems


@dataclasses.dataclass
class Timing:
    """Seconds from a mouse-up to its answer on screen, and its three legs (NaN where a frame was not seen)."""

    answer: float
    send: float  # mouse-up to the drawing sent: the canvas waits 200 ms for more strokes, then encodes a PNG
    server: float  # sent to the answer received: the server's rerun, and the network
    render: float  # received to on screen: the browser's rendering

    @classmethod
    def of(cls, marks, shown):
        up, sent, received = (marks.get(k, math.nan) for k in ("up", "sent", "received"))
        return cls(shown - up, sent - up, received - sent, shown - received)
