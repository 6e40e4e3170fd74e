"""The benchmarks: the project against the reference peer (bench/reference.py), measured side by side.

    python bench/run.py [--repeats N] [--only epoch drawing browser load sessions best] [--out FILE]

Prints a table (markdown, for BENCHMARKS.md) and writes every raw number to bench/results/latest.json.
Needs $MNIST_NPZ (or keras' download) and, for `browser`, chromium (see tools/browser.py).
"""

import argparse
import dataclasses
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def run_json(args, env=None):
    """Run a Python command line; return its last stdout line as JSON and its peak memory in MB."""
    with tempfile.TemporaryFile("w+") as out:
        process = subprocess.Popen([sys.executable, *map(str, args)], cwd=ROOT, stdout=out, stderr=subprocess.DEVNULL,
                                   env={**os.environ, **(env or {})})
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        lines = out.read().strip().splitlines()
    if process.returncode != 0 or not lines:
        raise RuntimeError(f"{' '.join(map(str, args))} failed with exit code {process.returncode}")
    return {**json.loads(lines[-1]), "peak_rss_mb": usage.ru_maxrss / 1024}


def row(measure, project, reference, target, met, unit=""):
    ratio = project / reference if reference else None
    return {"measure": measure, "project": project, "reference": reference, "ratio": ratio, "target": target,
            "met": met, "unit": unit}


def epoch(repeats, tmp):
    """One epoch from scratch on all 60k, `default` through the CLI, alternated with the reference's fit."""
    project, reference = [], []
    for seed in range(repeats):
        runs = [
            (project, ["-m", "mnist_cnn", "train", "--arch", "default", "--epochs", 1, "--seed", seed,
                       "--out", tmp / f"default-{seed}.keras", "--json"]),
            (reference, ["bench/reference.py", "epoch", "--seed", seed]),
        ]
        for results, args in runs if seed % 2 == 0 else runs[::-1]:
            results.append(run_json(args))
            print(f"  epoch seed {seed}: {args[1]} {results[-1]['fit_seconds']:.1f} s "
                  f"{results[-1]['test_accuracy']:.2%}", file=sys.stderr)
    fit = [np.median([r["fit_seconds"] for r in runs]) for runs in (project, reference)]
    accuracy = np.array([r["test_accuracy"] for r in project])
    memory = [np.median([r["peak_rss_mb"] for r in runs]) for runs in (project, reference)]
    rows = [
        row("one epoch from scratch, fit time (median)", fit[0], fit[1], "<= 0.4x", fit[0] <= 0.4 * fit[1], "s"),
        row("test accuracy after that epoch (mean)", accuracy.mean(),
            np.mean([r["test_accuracy"] for r in reference]), ">= 99.2 %", accuracy.mean() >= 0.992, "%"),
        row("test accuracy after that epoch (worst seed)", accuracy.min(),
            min(r["test_accuracy"] for r in reference), ">= 99.2 %", accuracy.min() >= 0.992, "%"),
        row("peak memory of that training process (median)", memory[0], memory[1], "", None, "MB"),
    ]
    return rows, {"project": project, "reference": reference}


