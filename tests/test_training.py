"""train(): learning, continuing, reproducing, validating, reporting through callbacks, augmenting."""

import dataclasses
import types

import keras
import numpy as np
import pytest
import tensorflow as tf

from mnist_cnn import Curve, Progress, Snapshot, build_model, epochs_trained, evaluate, train, training_log
from mnist_cnn.training import augment_batch


class Recorder(keras.callbacks.Callback):
    """What a page sees: every batch and epoch event, and the learning rate at each batch."""

    def __init__(self):
        super().__init__()
        self.batches, self.epochs, self.rates = [], [], []

    def on_train_batch_end(self, batch, logs=None):
        self.batches.append((batch, dict(logs)))
        self.rates.append(float(self.model.optimizer.learning_rate))

    def on_epoch_end(self, epoch, logs=None):
        self.epochs.append(epoch)


def test_training_learns_the_digits(trained, small):
    assert evaluate(trained, *small[1]).accuracy > 0.9


def test_second_call_continues_the_same_model(small):
    model = build_model("default", seed=0)
    first = train(model, small[0], seed=0)
    steps = int(model.optimizer.iterations)
    second = train(model, small[0], seed=1)
    assert (first.epoch, second.epoch) == ([0], [1])
    assert int(model.optimizer.iterations) == 2 * steps  # optimizer state kept
    assert epochs_trained(model) == 2
    assert [r["epoch"] for r in training_log(model)] == [1, 2]
    assert training_log(model)[1]["loss"] < training_log(model)[0]["loss"]


def test_same_seed_same_run(small):
    def run(seed):
        model = build_model("default", seed=seed)
        train(model, (small[0][0][:1000], small[0][1][:1000]), seed=seed)
        return model.get_weights()

    a, b, c = run(3), run(3), run(4)
    assert all(np.allclose(u, v, atol=1e-5) for u, v in zip(a, b, strict=True))
    assert not np.allclose(a[0], c[0], atol=1e-3)


def test_validation_split_holds_out_the_last_share(small):
    model = build_model("basic", seed=0)
    recorder = Recorder()
    history = train(model, small[0], validation_split=0.3, batch_size=100, callbacks=[recorder], seed=0)
    assert len(recorder.batches) == 21  # 2100 training images / 100
    assert {"val_loss", "val_accuracy"} <= set(history.history)
    assert training_log(model)[0]["val_accuracy"] == pytest.approx(history.history["val_accuracy"][0])


