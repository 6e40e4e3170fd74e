"""Training: each call goes on from where the model is; progress leaves only through Keras callbacks."""

import math
import threading
import time
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from . import distributed
from .data import INPUT_SHAPE, as_images, as_labels
from .evaluation import CHUNK, evaluate
from .models import spec_of
from .state import state_of

VALIDATION_BATCH = CHUNK  # larger batches are no faster on a CPU, only bigger in memory


def train(
    model: keras.Model,
    data: tuple[np.ndarray, np.ndarray],
    epochs: int = 1,
    batch_size: int | None = None,
    validation_split: float = 0.0,
    test_data: tuple[np.ndarray, np.ndarray] | None = None,
    learning_rate: float | None = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    seed: int | None = None,
    augment: bool | None = None,
    strategy: tf.distribute.Strategy | None = None,
) -> keras.callbacks.History:
    """Fit `model` for `epochs` more epochs and return the Keras History.

    Calling it again continues the same model: optimizer state kept, epoch numbers go on. Each epoch goes into
    training_log(model) as it ends. If training is interrupted (an exception from a callback, say a page that
    reruns), the epoch under way is logged with "partial" (the share of its batches that ran), the learning
    rate is put back, and the exception goes on.

    Args:
        model: a compiled model, from build_model() or load_model().
        data: (images, labels): (N, 28, 28[, 1]) uint8 or float in [0, 1]; integer or one-hot labels.
        epochs: how many epochs to train, >= 1.
        batch_size: default: the design's recipe (32 for a model from elsewhere).
        validation_split: the last share of `data` held out to validate each epoch, as in Keras.
        test_data: (images, labels) evaluated after each epoch (test_loss, test_accuracy in the log).
        learning_rate: replaces the optimizer's (the one-cycle peak for designs that use it).
        callbacks: Keras callbacks, e.g. Progress; they see the test metrics.
        seed: the same seed gives the same run (shuffling, augmentation, dropout).
        augment: random shifts, rotations, scaling and stroke thickness; default: the design's recipe.
        strategy: a tf.distribute strategy (distributed.strategy_for()) the model was built in
            (build_model(strategy=...)); default: the model's. `batch_size` is the global batch, split among
            the replicas. Under MultiWorkerMirroredStrategy every worker calls train() alike, with the same seed.
    """
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a whole number >= 1, got {epochs!r}")
    if not 0 <= validation_split < 1:
        raise ValueError(f"validation_split must be in [0, 1), got {validation_split!r}")
    if getattr(model, "optimizer", None) is None:
        raise ValueError("the model is not compiled; compile it or use build_model()")
    if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 1):
        raise ValueError(f"batch_size must be a whole number >= 1, got {batch_size!r}")
    if learning_rate is not None and not learning_rate > 0:
        raise ValueError(f"learning_rate must be > 0, got {learning_rate!r}")
    strategy = strategy or model.distribute_strategy
    if strategy is not model.distribute_strategy:
        raise ValueError("the model was not built in this strategy's scope; build it with build_model(strategy=...)")
    own_loop = distributed.needs_own_loop(strategy)
    if own_loop and seed is None:
        raise ValueError("multi-worker training needs a seed: every worker must shuffle the data alike")
    spec = spec_of(model)
    batch_size = batch_size or (spec.batch_size if spec else 32)
    augment = (spec.augment if spec else False) if augment is None else augment
    if seed is not None:
        keras.utils.set_random_seed(seed)  # shuffling, augmentation, dropout
    x = as_images(data[0])
    y = as_labels(data[1], len(x), one_hot=not loss_is_sparse(model))
    split = math.floor(len(x) * (1 - validation_split))
    if split < 1:
        raise ValueError("no training images left after the validation split")
    if learning_rate is not None:
        model.optimizer.learning_rate = learning_rate
    train_batches = _batches(x[:split], y[:split], batch_size, shuffle=True, seed=seed, augment=augment)
    val_batches = _batches(x[split:], y[split:], VALIDATION_BATCH) if split < len(x) else None
    schedule = [OneCycle(epochs * math.ceil(split / batch_size))] if spec and spec.schedule == "one_cycle" else []
    # before the caller's callbacks: they see test metrics, and an epoch is logged before they can interrupt
    log = _Log(test_data)
    done = epochs_trained(model)
    try:
        if own_loop:
            return distributed.fit(model, strategy, train_batches, val_batches, done, done + epochs,
                                   [*schedule, log, *callbacks])
        return model.fit(  # distributes the batches itself under a strategy
            train_batches,
            validation_data=val_batches,
            initial_epoch=done,
            epochs=done + epochs,
            callbacks=[*schedule, log, *callbacks],
            shuffle=False,  # the pipeline shuffles
            verbose=0,
        )
    except BaseException:
        log.interrupted()
        for callback in schedule:
            callback.on_train_end()
        raise