def drawing_and_gallery(repeats, calls=500):
    """A 280x280x4 canvas to probabilities, and the gallery's 10k test predictions, on the shipped model."""
    import cv2

    import mnist_cnn as mc

    _, (x_test, y_test) = mc.load_mnist()
    model = mc.load_model()
    # canvases as the browser sends them: a test digit drawn 10x larger, white on black, opaque
    canvases = []
    for digit in x_test[:calls]:
        grey = cv2.resize(digit, (280, 280), interpolation=cv2.INTER_LINEAR)
        canvases.append(np.dstack([grey, grey, grey, np.full_like(grey, 255)]))
    for canvas in canvases[:50]:  # warm-up: tracing, caches
        mc.predict_proba(model, mc.canvas_to_mnist(canvas)[None])
    times = []
    for canvas in canvases:
        start = time.perf_counter()
        mc.predict_proba(model, mc.canvas_to_mnist(canvas)[None])
        times.append((time.perf_counter() - start) * 1000)
    gallery = []
    for _ in range(repeats):
        start = time.perf_counter()
        mc.evaluate(model, x_test, y_test)
        gallery.append(time.perf_counter() - start)
    ref = run_json(["bench/reference.py", "predict", "--calls", 100, "--repeats", repeats])
    p50, p95 = np.percentile(times, [50, 95])
    r50, r95 = np.percentile(ref["predict_one_ms"], [50, 95])
    g, rg = np.median(gallery), np.median(ref["predict_test_set_seconds"])
    rows = [
        row(f"drawing to probabilities, p50 of {calls}", p50, r50, "<= 3 ms", p50 <= 3, "ms"),
        row(f"drawing to probabilities, p95 of {calls}", p95, r95, "<= 6 ms", p95 <= 6, "ms"),
        row("gallery: 10,000 test predictions (median)", g, rg, "<= 1.5 s", g <= 1.5, "s"),
    ]
    return rows, {"drawing_ms": times, "gallery_seconds": gallery, "reference": ref}


def browser(repeats, tmp):
    """Cold start to a first answer in chromium, import and load times, and the server's memory."""
    from playwright.sync_api import expect, sync_playwright

    from tools.browser import ONE, draw, launch, serve

    expect.set_options(timeout=300_000)
    code = ("import json, sys, time; t = time.perf_counter(); import mnist_cnn; a = time.perf_counter() - t; "
            "heavy = sorted(m for m in ('tensorflow', 'keras', 'streamlit') if m in sys.modules); "
            "t = time.perf_counter(); mnist_cnn.load_model(); b = time.perf_counter() - t; "
            "print(json.dumps({'import_s': a, 'heavy_after_import': heavy, 'load_model_s': b}))")
    imports = [run_json(["-c", code]) for _ in range(repeats)]
    cold, memory = [], {}
    with sync_playwright() as playwright:
        chromium = launch(playwright)
        for i in range(repeats):
            page = chromium.new_page(viewport={"width": 1400, "height": 1000})
            start = time.perf_counter()
            with open(tmp / f"cold-{i}.log", "w") as log, serve(log) as (url, _):
                page.goto(url)
                draw(page, ONE)
                expect(page.locator("h3")).to_contain_text("It's a")
                cold.append(time.perf_counter() - start)
            page.close()
        with open(tmp / "memory.log", "w") as log, serve(log) as (url, server):
            memory = server_memory(chromium, url, server.pid)
        chromium.close()
    c = np.median(cold)
    rows = [
        row("cold start: `streamlit run` to the canvas's first answer (median)", c, None, "<= 10 s", c <= 10, "s"),
        row("import mnist_cnn (median)", np.median([r["import_s"] for r in imports]), None,
            "loads no TensorFlow", not any(r["heavy_after_import"] for r in imports), "s"),
        row("load the shipped model, TensorFlow import included (median)",
            np.median([r["load_model_s"] for r in imports]), None, "", None, "s"),
        row("server peak RSS: every page, drawings, one epoch trained", memory["peak_after_first_session_mb"], None,
            "<= 1000 MB", memory["peak_after_first_session_mb"] <= 1000, "MB"),
        row("server peak RSS after 6 more drawing and 2 more training sessions", memory["peak_mb"], None, "", None,
            "MB"),
        row("each extra session that draws", memory["per_drawing_session_mb"], None, "<= 60 MB",
            memory["per_drawing_session_mb"] <= 60, "MB"),
        row("each extra session that trains its own model", memory["per_training_session_mb"], None, "", None, "MB"),
    ]
    return rows, {"cold_start_seconds": cold, "imports": imports, "memory": memory}