def test_progress_flows_through_callbacks(small):
    model = build_model("default", seed=0)
    recorder = Recorder()
    train(model, small[0], epochs=2, callbacks=[recorder], seed=0)
    steps = -(-len(small[0][0]) // 128)
    assert len(recorder.batches) == 2 * steps and recorder.epochs == [0, 1]
    assert {"loss", "accuracy"} <= set(recorder.batches[-1][1])


def test_one_cycle_warms_up_anneals_and_restores_the_peak(small):
    model = build_model("default", seed=0)
    peak = float(model.optimizer.learning_rate)
    recorder = Recorder()
    train(model, small[0], callbacks=[recorder], seed=0)
    rates = recorder.rates
    top = int(np.argmax(rates))
    assert rates[0] < 0.2 * peak and rates[-1] < 0.05 * peak and max(rates) == pytest.approx(peak, rel=0.1)
    assert 0 < top < len(rates) - 1
    assert float(model.optimizer.learning_rate) == pytest.approx(peak)  # ready for the next call


@pytest.mark.parametrize("arch", ["basic", "default"])  # sparse and categorical losses
def test_integer_and_one_hot_labels_train_the_same(small, arch):
    x, y = small[0][0][:1000], small[0][1][:1000]

    def run(labels):
        model = build_model(arch, seed=0)
        train(model, (x, labels), seed=0)
        return model.get_weights()

    assert all(np.allclose(u, v, atol=1e-5) for u, v in zip(run(y), run(np.eye(10)[y]), strict=True))


def test_float_images_train_like_uint8(small):
    x, y = small[0][0][:1000], small[0][1][:1000]
    a, b = build_model(seed=0), build_model(seed=0)
    train(a, (x, y), seed=0)
    train(b, (x.astype(np.float32) / 255, y), seed=0)
    assert all(np.allclose(u, v, atol=1e-4) for u, v in zip(a.get_weights(), b.get_weights(), strict=True))


def test_stop_from_a_callback_leaves_a_usable_model(small):
    class StopAt(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 4:
                self.model.stop_training = True

    model = build_model("default", seed=0)
    train(model, small[0], callbacks=[StopAt()], seed=0)
    assert int(model.optimizer.iterations) == 5
    assert np.isfinite(evaluate(model, *small[1]).proba).all()
    train(model, small[0], seed=0)  # and training goes on afterwards
    assert epochs_trained(model) == 2


class Interrupt(Exception):
    """What a page's rerun does to training: an exception out of a callback."""


class InterruptAt(keras.callbacks.Callback):
    def __init__(self, epoch, batch):
        super().__init__()
        self.at = (epoch, batch)

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if (self.epoch, batch) == self.at:
            raise Interrupt


def test_interrupted_training_logs_the_partial_epoch_and_goes_on(small):
    model = build_model("default", seed=0)
    peak = float(model.optimizer.learning_rate)
    steps = -(-len(small[0][0]) // 128)
    with pytest.raises(Interrupt):
        train(model, small[0], epochs=3, test_data=small[1], callbacks=[InterruptAt(1, 9)], seed=0)
    log = training_log(model)
    assert [r["epoch"] for r in log] == [1, 2]
    assert "partial" not in log[0] and "test_accuracy" in log[0]  # the finished epoch is complete
    assert log[1]["partial"] == pytest.approx(10 / steps, abs=1e-4) and np.isfinite(log[1]["loss"])
    assert int(model.optimizer.iterations) == steps + 10
    assert float(model.optimizer.learning_rate) == pytest.approx(peak)  # the schedule's rate is put back
    assert np.isfinite(evaluate(model, *small[1]).proba).all()
    train(model, small[0], seed=0)
    assert [r["epoch"] for r in training_log(model)] == [1, 2, 3] and "partial" not in training_log(model)[2]


def test_learning_rate_replaces_the_optimizers(small):
    model = build_model("basic", seed=0)
    train(model, (small[0][0][:200], small[0][1][:200]), learning_rate=0.005)
    assert float(model.optimizer.learning_rate) == pytest.approx(0.005)


def test_progress_reports_throttled_snapshots_with_a_smoothed_curve_and_time_left(small):
    model = build_model("default", seed=0)
    reports = []
    train(model, small[0], epochs=2, callbacks=[Progress(reports.append, every=1e9)], seed=0)
    steps = -(-len(small[0][0]) // 128)
    assert [(r.epoch, r.batch) for r in reports] == [(0, steps), (1, steps)]  # only the epoch ends at this throttle
    assert reports[-1].epoch_logs["loss"] == pytest.approx(training_log(model)[1]["loss"])
    assert reports[-1].seconds_left == 0 and reports[-1].done == reports[-1].total == 2 * steps
    curve = reports[-1].curve
    assert len(curve.epoch) == len(curve.loss) == len(curve.accuracy) == 2 * steps
    assert curve.epoch[0] == pytest.approx(1 / steps) and curve.epoch[-1] == pytest.approx(2)
    assert curve.loss[-1] < curve.loss[0] and curve.accuracy[-1] > 0.8
    assert len(reports[0].curve.epoch) == steps  # the first snapshot did not grow with the second epoch
    more = []
    train(model, small[0], callbacks=[Progress(more.append, curve=curve)], seed=0)
    assert len(more[-1].curve.epoch) == 3 * steps and more[-1].curve.epoch[-1] == pytest.approx(3)  # it goes on
    assert len(curve.epoch) == 2 * steps  # and the curve handed in is unchanged
    assert len(more) > 1  # the default throttle reports within the epoch too


def test_progress_snapshots_cannot_change():
    """A snapshot crosses from the training thread to the page's: nothing in it can be changed afterwards."""
    snapshot = Snapshot(epoch=0, batch=1, steps=2, done=1, total=2, elapsed=0.5, curve=Curve((0.5,), (1.0,), (0.1,)),
                        epoch_logs=types.MappingProxyType({"loss": 1.0}))
    with pytest.raises(dataclasses.FrozenInstanceError):
        snapshot.batch = 2
    with pytest.raises(TypeError):
        snapshot.epoch_logs["loss"] = 0.0
    with pytest.raises(AttributeError):
        snapshot.curve.loss.append(0.0)


def test_an_interrupt_before_training_begins_goes_on_as_it_is(small, monkeypatch):
    """Ctrl-C before Keras calls on_train_begin: the KeyboardInterrupt, not an AttributeError from the schedule."""
    model = build_model("default", seed=0)
    peak = float(model.optimizer.learning_rate)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(model, "fit", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train(model, small[0], seed=0)
    assert training_log(model) == [] and float(model.optimizer.learning_rate) == pytest.approx(peak)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"epochs": 0}, "epochs"),
        ({"epochs": 1.5}, "epochs"),
        ({"validation_split": 1.0}, "validation_split"),
        ({"batch_size": 0}, "batch_size"),
        ({"learning_rate": 0}, "learning_rate"),
    ],
)
def test_bad_arguments_are_refused(small, kwargs, message):
    with pytest.raises(ValueError, match=message):
        train(build_model(), small[0], **kwargs)


def test_uncompiled_model_is_refused(small):
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10)])
    with pytest.raises(ValueError, match="not compiled"):
        train(model, small[0])


def test_augmentation_moves_and_reshapes_but_keeps_the_digit(mnist):
    x = tf.constant(mnist[1][0][:256, ..., None].astype(np.float32) / 255)
    tf.random.set_seed(0)
    out = augment_batch(x).numpy()
    assert out.shape == x.shape and out.min() >= 0 and out.max() <= 1.0 + 1e-6
    changed = np.abs(out - x.numpy()).reshape(256, -1).max(axis=1)
    assert (changed > 0.1).mean() > 0.9  # nearly every image is altered
    ink_ratio = out.reshape(256, -1).sum(1) / x.numpy().reshape(256, -1).sum(1)
    assert 0.4 < np.median(ink_ratio) < 2.5  # thicker or thinner, never erased or flooded
    assert np.mean(ink_ratio < 0.9) > 0.05 and np.mean(ink_ratio > 1.1) > 0.2  # both directions occur


def test_augmented_training_still_learns(small):
    model = build_model("default", seed=0)
    train(model, small[0], epochs=2, augment=True, seed=0)
    assert evaluate(model, *small[1]).accuracy > 0.85