def training_log(model: keras.Model) -> list[dict[str, float]]:
    """One record {"epoch": n, metric: value, ...} for every epoch this model has trained; saved in its file."""
    return state_of(model).log


def epochs_trained(model: keras.Model) -> int:
    return len(training_log(model))


def model_lock(model: keras.Model) -> threading.RLock:
    """Held while a batch changes the weights: save_model() takes it too, so a file never mixes two steps."""
    return state_of(model).lock


class _Log(keras.callbacks.Callback):
    """Appends each epoch's metrics to training_log(model) as it ends, test metrics included; holds the
    model's lock during each batch."""

    def __init__(self, test_data=None):
        super().__init__()
        self.test_data, self.epoch, self.batches, self.logs, self.locked = test_data, None, 0, {}, False

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch, self.batches, self.logs = epoch, 0, {}

    def on_train_batch_begin(self, batch, logs=None):
        model_lock(self.model).acquire()
        self.locked = True

    def on_train_batch_end(self, batch, logs=None):
        self.locked = False
        model_lock(self.model).release()
        self.batches, self.logs = batch + 1, logs or {}

    def on_epoch_end(self, epoch, logs=None):
        if self.test_data is not None:
            test = evaluate(self.model, *self.test_data)
            logs.update(test_loss=test.loss, test_accuracy=test.accuracy)  # the History and later callbacks see them
        self._append(logs)

    def interrupted(self):
        if self.locked:
            self.locked = False
            model_lock(self.model).release()
        if self.epoch is not None and self.batches:
            self._append(self.logs, partial=round(self.batches / self.params["steps"], 4))

    def _append(self, logs, **extra):
        record = {key: float(value) for key, value in logs.items()}
        training_log(self.model).append({"epoch": self.epoch + 1, **record, **extra})
        self.epoch = None


def loss_is_sparse(model: keras.Model) -> bool:
    """Whether the model's loss takes integer labels (else one-hot)."""
    loss = model.loss
    return (getattr(loss, "name", None) or str(loss)).startswith("sparse")


def _batches(x, y, batch_size, shuffle=False, seed=None, augment=False):
    """A tf.data pipeline over in-memory arrays; uint8 images stay uint8 until their batch is cut."""
    labels = tf.constant(y)
    scale = 255.0 if x.dtype == np.uint8 else 1.0  # a division, exactly as as_input() scales

    def load(index):
        # each batch is cut from the caller's array: no copy of the whole set as a tensor (tens of MB)
        batch = tf.numpy_function(lambda i: x[i], [index], tf.as_dtype(x.dtype), stateful=False)
        batch = tf.cast(tf.ensure_shape(batch, [None, *INPUT_SHAPE]), tf.float32) / scale
        return (augment_batch(batch) if augment else batch), tf.gather(labels, index)

    ds = tf.data.Dataset.range(len(x))
    if shuffle:
        ds = ds.shuffle(len(x), seed=seed)  # a new order each epoch
    # autotuning off: its thread stalls the end of every fit() by ~3 s here; one batch ahead is all it takes
    options = tf.data.Options()
    options.autotune.enabled = False
    # several workers: each keeps its share of every batch (the default tries to split files first: there are none)
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    # sequential map: the augmentation's random numbers come in a fixed order, so a seed repeats a run
    return ds.batch(batch_size).map(load).prefetch(2).with_options(options)


def augment_batch(images: tf.Tensor, max_shift: float = 3.0, max_degrees: float = 12.0,
                  max_zoom: float = 0.15) -> tf.Tensor:
    """Random shift, rotation, scale and stroke thickness for each image of a (N,28,28,1) float batch."""
    n = tf.shape(images)[0]

    def uniform(low, high):
        return tf.random.uniform([n], low, high)

    # thicker or thinner strokes: blend towards a 3x3 dilation or erosion
    t = uniform(-0.6, 1.0)[:, None, None, None]
    dilated = tf.nn.max_pool2d(images, 3, 1, "SAME")
    eroded = -tf.nn.max_pool2d(-images, 3, 1, "SAME")
    images = images + tf.maximum(t, 0) * (dilated - images) + tf.maximum(-t, 0) * (eroded - images)
    # one affine map per image, output pixel -> input pixel, about the centre
    angle = uniform(-max_degrees, max_degrees) * (math.pi / 180)
    inv_zoom = 1 / uniform(1 - max_zoom, 1 + max_zoom)
    tx, ty = uniform(-max_shift, max_shift), uniform(-max_shift, max_shift)
    cos, sin, c = tf.cos(angle) * inv_zoom, tf.sin(angle) * inv_zoom, 13.5
    transform = tf.stack(
        [cos, sin, c - cos * (c + tx) - sin * (c + ty), -sin, cos, c + sin * (c + tx) - cos * (c + ty),
         tf.zeros([n]), tf.zeros([n])],
        axis=1,
    )
    return keras.ops.image.affine_transform(images, transform, interpolation="bilinear")