def server_memory(chromium, url, pid, drawing_sessions=6, training_sessions=2):
    """Visit every page, draw and train one epoch (all 60k, the app's defaults); then add sessions."""
    from playwright.sync_api import expect

    from tools.browser import ONE, draw

    def rss(field):
        status = Path(f"/proc/{pid}/status").read_text()
        return int(next(line.split()[1] for line in status.splitlines() if line.startswith(field))) / 1024

    def session():
        context = chromium.new_context(viewport={"width": 1400, "height": 1000}, base_url=url)
        context.set_default_timeout(300_000)
        return context, context.new_page()

    first, page = session()
    page.goto("/")
    draw(page, ONE)
    expect(page.locator("h3")).to_contain_text("It's a")
    page.goto("/training")
    page.locator(".st-key-train_one button").click()
    expect(page.get_by_text("done: test accuracy")).to_be_visible()
    for path in ("/gallery", "/data"):
        page.goto(path)
        expect(page.locator("h1")).to_be_visible()
        page.wait_for_timeout(2000)
    visited, visited_peak = rss("VmRSS:"), rss("VmHWM:")

    contexts = []
    for _ in range(drawing_sessions):
        context, page = session()
        page.goto("/")
        draw(page, ONE)
        expect(page.locator("h3")).to_contain_text("It's a")
        contexts.append(context)
    drawn = rss("VmRSS:")
    for _ in range(training_sessions):
        context, page = session()
        page.goto("/training")
        page.locator(".st-key-train_one button").click()
        expect(page.get_by_text("done: test accuracy")).to_be_visible()
        contexts.append(context)
    trained = rss("VmRSS:")
    peak = rss("VmHWM:")
    for context in [first, *contexts]:
        context.close()
    return {
        "after_first_session_mb": visited, "after_drawing_sessions_mb": drawn, "after_training_sessions_mb": trained,
        "peak_after_first_session_mb": visited_peak, "peak_mb": peak,
        "per_drawing_session_mb": (drawn - visited) / drawing_sessions,
        "per_training_session_mb": (trained - drawn) / training_sessions,
    }


def load_test(repeats, tmp):
    """8 visitors drawing 5 digits each at once on one (warm) server, as fast as the browsers go and at a
    person's pace: mouse-up to answer, and its legs; p50 and p95 of each run's 40 answers, median over runs."""
    import asyncio

    from tools.browser import load, serve

    rows, raw = [], {}
    with open(tmp / "load.log", "w") as log, serve(log) as (url, _):
        asyncio.run(load(url, pages=1, drawings=1))  # the first visitor pays for TensorFlow and the model
        for human in (False, True):
            runs = [asyncio.run(load(url, pages=8, drawings=5, human=human)) for _ in range(repeats)]
            pace = "at a person's pace" if human else "flat out"
            p50, p95 = np.median([np.percentile([t.answer for t in timings], [50, 95]) for timings, _ in runs], axis=0)
            legs = [np.median([np.nanmedian([getattr(t, leg) for t in timings]) for timings, _ in runs])
                    for leg in ("send", "server", "render")]
            answered = min(len(timings) - len(problems) for timings, problems in runs)
            rows += [
                row(f"8 visitors drawing {pace}: mouse-up to answer, p50", p50, None, "", None, "s"),
                row(f"8 visitors drawing {pace}: mouse-up to answer, p95", p95, None, "<= 1 s", p95 <= 1, "s"),
                row(f"8 visitors drawing {pace}: median legs, send / server / render",
                    " / ".join(f"{v:.2f}" for v in legs), None, "", None, "s"),
                row(f"8 visitors drawing {pace}: answered without an error (of 40, worst run)", answered, None, "40",
                    answered == 40, ""),
            ]
            raw["human" if human else "flat_out"] = [
                {"timings": [dataclasses.asdict(t) for t in timings], "problems": problems}
                for timings, problems in runs
            ]
    return rows, raw


