"""Distributed training: the loop MultiWorkerMirroredStrategy trains with against fit(), two worker processes on
localhost through the CLI, a worker that dies, and MirroredStrategy over two logical CPUs.

Anything that configures TensorFlow's devices or $TF_CONFIG runs in a subprocess: it must happen before
TensorFlow starts, and this process has started it.
"""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from packaging.requirements import Requirement

from mnist_cnn import build_model, distributed, evaluate, load_model, strategy_for, train, training_log

ROOT = Path(__file__).resolve().parent.parent
TRAIN, TEST = 6000, 2000  # the subset the processes train and test on

# the CLI on the first TRAIN training and TEST test images, over CPUS logical CPU devices (set before TF starts)
RUNNER = """
import sys
train, test, cpus = map(int, sys.argv[1:4])
if cpus > 1:
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * cpus)
import mnist_cnn.data
full = mnist_cnn.data.load_mnist
def subset(path=None):
    (x, y), (x_test, y_test) = full(path)
    return (x[:train], y[:train]), (x_test[:test], y_test[:test])
mnist_cnn.data.load_mnist = subset
from mnist_cnn.cli import main
sys.argv = ["mnist_cnn", *sys.argv[4:]]
main(sys.argv[1:])
"""


def start(*args, cwd, cpus=1, tf_config=None, stderr=subprocess.PIPE):
    """`python -m mnist_cnn train --out m.keras --json ARGS` on the subset, started in `cwd`."""
    # no GPU: the same devices on every machine
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
    env.pop("TF_CONFIG", None)
    if tf_config:
        env["TF_CONFIG"] = json.dumps(tf_config)
    command = [sys.executable, "-c", RUNNER, str(TRAIN), str(TEST), str(cpus), "train", "--out", "m.keras", "--json"]
    return subprocess.Popen([*command, *map(str, args)], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=stderr,
                            text=True)


def finish(process, timeout=300):
    """The run's JSON record (its last line), once it has succeeded; and its stderr."""
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1]), err


def cluster(tmp_path, workers=2):
    """Each worker's folder (two machines, one command) and TF_CONFIG, on free localhost ports."""
    sockets = [socket.socket() for _ in range(workers)]
    for s in sockets:
        s.bind(("localhost", 0))
    addresses = [f"localhost:{s.getsockname()[1]}" for s in sockets]
    for s in sockets:
        s.close()
    folders = [tmp_path / f"worker{i}" for i in range(workers)]
    for folder in folders:
        folder.mkdir()
    configs = [{"cluster": {"worker": addresses}, "task": {"type": "worker", "index": i}} for i in range(workers)]
    return folders, configs


@pytest.fixture
def processes():
    """The processes a test starts: any it leaves running are killed."""
    started = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


def accuracy_of(path, mnist):
    return evaluate(load_model(path), mnist[1][0][:TEST], mnist[1][1][:TEST]).accuracy


@pytest.fixture(scope="module")
def one_process(tmp_path_factory, mnist):
    """The test accuracy of the model one process trains on the subset."""
    folder = tmp_path_factory.mktemp("one")
    record, _ = finish(start(cwd=folder))
    assert record["strategy"] == "none" and record["workers"] == 1
    return accuracy_of(folder / "m.keras", mnist)


def test_two_workers_train_as_one_process_does_and_only_the_chief_writes(tmp_path, mnist, one_process, processes):
    folders, configs = cluster(tmp_path)
    workers = [start("--strategy", "multi-worker", cwd=f, tf_config=c) for f, c in zip(folders, configs, strict=True)]
    processes.extend(workers)
    chief, _ = finish(workers[0])
    out, err = workers[1].communicate(timeout=300)
    assert workers[1].returncode == 0, err
    assert chief["strategy"] == "multi-worker" and chief["workers"] == 2
    assert "training on 1 device: /job:worker/replica:0/task:1/device:CPU:0" in err
    assert "the chief saves the model" in out and "{" not in out
    assert sorted(p.name for p in folders[0].iterdir()) == ["m.json", "m.keras"]
    assert list(folders[1].iterdir()) == []  # the other worker writes nothing
    accuracy = accuracy_of(folders[0] / "m.keras", mnist)
    assert accuracy == pytest.approx(chief["test_accuracy"], abs=1e-4)
    assert abs(accuracy - one_process) <= 0.01, (accuracy, one_process)
    assert [r["epoch"] for r in training_log(load_model(folders[0] / "m.keras"))] == [1]