@dataclass(frozen=True)
class Curve:
    """The per-batch training curve: each batch's own loss and accuracy, smoothed, at x = epochs done."""

    epoch: tuple[float, ...] = ()
    loss: tuple[float, ...] = ()
    accuracy: tuple[float, ...] = ()


@dataclass(frozen=True)
class Snapshot:
    """Training progress at one moment, safe to hand to another thread: nothing in it changes later."""

    epoch: int  # 0-based, the epoch under way
    batch: int  # batches done in this epoch
    steps: int  # batches in an epoch
    done: int  # batches done in this call
    total: int  # batches this call will run
    elapsed: float  # seconds since this call began
    curve: Curve
    epoch_logs: Mapping[str, float] | None  # set at an epoch's end: its metrics

    @property
    def seconds_left(self) -> float:
        return self.elapsed / self.done * (self.total - self.done) if self.done else float("nan")


class Progress(keras.callbacks.Callback):
    """Training progress for a display: calls `report(snapshot)` at most every `every` seconds, and at each
    epoch's end (then with `epoch_logs` set).

    The curve gathers, for every batch, that batch's own loss and accuracy (Keras logs running means over the
    epoch) smoothed by an exponential moving average. Pass the last snapshot's curve to the next call to
    continue it.
    """

    def __init__(self, report, every: float = 0.3, smoothing: float = 0.9, curve: Curve | None = None):
        super().__init__()
        self.report, self.every, self.smoothing = report, every, smoothing
        self.points = {key: list(getattr(curve or Curve(), key)) for key in ("epoch", "loss", "accuracy")}

    def on_train_begin(self, logs=None):
        self.start = self.last = time.perf_counter()
        self.first_epoch = None
        self.done = 0  # batches in this call

    def on_epoch_begin(self, epoch, logs=None):
        if self.first_epoch is None:
            self.first_epoch = epoch
        self.epoch, self.batch, self.means = epoch, 0, {}

    def on_train_batch_end(self, batch, logs=None):
        self.batch, self.done = batch + 1, self.done + 1
        self.points["epoch"].append(self.epoch + self.batch / self.params["steps"])
        for key in ("loss", "accuracy"):
            mean = float((logs or {}).get(key, np.nan))
            value = self.batch * mean - batch * self.means.get(key, 0.0)  # this batch's own value
            self.means[key] = mean
            line = self.points[key]
            past = line[-1] if line else value
            line.append(value if np.isnan(past) else self.smoothing * past + (1 - self.smoothing) * value)
        now = time.perf_counter()
        if now - self.last >= self.every:
            self.last = now
            self.report(self.snapshot())

    def on_epoch_end(self, epoch, logs=None):
        self.last = time.perf_counter()
        self.report(self.snapshot(epoch_logs=types.MappingProxyType(dict(logs or {}))))

    def snapshot(self, epoch_logs: Mapping[str, float] | None = None) -> Snapshot:
        steps = self.params["steps"]
        return Snapshot(
            epoch=self.epoch, batch=self.batch, steps=steps, done=self.done,
            total=steps * (self.params["epochs"] - self.first_epoch), elapsed=time.perf_counter() - self.start,
            curve=Curve(**{key: tuple(values) for key, values in self.points.items()}), epoch_logs=epoch_logs,
        )


class OneCycle(keras.callbacks.Callback):
    """Warm the learning rate up to the optimizer's own over the first 20% of the steps, then cosine it to ~0.

    The optimizer's rate is the peak, and it is put back when training ends, so the next call and the saved
    file see the same peak.
    """

    def __init__(self, steps, warmup=0.2):
        super().__init__()
        self.steps, self.warmup = steps, warmup
        self.peak = None  # until training begins: an interrupt before that has no rate to put back

    def on_train_begin(self, logs=None):
        # numpy(): float() and int() refuse a variable that a tf.distribute strategy mirrors
        self.peak = float(self.model.optimizer.learning_rate.numpy())
        self.start = int(self.model.optimizer.iterations.numpy())

    def on_train_batch_begin(self, batch, logs=None):
        t = min((int(self.model.optimizer.iterations.numpy()) - self.start) / self.steps, 1.0)
        if t < self.warmup:
            rate = self.peak * (0.04 + 0.96 * t / self.warmup)
        else:
            rate = self.peak * 0.5 * (1 + math.cos(math.pi * (t - self.warmup) / (1 - self.warmup)))
        self.model.optimizer.learning_rate = rate

    def on_train_end(self, logs=None):
        if self.peak is not None:
            self.model.optimizer.learning_rate = self.peak
