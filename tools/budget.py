"""What an upload costs the server: a process that already holds TensorFlow and the shipped model (a warm
server) reads each file the way the app does, and reports the peak rise of its resident set and the time.

    python -m tools.budget picture=big.png drawings=zeros.npz model=huge.keras [--together]

prints one JSON object a line per file: kind, path, `rise_mb` (VmHWM, reset before the file's bytes are read,
minus the resident set then), `seconds`, `answer` (the digit read, "loaded", "N drawings", or
"refused: <the one-line reason>") and `rss_after_mb` (what stays: many uploads in a row must not pile up).
`--together` reads them all at once, one thread each (sessions uploading at the same time), and prints one more
line: the process's peak over them all (`peak_mb`) and its size before.
Used by tests/test_budgets.py and bench/run.py (`--only uploads`). Linux only (/proc).
"""

import gc
import json
import os
import sys
import threading
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def rss_mb(field: str = "VmRSS") -> float:
    """A field of this process's /proc/self/status in MB ("VmRSS", "VmHWM", "RssAnon", ...)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise KeyError(field)


def reset_peak() -> None:
    """VmHWM back to the present resident set (Linux >= 4.0)."""
    Path("/proc/self/clear_refs").write_text("5")


def read(kind: str, data: bytes, model) -> str:
    """The upload read as the app reads it: the answer, or 'refused: reason'."""
    import mnist_cnn as mc

    try:
        if kind == "picture":
            image = mc.canvas_to_mnist(mc.read_image(data, name="the picture"))
            if image is None:
                return "blank"
            return str(int(mc.predict_proba(model, image[None, ..., None]).argmax()))
        if kind == "drawings":
            return f"{len(mc.load_drawings(data)[1])} drawings"
        if kind == "model":
            mc.load_model(data)
            return "loaded"
    except mc.MnistCnnError as e:
        return f"refused: {e}"
    raise ValueError(f"unknown kind {kind!r}: picture, drawings or model")


def main(argv: list[str]) -> None:
    import cv2
    import numpy as np

    import mnist_cnn as mc
    from tools.browser import SEVEN

    together = "--together" in argv
    files = [arg.split("=", 1) for arg in argv if arg != "--together"]
    model = mc.load_model()
    canvas = np.zeros((280, 280), np.uint8)
    cv2.polylines(canvas, [np.array(SEVEN[0], np.int32)], False, 255, 20)
    mc.predict_proba(model, mc.canvas_to_mnist(canvas)[None, ..., None])  # warm: the first answer traces
    gc.collect()
    if not together:
        for kind, path in files:
            gc.collect()
            before = rss_mb()
            reset_peak()
            start = time.perf_counter()
            answer = read(kind, Path(path).read_bytes(), model)
            seconds = time.perf_counter() - start
            rise = rss_mb("VmHWM") - before
            print(json.dumps({"kind": kind, "path": path, "rise_mb": round(rise, 1), "seconds": round(seconds, 3),
                              "answer": answer, "rss_after_mb": round(rss_mb(), 1)}), flush=True)
        return
    before = rss_mb()
    reset_peak()
    results = {}

    def one(i, kind, path):
        start = time.perf_counter()
        results[i] = (kind, path, read(kind, Path(path).read_bytes(), model), time.perf_counter() - start)

    threads = [threading.Thread(target=one, args=(i, kind, path)) for i, (kind, path) in enumerate(files)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for _, (kind, path, answer, seconds) in sorted(results.items()):
        print(json.dumps({"kind": kind, "path": path, "seconds": round(seconds, 3), "answer": answer}), flush=True)
    print(json.dumps({"together": len(files), "before_mb": round(before, 1), "peak_mb": round(rss_mb("VmHWM"), 1)}))


if __name__ == "__main__":
    main(sys.argv[1:])