@pytest.mark.timeout(240)
def test_a_worker_that_dies_stops_the_other_with_a_one_line_error(tmp_path, processes):
    folders, configs = cluster(tmp_path)
    logs = [f / "stderr.txt" for f in folders]
    for folder, config, log in zip(folders, configs, logs, strict=True):
        with log.open("w") as stderr:
            processes.append(start("--strategy", "multi-worker", "--epochs", "5", "--collective-timeout", "30",
                                   cwd=folder, tf_config=config, stderr=stderr))
    workers = processes
    while logs[0].read_text().count("batch ") < 2:  # the chief is training
        assert workers[0].poll() is None, logs[0].read_text()
        time.sleep(0.1)
    workers[0].kill()
    workers[1].communicate(timeout=120)
    err = logs[1].read_text()
    assert workers[1].returncode == 1 and "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("error: training stopped: another worker died")
    assert list(folders[1].iterdir()) == [logs[1]]


def test_mirrored_over_two_logical_cpus_trains_as_one_device_does(tmp_path, mnist, one_process):
    record, err = finish(start("--strategy", "mirrored", cwd=tmp_path, cpus=2))
    assert "training on 2 devices: /job:localhost/replica:0/task:0/device:CPU:0, " in err and "CPU:1" in err
    assert record["strategy"] == "mirrored" and record["workers"] == 1
    assert abs(accuracy_of(tmp_path / "m.keras", mnist) - one_process) <= 0.01


def test_multi_worker_without_tf_config_is_a_one_line_error(tmp_path):
    process = start("--strategy", "multi-worker", cwd=tmp_path)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 1 and err.strip().splitlines()[-1] == (
        "error: the multi-worker strategy reads its cluster from $TF_CONFIG, which is not set")


# the multi-worker training loop, here in this process under the default strategy
class Interrupt(Exception):
    """What a page's rerun does to training: an exception out of a callback."""


class Recorder(keras.callbacks.Callback):
    """Every hook a page's callbacks see, with its logs and the learning rate at each batch."""

    def __init__(self, stop_at=None, interrupt_at=None):
        super().__init__()
        self.events, self.stop_at, self.interrupt_at = [], stop_at, interrupt_at

    def on_train_begin(self, logs=None):
        self.events.append(("train_begin", dict(self.params)))

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
        self.events.append(("epoch_begin", epoch))

    def on_train_batch_end(self, batch, logs=None):
        rate = float(self.model.optimizer.learning_rate.numpy())
        self.events.append(("batch_end", batch, {k: float(v) for k, v in logs.items()}, rate))
        if (self.epoch, batch) == self.stop_at:
            self.model.stop_training = True
        if (self.epoch, batch) == self.interrupt_at:
            raise Interrupt

    def on_epoch_end(self, epoch, logs=None):
        self.events.append(("epoch_end", epoch, {k: float(v) for k, v in logs.items()}))

    def on_train_end(self, logs=None):
        self.events.append(("train_end",))


def run(monkeypatch, own_loop, data, calls=1, stop_at=None, interrupt_at=None, **kwargs):
    """A model trained by `calls` calls of train(), on distributed.fit() (as under MultiWorkerMirroredStrategy)
    or on Keras' fit(): the model, every callback event, the last History."""
    monkeypatch.setattr(distributed, "needs_own_loop", lambda strategy: own_loop)
    model, recorder, history = build_model("default", seed=0), Recorder(stop_at, interrupt_at), None
    for _ in range(calls):
        try:
            history = train(model, data, callbacks=[recorder], seed=0, **kwargs)
        except Interrupt:
            history = None
    return model, recorder.events, history