def sessions(tmp, count=20, ttl=5):
    """RSS as sessions that train their own model come and go (training on 3000 images, for time)."""
    from playwright.sync_api import expect, sync_playwright

    from tools.browser import launch, serve

    def rss(pid):
        status = Path(f"/proc/{pid}/status").read_text()
        return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:"))) / 1024

    def visit(chromium, url):
        context = chromium.new_context(base_url=url)
        context.set_default_timeout(300_000)
        page = context.new_page()
        page.goto("/training")
        page.locator(".st-key-train_one button").click()
        expect(page.get_by_text("done: test accuracy")).to_be_visible()
        context.close()

    expect.set_options(timeout=300_000)
    env = {"MNIST_CNN_TRAIN_SUBSET": "3000"}
    options = ["--server.disconnectedSessionTTL", str(ttl)]
    with sync_playwright() as playwright, open(tmp / "sessions.log", "w") as log, \
            serve(log, env=env, options=options) as (url, server):
        chromium = launch(playwright)
        visit(chromium, url)
        time.sleep(ttl + 5)
        before = rss(server.pid)
        trace = []
        for _ in range(count):
            visit(chromium, url)
            trace.append(rss(server.pid))
        time.sleep(ttl + 5)  # the server lets go of a closed session after its TTL
        after = rss(server.pid)
        chromium.close()
    rows = [
        row(f"server RSS after {count} sessions that trained came and went, minus before", after - before, None,
            "bounded", None, "MB"),
        row(f"the same, grown over the last {count // 2} sessions (flat: bounded)", trace[-1] - trace[-1 - count // 2],
            None, "", None, "MB"),
    ]
    return rows, {"before_mb": before, "after_mb": after, "during_mb": trace}


def best():
    """The shipped model: the `best` recipe, from its record (rerun with the command in it)."""
    import mnist_cnn as mc

    record = mc.shipped_record()
    _, (x_test, y_test) = mc.load_mnist()
    accuracy = mc.evaluate(mc.load_model(), x_test, y_test).accuracy
    rows = [
        row("shipped model (`--arch best`), test accuracy", accuracy, None, ">= 99.6 % (stretch 99.7 %)",
            accuracy >= 0.996, "%"),
        row("its CPU training time (from models/mnist_cnn.json)", record["fit_seconds"], None, "", None, "s"),
    ]
    return rows, {"record": record, "test_accuracy": accuracy}


def table(rows):
    def fmt(value, unit):
        if value is None:
            return ""
        if isinstance(value, str):
            return f"{value} {unit}"
        if unit == "%":
            return f"{value:.2%}"
        return f"{value:,.0f} {unit}" if unit == "MB" else f"{value:.3g} {unit}".strip()

    lines = ["| measure | project | reference | ratio | target | met |", "|---|---|---|---|---|---|"]
    for r in rows:
        ratio = f"{r['ratio']:.2f}x" if r["ratio"] is not None and r["unit"] != "%" else ""
        met = {True: "yes", False: "**no**", None: ""}[r["met"]]
        lines.append(f"| {r['measure']} | {fmt(r['project'], r['unit'])} | {fmt(r['reference'], r['unit'])} | "
                     f"{ratio} | {r['target']} | {met} |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parts = ["epoch", "drawing", "browser", "load", "sessions", "best"]
    parser.add_argument("--only", nargs="+", choices=parts, default=parts, help="drawing includes the gallery")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "latest.json")
    args = parser.parse_args()
    rows, raw = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.only:
            print(f"{name}...", file=sys.stderr)
            if name == "epoch":
                new, raw[name] = epoch(args.repeats, Path(tmp))
            elif name == "drawing":
                new, raw[name] = drawing_and_gallery(args.repeats)
            elif name == "browser":
                new, raw[name] = browser(min(args.repeats, 3), Path(tmp))
            elif name == "load":
                new, raw[name] = load_test(min(args.repeats, 3), Path(tmp))
            elif name == "sessions":
                new, raw[name] = sessions(Path(tmp))
            else:
                new, raw[name] = best()
            rows += new
    machine = {"python": platform.python_version(), "cpus": os.cpu_count(), "processor": platform.processor(),
               "date": time.strftime("%Y-%m-%d")}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"machine": machine, "rows": rows, "raw": raw}, indent=1, default=float))
    print(table(rows))


if __name__ == "__main__":
    main()
