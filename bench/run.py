"""The benchmarks: the project against the reference peer (bench/reference.py), measured side by side.

    python bench/run.py [--repeats N] [--out FILE]
                        [--only epoch drawing browser memory load sessions best explain teach photos styles uploads]

Prints a table (markdown, for BENCHMARKS.md) and writes every raw number to bench/results/latest.json.
Needs $MNIST_NPZ (or keras' download) and, for `browser`, chromium (see tools/browser.py).
"""

import argparse
import contextlib
import dataclasses
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
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
        *memory_rows(memory),
    ]
    return rows, {"cold_start_seconds": cold, "imports": imports, "memory": memory}


def memory(repeats, tmp):
    """The server's memory alone (browser's last part, without the cold starts): `repeats` fresh servers, each
    through server_memory(); the rows show the median run (by the crowded peak), every run is in the raw data."""
    from playwright.sync_api import expect, sync_playwright

    from tools.browser import launch, serve

    expect.set_options(timeout=300_000)
    runs_file = tmp / "runs.zip"
    child = "import sys; sys.path.insert(0, 'bench'); import run; run.{}({!r})"
    held = run_json(["-c", child.format("runs_cost", str(runs_file))])
    held["live"] = run_json(["-c", child.format("live_cost", str(runs_file))])
    print(f"  10 runs held in-process: {held['bytes_mb']:.1f} MB of bytes, +{held['held_mb']:.1f} MB resident",
          file=sys.stderr)
    runs = []
    with sync_playwright() as playwright:
        chromium = launch(playwright)
        for i in range(repeats):
            with open(tmp / f"memory-{i}.log", "w") as log, serve(log) as (url, server):
                runs.append(server_memory(chromium, url, server.pid, runs_file=runs_file))
            print(f"  memory run {i}: " + ", ".join(f"{phase} {runs[-1][phase]['sum_mb']:.0f} MB, peak "
                                                    f"{runs[-1][phase]['peak_mb']:.0f} MB"
                                                    for phase in ("working", "crowded", "full")), file=sys.stderr)
        chromium.close()
    median = sorted(runs, key=lambda r: r["crowded"]["peak_mb"])[len(runs) // 2]
    return [*runs_rows(held), *memory_rows(median)], {"runs": runs, "runs_held": held}


def runs_cost(out):
    """In a process that holds TensorFlow and the shipped model (a warm server): 10 runs of the registry's five
    architectures, two each, trained on 512 images (their optimizer slots made): their bytes, the resident set
    they hold (with them, minus after they are freed); 9 of them (all but a `default`) written to `out` as a runs
    file for live_cost() and the server's runs phase. Prints one JSON line."""
    import mnist_cnn as mc
    from mnist_cnn import runs

    (x, y), (x_test, y_test) = mc.load_mnist()
    mc.predict_proba(mc.load_model(), x_test[:256])
    made = []
    for arch in mc.ARCHS:
        for seed in (1, 2):
            model = mc.build_model(arch, seed=seed)
            mc.train(model, (x[:512], y[:512]), epochs=1, seed=seed, validation_split=0.2)
            made.append(runs.record(model, f"{arch} {seed}", {"seed": seed, "validation_split": 0.2},
                                    mc.evaluate(model, x_test, y_test), 1.0))
            del model
    Path(out).write_bytes(runs.save_runs(made[1:]))
    sizes = {r.name: len(r.weights) for r in made}
    with_runs = _settled_rss()
    del made
    print(json.dumps({"bytes_mb": sum(sizes.values()) / 2**20, "sizes": sizes,
                      "held_mb": with_runs - _settled_rss()}))


def live_cost(path):
    """What runs_cost()'s `path` costs as live Keras models instead of bytes: the runs file read, then each run
    restored and its 10,000 test images answered (a model that has answered keeps its traced call). Prints one
    JSON line."""
    import mnist_cnn as mc
    from mnist_cnn import runs

    _, (x_test, _) = mc.load_mnist()
    mc.predict_proba(mc.load_model(), x_test[:256])
    kept = runs.load_runs(Path(path).read_bytes())
    before = _settled_rss()
    models = [runs.restore(run) for run in kept]
    for model in models:
        mc.predict_proba(model, x_test)
    print(json.dumps({"models": len(models), "live_mb": _settled_rss() - before}))


def _settled_rss():
    """This process's resident set in MB once the garbage is collected and malloc's free pages handed back."""
    import ctypes
    import gc

    from tools.budget import rss_mb

    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    return rss_mb("VmRSS")


def runs_rows(held):
    """runs_cost()'s result as table rows."""
    return [
        row("10 runs of the registry's five architectures, two each, in a process with TensorFlow and the shipped "
            f"model: their bytes ({held['bytes_mb']:.1f} MB), the resident set they hold", held["held_mb"], None,
            "<= 20 MB", held["held_mb"] <= 20, "MB"),
        row(f"{held['live']['models']} of them held as live Keras models instead (each restored and its test images "
            "answered)", held["live"]["live_mb"], None, "", None, "MB"),
    ]


def memory_rows(memory):
    """server_memory()'s result as table rows: each phase's resident anonymous and file pages and its peak."""
    rows = []
    for phase, what, target in (
        ("working", "one working session (every page, a drawing, one epoch on 60,000, a gallery image explained)",
         800),
        ("crowded", "the same + 6 sessions drawing + 2 training at once", 900),
    ):
        m = memory[phase]
        rows += [
            row(f"{what}: RssAnon / RssFile / sum after (RssAnon's sampled peak)",
                f"{m['anon_mb']:,.0f} / {m['file_mb']:,.0f} / {m['sum_mb']:,.0f} ({m['peak_anon_mb']:,.0f})", None,
                "", None, "MB"),
            row(f"{what}: peak RSS (VmHWM)", m["peak_mb"], None, f"<= {target} MB", m["peak_mb"] <= target, "MB"),
        ]
    m = memory["full"]
    rows += [
        row(f"then sessions that start and train a model of their own: {memory['owners']} at once, RssAnon / RssFile / "
            "sum after (RssAnon's sampled peak)",
            f"{m['anon_mb']:,.0f} / {m['file_mb']:,.0f} / {m['sum_mb']:,.0f} ({m['peak_anon_mb']:,.0f})", None, "",
            None, "MB"),
        row("the same, peak RSS (VmHWM)", m["peak_mb"], None, "< 1000 MB", m["peak_mb"] < 1000, "MB"),
        row("the next one is told the server is full", "yes" if memory["refused"] else "no", None, "", None, ""),
    ]
    if memory.get("with_runs"):
        m, full = memory["with_runs"], memory["full"]
        sums, count = m["sums_mb"], len(m["sums_mb"])
        rise = m["peak_mb"] - full["peak_mb"]
        rows += [
            row(f"then each of those {count} sessions uploads 9 runs of the registry's architectures on Compare (10 "
                "runs each): RssAnon / RssFile / sum after (RssAnon's sampled peak)",
                f"{m['anon_mb']:,.0f} / {m['file_mb']:,.0f} / {m['sum_mb']:,.0f} ({m['peak_anon_mb']:,.0f})", None,
                "", None, "MB"),
            row("the same, sum after minus the sum before the uploads: all / the first session (architectures new "
                "to the server loaded once) / each of the next, on average",
                f"+{m['sum_mb'] - full['sum_mb']:,.0f} / +{sums[0] - full['sum_mb']:,.0f} / "
                f"+{(sums[-1] - sums[0]) / max(count - 1, 1):,.1f}", None, "", None, "MB"),
            row(f"the same, peak RSS (VmHWM), minus the {memory['owners']} sessions' peak before", rise, None,
                "<= 100 MB", rise <= 100, "MB"),
            row("then one of them trains another epoch on 60,000: peak RSS (VmHWM)", memory["trained_after"]["peak_mb"],
                None, "< 1000 MB", memory["trained_after"]["peak_mb"] < 1000, "MB"),
        ]
    rows.append(row("each extra session that draws", memory["per_drawing_session_mb"], None, "<= 60 MB",
                    memory["per_drawing_session_mb"] <= 60, "MB"))
    rows.append(row("each extra session that trains its own model", memory["per_training_session_mb"], None, "", None,
                    "MB"))
    return rows


def server_memory(chromium, url, pid, drawing_sessions=6, training_sessions=2, most_owners=20, runs_file=None):
    """The server's memory (_memory(): what Community Cloud counts) through one working session, which visits
    every page, draws, trains one epoch (all 60k, the app's defaults) and has a gallery image explained; then,
    beside it, `drawing_sessions` that draw and `training_sessions` that train at the same time; then sessions
    that each start a new model and train it, one after another, until the server refuses one (its cap on
    sessions with a model of their own) or `most_owners` own one; then, given a `runs_file`, every session with a
    model of its own opens Compare (the same session: its menu link) and uploads it, so each holds its own
    training's run and the file's (9 of the registry's: 10 runs each). Each phase's peak is its own."""
    import re

    from playwright.sync_api import expect

    from tools.browser import ONE, draw

    def session(path):
        context = chromium.new_context(viewport={"width": 1400, "height": 1000}, base_url=url)
        context.set_default_timeout(300_000)
        page = context.new_page()
        page.goto(path)
        return context, page

    def train(page):
        page.locator(".st-key-train_one button").click()

    def trained(page):
        expect(page.get_by_text("done: test accuracy")).to_be_visible()

    started = _memory(pid)
    first, page = session("/")
    owned = [page]  # the sessions with a model of their own, for the runs phase
    with _peaks(pid) as working:
        draw(page, ONE)
        expect(page.locator("h3")).to_contain_text("It's a")
        page.goto("/training")
        train(page)
        trained(page)
        page.goto("/gallery")
        explain_a_mistake(page)
        expect(page.locator('img[alt^="neighbour: a"]')).to_have_count(8)
        page.goto("/data")
        expect(page.locator("h1")).to_be_visible()
        page.wait_for_timeout(2000)
    contexts = []
    with _peaks(pid) as crowded:
        for _ in range(drawing_sessions):
            context, page = session("/")
            draw(page, ONE)
            expect(page.locator("h3")).to_contain_text("It's a")
            contexts.append(context)
        drawn = _memory(pid)["sum_mb"]
        training = [session("/training") for _ in range(training_sessions)]
        for _, page in training:
            train(page)
        for context, page in training:
            trained(page)
            contexts.append(context)
            owned.append(page)
    owners, refused = 1 + training_sessions, False
    with _peaks(pid) as full:
        while not refused and owners < most_owners:  # newcomers start a new model and train it, until one is refused
            context, page = session("/training")
            contexts.append(context)
            page.locator(".st-key-start_new button").click()
            answer = page.get_by_text("The server is full").or_(page.get_by_text("a new model, trained in this"))
            expect(answer.first).to_be_visible()
            refused = page.get_by_text("The server is full").is_visible()
            if not refused:
                owners += 1
                train(page)
                trained(page)
                owned.append(page)
    with_runs = trained_after = None
    if runs_file is not None:
        with _peaks(pid) as with_runs:
            for page in owned:
                page.get_by_role("link", name="Compare").click()
                page.locator(".st-key-runs_upload input[type=file]").set_input_files(runs_file)
                expect(page.get_by_text(re.compile(r"Added \d+ runs"))).to_be_visible()
                with_runs.setdefault("sums_mb", []).append(_memory(pid)["sum_mb"])
        with _peaks(pid) as trained_after:  # the last of them trains one more epoch, on top of all the runs
            owned[-1].get_by_role("link", name="Train").click()
            train(owned[-1])
            trained(owned[-1])
    for context in [first, *contexts]:
        context.close()
    return {
        "started": started, "working": working, "crowded": crowded, "full": full, "with_runs": with_runs,
        "trained_after": trained_after, "owners": owners,
        "refused": refused, "per_drawing_session_mb": (drawn - working["sum_mb"]) / drawing_sessions,
        "per_training_session_mb": (crowded["sum_mb"] - drawn) / training_sessions,
    }


def explain_a_mistake(page, tries=5):
    """On the gallery, pick the most confident mistake to explain. A rerun can close the list as it opens (seen
    in 2 of 4 runs), so it is opened again until the pick is made."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    picker = page.locator('[class*="st-key-gallery_explain_"]').filter(visible=True).first
    for attempt in range(tries):
        picker.get_by_role("combobox").click()
        try:
            page.get_by_role("option").filter(has_text="read as").first.click(timeout=20_000)
            return
        except PlaywrightTimeout:
            if attempt == tries - 1:
                raise


def _memory(pid="self"):
    """A process's memory as Community Cloud counts it, in MB: resident anonymous pages (`anon_mb`) plus
    resident file pages (`file_mb`, mostly TensorFlow's shared libraries), their `sum_mb`, and the peak of the
    whole resident set since the last reset (`peak_mb`, VmHWM; shared memory, RssShmem, is ~0 here)."""
    fields = {"anon_mb": "RssAnon:", "file_mb": "RssFile:", "shmem_mb": "RssShmem:", "peak_mb": "VmHWM:"}
    memory = {name: _rss(field, pid) for name, field in fields.items()}
    return {**memory, "sum_mb": memory["anon_mb"] + memory["file_mb"]}


@contextlib.contextmanager
def _peaks(pid, every=0.05):
    """Yields a dict that, once the block ends, holds _memory(pid) then, with its peak over the block (VmHWM,
    reset as the block starts) and the highest RssAnon sampled every `every` seconds (`peak_anon_mb`)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # resets VmHWM (Linux)
    result, stop = {"peak_anon_mb": 0.0}, threading.Event()

    def sample():
        while not stop.wait(every):
            with contextlib.suppress(FileNotFoundError, StopIteration):
                result["peak_anon_mb"] = max(result["peak_anon_mb"], _rss("RssAnon:", pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield result
    finally:
        stop.set()
        sampler.join()
        now = _memory(pid)
        result.update(now, peak_anon_mb=max(result["peak_anon_mb"], now["anon_mb"]))


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


def sessions(repeats, tmp, count=20, ttl=5, settle=40):
    """RssAnon + RssFile as sessions that train their own model come and go (training on 3000 images, for time):
    before (a warm session came and went), after each, and once the last is gone; `repeats` fresh servers, the rows
    show the median run (by growth), every run is in the raw data. A session goes `ttl` seconds after its browser
    does and its model within 30 s more (app/session.py, COLLECT_EVERY): `settle` covers it."""
    from playwright.sync_api import expect, sync_playwright

    from tools.browser import launch, serve

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
    runs = []
    with sync_playwright() as playwright:
        chromium = launch(playwright)
        for i in range(repeats):
            with open(tmp / f"sessions-{i}.log", "w") as log, \
                    serve(log, env=env, options=options) as (url, server):
                visit(chromium, url)
                time.sleep(ttl + settle)
                before, during = _memory(server.pid), []
                for _ in range(count):
                    visit(chromium, url)
                    during.append(_memory(server.pid)["sum_mb"])
                time.sleep(ttl + settle)
                after = _memory(server.pid)
            runs.append({"before": before, "after": after, "during_mb": during,
                         "grown_mb": after["sum_mb"] - before["sum_mb"]})
            print(f"  sessions run {i}: grown {runs[-1]['grown_mb']:.0f} MB", file=sys.stderr)
        chromium.close()
    median = sorted(runs, key=lambda r: r["grown_mb"])[len(runs) // 2]
    before, after, during, grown = median["before"], median["after"], median["during_mb"], median["grown_mb"]
    rows = [
        row(f"server RssAnon + RssFile after {count} sessions that trained came and went, minus before", grown, None,
            "<= 50 MB", grown <= 50, "MB"),
        row("the same, RssAnon / RssFile before and after",
            f"{before['anon_mb']:,.0f} / {before['file_mb']:,.0f} to {after['anon_mb']:,.0f} / "
            f"{after['file_mb']:,.0f}", None, "", None, "MB"),
        row("the same, highest while they came and went", max(during), None, "", None, "MB"),
    ]
    return rows, {"runs": runs}


def best():
    """The shipped model: the `best` recipe, from its record (rerun with the command in it)."""
    import mnist_cnn as mc

    record = mc.shipped_record()
    _, (x_test, y_test) = mc.load_mnist()
    accuracy = mc.evaluate(mc.load_model(), x_test, y_test).accuracy
    rows = [
        row("shipped model (`--arch best`), test accuracy", accuracy, None, ">= 99.6 % (stretch 99.7 %)",
            accuracy >= 0.996, "%"),
        row("its CPU training time, the model it was taught from included (models/mnist_cnn.json)",
            record["fit_seconds"] + (record.get("base") or {}).get("fit_seconds", 0), None, "", None, "s"),
    ]
    return rows, {"record": record, "test_accuracy": accuracy}


def explain(repeats, calls=200):
    """Explaining a drawing on the shipped model, beside the plain answer: each part's p50 of `calls` test digits
    (median over `repeats` runs), and the neighbour index: build time, memory, and its 8-neighbour vote."""
    import mnist_cnn as mc
    from mnist_cnn import explanation as ex  # the module: its parts are timed one by one

    (x_train, y_train), (x_test, y_test) = mc.load_mnist()
    model = mc.load_model()
    images = x_test[:calls].astype(np.float32) / 255  # as canvas_to_mnist gives them
    inputs = images[..., None]  # as explain() passes them on to its parts, checked
    clear_peak = Path("/proc/self/clear_refs")  # writing 5 resets the peak RSS (Linux)
    before = _rss("VmRSS:")
    clear_peak.write_text("5")
    start = time.perf_counter()
    index = mc.neighbour_index(model, x_train, y_train)  # first build: tracing included
    first_build = time.perf_counter() - start
    build_peak = _rss("VmHWM:") - before
    builds = []
    for _ in range(repeats):
        start = time.perf_counter()
        mc.neighbour_index(model, x_train[:], y_train)  # a new view: the cache, keyed on identity, builds again
        builds.append(time.perf_counter() - start)
    index = mc.neighbour_index(model, x_train, y_train)
    probas = mc.predict_proba(model, images)
    targets = probas.argmax(axis=1)
    runners = np.argsort(-probas, axis=1)[:, 1]
    parts = {
        "answer": lambda i: mc.predict_proba(model, images[i][None]),
        "attribution": lambda i: ex._attributions(model, inputs[i], [targets[i], runners[i]]),
        "neighbours": lambda i: index.query(mc.embed(model, images[i][None])[0], 8),
        "activations": lambda i: ex._block_maps(model, inputs[i]),
        "explain": lambda i: mc.explain(model, images[i], index=index),
    }
    for part in parts.values():  # warm-up: tracing
        part(0)
    times = {name: [] for name in parts}
    for _ in range(repeats):
        for name, part in parts.items():  # alternated, so a busy moment of the machine hits every part alike
            run = []
            for i in range(calls):
                start = time.perf_counter()
                part(i)
                run.append((time.perf_counter() - start) * 1000)
            times[name].append(run)
    p50 = {name: float(np.median([np.median(run) for run in runs])) for name, runs in times.items()}
    embeddings = mc.embed(model, x_test)
    votes = [np.bincount(index.query(e, 8).labels, minlength=10).argmax() for e in embeddings]
    vote = float(np.mean(np.array(votes) == y_test))
    raw_mb = len(x_train) * embeddings.shape[1] * 4 / 2**20
    build = float(np.median(builds))
    rows = [
        row(f"plain answer (predict_proba, one image), p50 of {calls}", p50["answer"], None, "<= 3 ms",
            p50["answer"] <= 3, "ms"),
        row(f"attribution: integrated gradients, {ex.IG_STEPS} steps, target and runner-up, p50",
            p50["attribution"], None, "<= 60 ms", p50["attribution"] <= 60, "ms"),
        row("8 nearest training images (embed + query), p50", p50["neighbours"], None, "<= 30 ms",
            p50["neighbours"] <= 30, "ms"),
        row("each convolution block's feature maps, p50", p50["activations"], None, "", None, "ms"),
        row("the whole explain(), neighbours included, p50", p50["explain"], None, "", None, "ms"),
        row(f"build the index on all 60,000 training images (median of {repeats})", build, None, "<= 5 s",
            build <= 5, "s"),
        row("the same, first build (tracing included)", first_build, None, "", None, "s"),
        row(f"index memory (.nbytes): {index.embeddings.shape[1]} principal components of "
            f"{embeddings.shape[1]} features ({raw_mb:,.0f} MB raw)", index.nbytes / 2**20, None, "", None, "MB"),
        row("peak RSS added while building it", build_peak, None, "", None, "MB"),
        row("8-neighbour majority vote = true label, 10,000 test images", vote, None, ">= 97 %", vote >= 0.97, "%"),
    ]
    return rows, {"ms": times, "build_seconds": builds, "first_build_seconds": first_build,
                  "build_peak_mb": build_peak, "index_bytes": index.nbytes, "vote_accuracy": vote}


def teach(repeats, tmp, taught=5, held=50, style_digits=20_000):
    """Teaching the shipped model a handwriting style: `taught` drawings per digit of a style set (seeds 1000+),
    then accuracy on `held` more per digit (seed 2000, disjoint), MNIST's test set before and after, and the time;
    `repeats` runs per set. Then whether `--styles` helps: `default` trained 1 epoch with and without
    `style_digits` style digits (same seeds), read on the same held-out sets."""
    import mnist_cnn as mc
    from mnist_cnn import styles

    sets = {
        "european": styles.EUROPEAN,  # a flagged 1, a crossed 7, a straight 9, an open 4, plain others
        "other": {"0": ("narrow",), "1": ("european-base",), "2": ("looped",), "3": ("flat-top",), "4": ("closed",),
                  "5": ("square",), "6": ("straight",), "7": ("hooked",), "8": ("two-loops",), "9": ("curved",)},
    }
    (x_train, y_train), (x_test, y_test) = mc.load_mnist()
    shipped = mc.load_model()
    mnist_before = mc.evaluate(shipped, x_test, y_test).accuracy
    rows, raw = [], {"mnist_before": mnist_before}
    for name, chosen in sets.items():
        held_x, held_y = styles.style_set(held, 2000, chosen)
        before = mc.evaluate(shipped, held_x, held_y)
        runs = []
        for seed in range(repeats):
            x, y = styles.style_set(taught, 1000 + seed, chosen)
            model = mc.copy_model(shipped)
            start = time.perf_counter()
            mc.fine_tune(model, x, y, replay=(x_train, y_train), seed=seed)
            seconds = time.perf_counter() - start
            after = mc.evaluate(model, held_x, held_y)
            runs.append({"seconds": seconds, "accuracy": after.accuracy, "per_digit": after.per_class.tolist(),
                         "mnist": mc.evaluate(model, x_test, y_test).accuracy})
            print(f"  teach {name} seed {seed}: {seconds:.1f} s, {before.accuracy:.2%} -> {after.accuracy:.2%}, "
                  f"MNIST {mnist_before:.2%} -> {runs[-1]['mnist']:.2%}", file=sys.stderr)
        accuracy = float(np.median([r["accuracy"] for r in runs]))
        drop = [(mnist_before - r["mnist"]) * 100 for r in runs]
        seconds = float(np.median([r["seconds"] for r in runs]))
        rows += [
            row(f"{name} styles, {held} held-out drawings per digit, shipped model as it is", before.accuracy, None,
                "", None, "%"),
            row(f"the same after teaching {taught} per digit (median of {repeats})", accuracy, None, ">= 95 %",
                accuracy >= 0.95, "%"),
            row("MNIST test accuracy lost by it, points (median / worst)", f"{np.median(drop):.2f} / {max(drop):.2f}",
                None, "<= 0.3", max(drop) <= 0.3, ""),
            row("teaching time (median)", seconds, None, "<= 10 s", seconds <= 10, "s"),
        ]
        raw[name] = {"before": before.accuracy, "before_per_digit": before.per_class.tolist(), "runs": runs}
    trained = {}
    for seed in range(min(repeats, 2)):
        for count in (0, style_digits):
            out = tmp / f"styles-{count}-{seed}.keras"
            result = run_json(["-m", "mnist_cnn", "train", "--arch", "default", "--epochs", 1, "--seed", seed,
                               "--styles", count, "--out", out, "--json"])
            model = mc.load_model(out)
            scores = {name: mc.evaluate(model, *styles.style_set(held, 2000, chosen)).accuracy
                      for name, chosen in {**sets, "every": styles.STYLES}.items()}
            trained.setdefault(count, []).append({**scores, "mnist": result["test_accuracy"],
                                                  "fit_seconds": result["fit_seconds"]})
            print(f"  default, --styles {count}, seed {seed}: {trained[count][-1]}", file=sys.stderr)
    for name in (*sets, "every", "mnist"):
        without, with_styles = (float(np.median([r[name] for r in trained[c]])) for c in (0, style_digits))
        label = "MNIST test" if name == "mnist" else f"{name} styles held out"
        rows.append(row(f"`default` 1 epoch, {label}: without / with --styles {style_digits:,}",
                        f"{without:.2%} / {with_styles:.2%}", None, "", None, ""))
    raw["styles_training"] = trained
    return rows, raw


def writers(count=12, taught=5, held=20, pool=20, seed=7):
    """Teaching the shipped model one synthetic writer's hand (styles.writer), for `count` writers: `taught`
    drawings per digit, then `held` more per digit of the same writer and a pool of `pool` other writers (5 per
    digit) read, at once (fine_tune with epochs=0: the memory alone) and taught (fine_tune: the network trained,
    then the memory); MNIST's test set after each. Per digit: the mean over the writers."""
    import mnist_cnn as mc
    from mnist_cnn import styles

    (x_train, y_train), (x_test, y_test) = mc.load_mnist()
    shipped = mc.load_model()
    mnist = mc.evaluate(shipped, x_test, y_test).accuracy
    pool_x, pool_y, _ = styles.writer_pool(pool, 5, seed + 1)
    rng = np.random.default_rng(seed)
    results = {"network": [], "at once": [], "taught": []}
    for i in range(count):
        hand = styles.writer(rng)
        x, y = styles.writer_set(hand, taught, rng)
        own = styles.writer_set(hand, held, rng)
        for mode in results:
            model = mc.copy_model(shipped)
            start = time.perf_counter()
            if mode == "at once":  # as the app's correction does: no MNIST at hand, no training
                mc.fine_tune(model, x, y, epochs=0)
            elif mode == "taught":  # as its "Teach the model": MNIST replayed (and keeping the memory from it)
                mc.fine_tune(model, x, y, replay=(x_train, y_train), seed=i)
            seconds = time.perf_counter() - start
            read = mc.evaluate(model, *own)
            results[mode].append({"own": read.accuracy, "per_digit": read.per_class.tolist(), "seconds": seconds,
                                  "pool": mc.evaluate(model, pool_x, pool_y).accuracy,
                                  "mnist": mc.evaluate(model, x_test, y_test).accuracy})
            print(f"  writer {i} {hand.styles} {mode}: {read.accuracy:.1%}, pool {results[mode][-1]['pool']:.1%}, "
                  f"MNIST {results[mode][-1]['mnist']:.2%}, {seconds:.1f} s", file=sys.stderr)
    rows = []
    for mode, runs in results.items():
        digits = np.mean([r["per_digit"] for r in runs], axis=0)
        own = float(np.mean([r["own"] for r in runs]))
        drop = [(mnist - r["mnist"]) * 100 for r in runs]
        said = {"network": "the shipped model as it is", "at once": "at once (the memory, no training)",
                "taught": "taught (Teach the model: trained, then the memory)"}[mode]
        rows += [
            row(f"{said}: the writer's other drawings ({count} writers, {taught} taught per digit)", own, None,
                "" if mode == "network" else ">= 95 %", None if mode == "network" else own >= 0.95, "%"),
            row("  per digit 0-9", " ".join(f"{d:.0%}" for d in digits), None, "" if mode == "network" else
                "each >= 85 %", None if mode == "network" else digits.min() >= 0.85, ""),
            row("  other writers' drawings (pool)", float(np.mean([r["pool"] for r in runs])), None, "", None, "%"),
        ]
        if mode != "network":
            rows += [row("  MNIST test points lost (median / worst)", f"{np.median(drop):.2f} / {max(drop):.2f}",
                         None, "<= 0.3", max(drop) <= 0.3, ""),
                     row("  time (median)", float(np.median([r["seconds"] for r in runs])), None, "", None, "s")]
    return rows, {"mnist": mnist, **results}


STYLE_SETS = {
    "european": "styles.EUROPEAN: a flagged 1, a crossed 7, a straight 9, an open 4, plain others",
    "other": "one other style per digit: 1 with a base, hooked 7, looped 2, curved 9, ...",
    "all": "every style in styles.STYLES",
}


def styles_per_digit(before, per_digit=100, seed=3000):
    """The shipped model against `before` (a .keras file: the model it replaced) on held-out style sets, digit by
    digit, and on MNIST's test set."""
    import mnist_cnn as mc
    from mnist_cnn import styles

    other = {"0": ("narrow",), "1": ("european-base",), "2": ("looped",), "3": ("flat-top",), "4": ("closed",),
             "5": ("square",), "6": ("straight",), "7": ("hooked",), "8": ("two-loops",), "9": ("curved",)}
    chosen = {"european": styles.EUROPEAN, "other": other, "all": None}
    models = {"after": mc.load_model(), "before": mc.load_model(before)}
    _, (x_test, y_test) = mc.load_mnist()
    rows, raw = [], {}
    for name, picked in chosen.items():
        x, y = styles.style_set(per_digit if picked else per_digit // 2, seed, picked)
        result = {k: mc.evaluate(m, x, y) for k, m in models.items()}
        raw[name] = {k: {"accuracy": r.accuracy, "per_digit": r.per_class.tolist()} for k, r in result.items()}
        rows.append(row(f"{name} styles ({STYLE_SETS[name]}), {len(x):,} drawings", result["after"].accuracy,
                        result["before"].accuracy, "", None, "%"))
        rows += [row(f"  digit {d}", result["after"].per_class[d], result["before"].per_class[d], "", None, "%")
                 for d in range(mc.NUM_CLASSES)]
    test = {k: mc.evaluate(m, x_test, y_test).accuracy for k, m in models.items()}
    raw["mnist"] = test
    rows.append(row("MNIST test accuracy", test["after"], test["before"], ">= 99.6 %", test["after"] >= 0.996, "%"))
    return rows, raw


def _rss(field, pid="self"):
    """One field of /proc/PID/status ("VmRSS:", "RssAnon:", ...) in MB."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith(field))) / 1024


def photos(repeats, count=2000, calls=200, desk_count=2000):
    """Photos of test digits on paper (bench/photos.py, seed 0) read by the shipped model: against the same digits
    clean, and against the picture path before photos were handled (the reference here, kept in bench/photos.py);
    then canvas_to_mnist's time on photos and on 280x280 canvases, both paths alternated, medians of N runs.
    Then photos of a sheet on a desk (bench/photos.py desk_set, test digits, seed 0), per digit, against the photo
    path without the sheet found (paper.find_sheet left out), and the time a desk photo takes."""
    from unittest import mock

    import cv2

    import mnist_cnn as mc
    from bench.photos import photo_set, reference_canvas_to_mnist

    _, (x_test, y_test) = mc.load_mnist()
    model = mc.load_model()
    digits, labels = x_test[:count], y_test[:count]
    clean = float(np.mean(mc.predict_proba(model, digits.astype(np.float32) / 255).argmax(axis=1) == labels))
    pictures, conditions = photo_set(digits, seed=0)

    def right(read):
        read = [read(p) for p in pictures]
        blank = [r is None for r in read]
        inputs = np.stack([np.zeros((28, 28), np.float32) if b else r for r, b in zip(read, blank, strict=True)])
        return mc.predict_proba(model, inputs).argmax(axis=1) == labels, int(sum(blank))

    after, blank_after = right(mc.canvas_to_mnist)
    before, blank_before = right(reference_canvas_to_mnist)
    kinds = {
        "plain": [c.lines == "none" for c in conditions], "ruled": [c.lines == "ruled" for c in conditions],
        "squared": [c.lines == "squared" for c in conditions], "shadow": [c.shadow < 1 for c in conditions],
        "table": [c.table > 0 for c in conditions],
    }
    by_kind = {kind: {"count": int(m.sum()), "after": float(after[m].mean()), "before": float(before[m].mean())}
               for kind, m in ((k, np.array(v)) for k, v in kinds.items())}

    canvases = []
    for digit in digits[:calls]:
        grey = cv2.resize(digit, (280, 280), interpolation=cv2.INTER_LINEAR)
        canvases.append(np.dstack([grey, grey, grey, np.full_like(grey, 255)]))
    timed = {"photo": pictures[:calls], "canvas": canvases}
    times = {(what, path): [] for what in timed for path in ("after", "before")}
    for i in range(repeats):
        for what, images in timed.items():
            paths = [("after", mc.canvas_to_mnist), ("before", reference_canvas_to_mnist)]
            for path, read in paths if i % 2 == 0 else paths[::-1]:
                ms = []
                for image in images:
                    start = time.perf_counter()
                    read(image)
                    ms.append((time.perf_counter() - start) * 1000)
                times[what, path].append(np.percentile(ms, [50, 95]))
    p = {key: np.median(v, axis=0) for key, v in times.items()}  # (p50, p95), each the median over the runs
    share = float(after.mean()) / clean
    rows = [
        row(f"photos of {count} test digits read right (reference: the picture path before)", float(after.mean()),
            float(before.mean()), f">= 99 % of clean ({0.99 * clean:.2%})", share >= 0.99, "%"),
        row(f"the same {count} test digits, clean (as in MNIST)", clean, None, "", None, "%"),
        row("photos read right, as a share of the clean digits", share, float(before.mean()) / clean, ">= 99 %",
            share >= 0.99, "%"),
        row(f"canvas_to_mnist on a photo, p50 of {calls}", p["photo", "after"][0], p["photo", "before"][0], "", None,
            "ms"),
        row(f"canvas_to_mnist on a photo, p95 of {calls}", p["photo", "after"][1], p["photo", "before"][1], "", None,
            "ms"),
        row(f"canvas_to_mnist on a 280x280 canvas, p50 of {calls}", p["canvas", "after"][0], p["canvas", "before"][0],
            "not slower", p["canvas", "after"][0] <= 1.05 * p["canvas", "before"][0], "ms"),
        row(f"canvas_to_mnist on a 280x280 canvas, p95 of {calls}", p["canvas", "after"][1], p["canvas", "before"][1],
            "", None, "ms"),
    ]
    raw = {"clean_accuracy": clean, "after": after.tolist(), "before": before.tolist(), "blank_after": blank_after,
           "blank_before": blank_before, "by_kind": by_kind,
           "times_ms": {f"{what}/{path}": np.array(v).tolist() for (what, path), v in times.items()}}
    desk_rows, raw["desk"] = _desk(model, x_test[:desk_count], y_test[:desk_count], repeats, mock)
    return rows + desk_rows, raw


def _desk(model, digits, labels, repeats, mock):
    """photos' desk rows: a sheet on a desk, read with the sheet found and without it (the path before); the
    tuning was done on desk_set(training digits, seed=1), never on these."""
    import mnist_cnn as mc
    from bench.photos import desk_set

    pictures, conditions = desk_set(digits, labels, seed=0)

    def right(read):
        read = [read(p) for p in pictures]
        inputs = np.stack([np.zeros((28, 28), np.float32) if r is None else r for r in read])
        return mc.predict_proba(model, inputs).argmax(axis=1) == labels

    after = right(mc.canvas_to_mnist)
    with mock.patch("mnist_cnn.drawing.find_sheet", return_value=None):
        before = right(mc.canvas_to_mnist)
    ms = []
    for _ in range(repeats):
        run = []
        for p in pictures[:100]:
            start = time.perf_counter()
            mc.canvas_to_mnist(p)
            run.append((time.perf_counter() - start) * 1000)
        ms.append(np.percentile(run, [50, 95]))
    p50, p95 = np.median(ms, axis=0)
    n = len(labels)
    rows = [row(f"desk photos of {n} test digits read right (reference: without the sheet found)",
                float(after.mean()), float(before.mean()), ">= 97 %", after.mean() >= 0.97, "%")]
    rows += [row(f"  digit {d}", float(after[labels == d].mean()), float(before[labels == d].mean()), "", None, "%")
             for d in range(mc.NUM_CLASSES)]
    kinds = {f"{field} {value}": [getattr(c, field) == value for c in conditions]
             for field, values in (("desk", ("wood", "dark", "grey", "light")), ("pen", ("blue", "black", "pencil")))
             for value in values}
    kinds["drawn strokes (styles.draw_canvas)"] = [c.strokes for c in conditions]
    by_kind = {}
    for kind, mask in kinds.items():
        mask = np.array(mask)
        by_kind[kind] = {"count": int(mask.sum()), "after": float(after[mask].mean()),
                         "before": float(before[mask].mean())}
        rows.append(row(f"  {kind} ({mask.sum()})", by_kind[kind]["after"], by_kind[kind]["before"], "", None, "%"))
    rows += [row("canvas_to_mnist on a desk photo, p50 of 100", float(p50), None, "", None, "ms"),
             row("canvas_to_mnist on a desk photo, p95 of 100", float(p95), None, "", None, "ms")]
    return rows, {"after": after.tolist(), "before": before.tolist(), "labels": labels.tolist(), "by_kind": by_kind,
                  "times_ms": np.array(ms).tolist()}


def uploads(repeats, tmp):
    """Each hostile upload at the size the issue measured (tools/hostile.py), read by a process that already holds
    TensorFlow and the shipped model (tools/budget.py, a fresh one each repeat): its peak RSS rise and time,
    medians of N; then the four costliest at once, one thread each, as four sessions uploading together."""
    from tools import hostile

    files = {
        "drawings .npz of 3 million zero drawings (2.3 GB unpacked)": ("drawings", hostile.zeros_npz(3_000_000)),
        "drawings .npz of 200,000 empty members": ("drawings", hostile.many_members_npz(200_000)),
        ".keras declaring a hidden Dense of 3 million units": ("model", hostile.wide_dense(3_000_000)),
        ".keras whose weights file declares a 400 MB dataset, none stored": (
            "model", hostile.undeclared_dataset(100_000_000)),
        ".keras whose weights are in 64 MB compressed chunks": ("model", hostile.huge_chunks(2**24)),
        ".keras at the parameter limit (1M, Adam's slots), read": ("model", hostile.largest_model()),
        "PNG of 6300x6300, grey, a digit on white": ("picture", hostile.picture(hostile.digit_picture(6300, 6300),
                                                                                 "PNG")),
        "PNG of 6300x6300, RGB": ("picture", hostile.picture(hostile.digit_picture(6300, 6300), "PNG", "RGB")),
        "PNG whose header says 6000x6000, its data 28x28": ("picture", hostile.png_header_lies(6000, 6000)),
        "JPEG photo of 24 MP (6000x4000)": ("picture", hostile.picture(hostile.digit_picture(6000, 4000, True),
                                                                       "JPEG", "RGB", quality=90)),
        "the same, progressive": ("picture", hostile.picture(hostile.digit_picture(6000, 4000, True), "JPEG", "RGB",
                                                             quality=90, progressive=True)),
    }
    args = []
    for i, (kind, data) in enumerate(files.values()):
        (tmp / f"upload-{i}").write_bytes(data)
        args.append(f"{kind}={tmp / f'upload-{i}'}")
    runs = []
    for _ in range(repeats):
        out = subprocess.run([sys.executable, "-m", "tools.budget", *args], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout
        runs.append([json.loads(line) for line in out.splitlines() if line.startswith("{")])
    rows, raw = [], {"runs": runs, "sizes": {what: len(data) for what, (_, data) in files.items()}}
    for i, (what, (_, data)) in enumerate(files.items()):
        rise = float(np.median([run[i]["rise_mb"] for run in runs]))
        seconds = float(np.median([run[i]["seconds"] for run in runs]))
        answer = runs[0][i]["answer"]
        most = 100 if answer.startswith("refused") else 150
        rows.append(row(f"upload: {what}, {len(data) / 2**20:.2f} MB: peak RSS rise ({answer[:60]})", rise, None,
                        f"<= {most} MB", rise <= most, "MB"))
        rows.append(row("the same, time to the answer", seconds, None, "<= 3 s", seconds <= 3, "s"))
    costliest = sorted(range(len(files)), key=lambda i: -np.median([run[i]["rise_mb"] for run in runs]))[:4]
    together = []
    for _ in range(repeats):
        out = subprocess.run([sys.executable, "-m", "tools.budget", "--together", *[args[i] for i in costliest]],
                             cwd=ROOT, capture_output=True, text=True, check=True).stdout
        together.append(json.loads(out.splitlines()[-1]))
    raw["together"] = {"files": [list(files)[i] for i in costliest], "runs": together}
    rise = float(np.median([t["peak_mb"] - t["before_mb"] for t in together]))
    rows.append(row(f"the four costliest at once ({', '.join(raw['together']['files'])}), one thread each: peak "
                    "RSS rise", rise, None, "", None, "MB"))
    picture_tab, answered = "Upload a picture", r"It's a|Maybe a|too large"
    on_server = [uploads_on_a_server(tmp, [
        ("digit_upload", "/", picture_tab, files["JPEG photo of 24 MP (6000x4000)"][1], "upload.jpg", answered),
        ("model_upload", "/training", None, files[".keras declaring a hidden Dense of 3 million units"][1],
         "wide.keras", r"is refused: it has"),
        ("handwriting_upload", "/", None, files["drawings .npz of 3 million zero drawings (2.3 GB unpacked)"][1],
         "zeros.npz", r"unpacks to 2,243"),
        ("digit_upload", "/", picture_tab, files["PNG of 6300x6300, RGB"][1], "big.png", answered),
    ], i) for i in range(min(repeats, 3))]
    raw["server"] = on_server
    median = sorted(on_server, key=lambda r: r["peak_mb"])[len(on_server) // 2]
    rows.append(row("a server with one visitor's answer, then 4 sessions uploading at once (24 MP JPEG, 6300x6300 RGB "
                    "PNG, the zeros .npz, the wide Dense .keras): peak RSS (VmHWM), median of "
                    f"{len(on_server)} fresh servers (before: {median['before']['sum_mb']:.0f} MB)",
                    median["peak_mb"], None, "< 1000 MB", median["peak_mb"] < 1000, "MB"))
    return rows, raw


def uploads_on_a_server(tmp, uploads, run):
    """A fresh `streamlit run` answers one drawing, then 4 sessions upload a file each at once (`uploads`: the
    uploader's key, its page, the tab it is on or None, the bytes, a file name, what the page shows when done): the
    server's peak over the uploads."""
    import re

    from playwright.sync_api import expect, sync_playwright

    from tools.browser import ONE, draw, launch, serve

    with sync_playwright() as playwright, open(tmp / f"uploads-{run}.log", "w") as log, serve(log) as (url, server):
        chromium = launch(playwright)
        first = chromium.new_context(viewport={"width": 1400, "height": 1000}, base_url=url).new_page()
        first.goto("/")
        draw(first, ONE)
        expect(first.locator("h3")).to_contain_text("It's a", timeout=120_000)
        pages = []
        for key, path, tab, data, name, _ in uploads:
            page = chromium.new_context(viewport={"width": 1400, "height": 1000}, base_url=url).new_page()
            page.goto(path)
            if tab:
                page.get_by_role("tab", name=tab).click()
            expect(page.locator(f".st-key-{key} input[type=file]")).to_be_attached(timeout=120_000)
            (tmp / name).write_bytes(data)
            pages.append(page)
        before = _memory(server.pid)
        with _peaks(server.pid) as peak:
            for page, (key, *_, name, _) in zip(pages, uploads, strict=True):
                page.locator(f".st-key-{key} input[type=file]").set_input_files(tmp / name)
            for page, (*_, done) in zip(pages, uploads, strict=True):
                expect(page.get_by_text(re.compile(done)).first).to_be_attached(timeout=120_000)  # in an expander, too
        chromium.close()
    print(f"  uploads on a server, run {run}: before {before['sum_mb']:.0f} MB, peak {peak['peak_mb']:.0f} MB",
          file=sys.stderr)
    return {"before": before, **peak}


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
    parts = ["epoch", "drawing", "browser", "memory", "load", "sessions", "best", "explain", "teach", "photos",
             "styles", "uploads", "writers"]
    parser.add_argument("--only", nargs="+", choices=parts, default=parts, help="drawing includes the gallery")
    parser.add_argument("--before", type=Path, help="styles: the model the shipped one replaced (a .keras file)")
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
            elif name == "memory":
                new, raw[name] = memory(min(args.repeats, 3), Path(tmp))
            elif name == "load":
                new, raw[name] = load_test(min(args.repeats, 3), Path(tmp))
            elif name == "sessions":
                new, raw[name] = sessions(min(args.repeats, 3), Path(tmp))
            elif name == "explain":
                new, raw[name] = explain(args.repeats)
            elif name == "teach":
                new, raw[name] = teach(args.repeats, Path(tmp))
            elif name == "writers":
                new, raw[name] = writers()
            elif name == "photos":
                new, raw[name] = photos(args.repeats)
            elif name == "uploads":
                new, raw[name] = uploads(min(args.repeats, 5), Path(tmp))
            elif name == "styles":
                if args.before is None:
                    parser.error("styles needs --before: the .keras file the shipped model replaced")
                new, raw[name] = styles_per_digit(args.before)
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
