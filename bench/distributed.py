"""Distributed training on one machine: one process against two localhost workers and MirroredStrategy.

    python bench/distributed.py [--train N] [--epochs E] [--repeats R]

Each configuration trains `default` from scratch on the first N training images (seed 0) in fresh processes, R
times. Its epoch time is the median of every epoch but the first (which traces), its step time the median
batch (on_train_batch_begin to _end, the metrics read back), both over all runs; the test accuracy is on the
first 2,000 test images. Prints a markdown table (the one in BENCHMARKS.md) and writes the raw numbers to
bench/results/distributed.json. Needs $MNIST_NPZ (or keras' download).
"""

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# name: (strategy, processes, logical CPUs per process, intra-op threads per process; 0 = TensorFlow's choice)
CONFIGS = {
    "1 process": ("none", 1, 1, 0),
    "2 localhost workers": ("multi-worker", 2, 1, 0),
    "2 localhost workers, 1 thread each": ("multi-worker", 2, 1, 1),
    "1 multi-worker process (the loop alone)": ("multi-worker", 1, 1, 0),
    "mirrored, 2 logical CPUs": ("mirrored", 1, 2, 0),
}


def worker(args):
    """One training process: its epoch and batch times as JSON on the last line."""
    import tensorflow as tf

    if args.cpus > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * args.cpus)
    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    import keras

    import mnist_cnn
    from mnist_cnn.distributed import is_chief

    strategy = mnist_cnn.strategy_for(args.worker)

    class Clock(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.epochs, self.steps = [], []

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch_start = time.perf_counter()

        def on_train_batch_begin(self, batch, logs=None):
            self.step_start = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            float(logs["loss"])  # the step has run, not only been dispatched
            self.steps.append(time.perf_counter() - self.step_start)

        def on_epoch_end(self, epoch, logs=None):
            self.epochs.append(time.perf_counter() - self.epoch_start)

    (x, y), (x_test, y_test) = mnist_cnn.load_mnist()
    model = mnist_cnn.build_model("default", seed=0, strategy=strategy)
    clock = Clock()
    mnist_cnn.train(model, (x[: args.train], y[: args.train]), epochs=args.epochs, seed=0, callbacks=[clock])
    steps_per_epoch = len(clock.steps) // args.epochs
    print(json.dumps({
        "chief": is_chief(strategy),
        "epochs_s": clock.epochs[1:],
        "steps_s": clock.steps[steps_per_epoch:],
        "test_accuracy": mnist_cnn.evaluate(model, x_test[:2000], y_test[:2000]).accuracy,
    }))


def free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def measure(name, args):
    """One run of a configuration: the chief's numbers."""
    strategy, processes, cpus, threads = CONFIGS[name]
    addresses = [f"localhost:{port}" for port in free_ports(processes)]
    runs = []
    for index in range(processes):
        env = {**os.environ}
        if strategy == "multi-worker":
            task = {"type": "worker", "index": index}
            env["TF_CONFIG"] = json.dumps({"cluster": {"worker": addresses}, "task": task})
        command = [sys.executable, __file__, "--worker", strategy, "--cpus", str(cpus), "--threads", str(threads),
                   "--train", str(args.train), "--epochs", str(args.epochs)]
        runs.append(subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True))
    results = []
    for run in runs:
        out, _ = run.communicate(timeout=1800)
        if run.returncode != 0:
            raise RuntimeError(f"{name}: a process failed with exit code {run.returncode}")
        results.append(json.loads(out.strip().splitlines()[-1]))
    return next(r for r in results if r["chief"])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", type=int, default=12000, help="training images; default 12,000")
    parser.add_argument("--epochs", type=int, default=3, help="epochs a run; the first is not timed; default 3")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", nargs="+", choices=list(CONFIGS), help="these configurations only")
    parser.add_argument("--worker", help=argparse.SUPPRESS)  # a training process started by this script
    parser.add_argument("--cpus", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)
    names = args.only or list(CONFIGS)
    raw = {name: [] for name in names}
    for repeat in range(args.repeats):
        for name in names:  # interleaved, so that a busy spell on the machine falls on every configuration
            raw[name].append(measure(name, args))
            print(f"  {repeat + 1}/{args.repeats} {name}: epoch {statistics.median(raw[name][-1]['epochs_s']):.2f} s",
                  file=sys.stderr)
    base = statistics.median(e for run in raw[names[0]] for e in run["epochs_s"])
    print(f"| configuration ({args.train:,} images, batch 128) | epoch | step | vs `{names[0]}` | test accuracy |")
    print("|---|---|---|---|---|")
    for name in names:
        epoch = statistics.median(e for run in raw[name] for e in run["epochs_s"])
        step = statistics.median(s for run in raw[name] for s in run["steps_s"])
        accuracy = statistics.mean(run["test_accuracy"] for run in raw[name])
        print(f"| {name} | {epoch:.2f} s | {step * 1000:.1f} ms | {epoch / base:.2f}x | {accuracy:.2%} |")
    out = ROOT / "bench" / "results" / "distributed.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"train": args.train, "epochs": args.epochs, "runs": raw}) + "\n")


if __name__ == "__main__":
    main()