def assert_same(a, b):
    """Two runs' events, logs and weights, equal to float32 round-off."""
    (model_a, events_a, history_a), (model_b, events_b, history_b) = a, b
    close = {"rel": 1e-4, "abs": 1e-6}
    assert [e[:2] for e in events_a] == [e[:2] for e in events_b]
    for x, y in zip(events_a, events_b, strict=True):
        assert all(u == pytest.approx(v, **close) for u, v in zip(x[2:], y[2:], strict=True)), (x, y)
    assert len(training_log(model_a)) == len(training_log(model_b))
    for x, y in zip(training_log(model_a), training_log(model_b), strict=True):
        assert x == pytest.approx(y, **close)
    assert (history_a is None) == (history_b is None)
    if history_a:
        assert history_a.history.keys() == history_b.history.keys()
        assert all(history_a.history[k] == pytest.approx(history_b.history[k], **close) for k in history_a.history)
    assert int(model_a.optimizer.iterations.numpy()) == int(model_b.optimizer.iterations.numpy())
    for u, v in zip(model_a.get_weights(), model_b.get_weights(), strict=True):
        np.testing.assert_allclose(u, v, rtol=1e-4, atol=1e-5)


@pytest.fixture(scope="module")
def data(mnist):
    (x, y), (x_test, y_test) = mnist
    return (x[:1500], y[:1500]), (x_test[:500], y_test[:500])


# one epoch a call: fit() makes a second iterator of the batches at each epoch's end, so its later epochs
# shuffle in another order than the loop's (each as random)
def test_the_multi_worker_loop_runs_the_callbacks_as_fit_does(data, monkeypatch):
    kwargs = {"calls": 2, "validation_split": 0.2, "test_data": data[1]}
    own = run(monkeypatch, True, data[0], **kwargs)
    assert_same(own, run(monkeypatch, False, data[0], **kwargs))
    log = training_log(own[0])
    assert [r["epoch"] for r in log] == [1, 2] and {"val_accuracy", "test_accuracy"} <= set(log[0])
    assert own[1][0] == ("train_begin", {"verbose": 0, "epochs": 1, "steps": 10})
    assert int(own[0].optimizer.iterations.numpy()) == 20


@pytest.mark.parametrize("stop", ["stop_at", "interrupt_at"])
def test_the_multi_worker_loop_stops_and_goes_on_as_fit_does(data, monkeypatch, stop):
    kwargs = {"calls": 2, stop: (0, 4)}
    own = run(monkeypatch, True, data[0], **kwargs)
    assert_same(own, run(monkeypatch, False, data[0], **kwargs))
    log = training_log(own[0])
    assert [r["epoch"] for r in log] == [1, 2] and log[0].get("partial") == (0.4167 if stop == "interrupt_at" else None)
    assert int(own[0].optimizer.iterations.numpy()) == 5 + 12
    assert float(own[0].optimizer.learning_rate.numpy()) == pytest.approx(0.4)  # the schedule's peak, put back


def test_strategies_are_checked(data, monkeypatch):
    monkeypatch.setattr(distributed, "needs_own_loop", lambda strategy: True)
    with pytest.raises(ValueError, match="needs a seed"):
        train(build_model(), data[0])
    with pytest.raises(ValueError, match="not built in this strategy's scope"):
        train(build_model(), data[0], seed=0, strategy=tf.distribute.OneDeviceStrategy("/cpu:0"))
    with pytest.raises(ValueError, match="unknown strategy"):
        strategy_for("parameter-server")
    assert strategy_for("none") is tf.distribute.get_strategy()


def test_the_gpu_requirements_are_the_runtime_ones_with_tensorflows_cuda_build():
    def requirements(name):
        lines = (line.split("#", 1)[0].strip() for line in (ROOT / name).read_text().splitlines())
        return {r.name: r for r in map(Requirement, filter(None, lines))}

    runtime, gpu = requirements("requirements.txt"), requirements("requirements-gpu.txt")
    tensorflow = gpu.pop("tensorflow")
    assert tensorflow.extras == {"and-cuda"} and tensorflow.marker is None
    assert tensorflow.specifier == runtime.pop("tensorflow").specifier == runtime.pop("tensorflow-cpu").specifier
    assert {name: str(r) for name, r in gpu.items()} == {name: str(r) for name, r in runtime.items()}
