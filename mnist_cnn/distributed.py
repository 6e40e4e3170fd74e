"""Training on several devices or machines through tf.distribute: the strategies by name, what the CLI says
about them, and the training loop MultiWorkerMirroredStrategy needs (Keras 3's fit() fails under it)."""

import os
from collections.abc import Sequence

import keras
import tensorflow as tf

STRATEGIES = ("none", "mirrored", "multi-worker")


def strategy_for(name: str, timeout: float | None = None) -> tf.distribute.Strategy:
    """The strategy a name stands for.

    `none`: TensorFlow's default (one device). `mirrored`: MirroredStrategy over every local GPU, or over the
    CPUs when there is none (one, unless logical devices were configured). `multi-worker`:
    MultiWorkerMirroredStrategy over the cluster in $TF_CONFIG. It waits for every worker to start; a worker
    that dies stops the others within seconds (TensorFlow's heartbeats), and a collective that waits more than
    `timeout` seconds (a worker that hangs) fails.
    """
    if name == "none":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([device.name for device in devices])
    if name == "multi-worker":
        if not os.environ.get("TF_CONFIG"):
            raise ValueError("the multi-worker strategy reads its cluster from $TF_CONFIG, which is not set")
        options = tf.distribute.experimental.CommunicationOptions(timeout_seconds=timeout)
        return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    raise ValueError(f"unknown strategy {name!r}; choose one of: {', '.join(STRATEGIES)}")


def devices(strategy: tf.distribute.Strategy) -> list[str]:
    """The devices this process trains on."""
    try:
        return list(strategy.extended.worker_devices)
    except RuntimeError:  # the default strategy has no list: TensorFlow's first device, a GPU if there is one
        return [(tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU"))[0].name]


def workers(strategy: tf.distribute.Strategy) -> int:
    """How many processes train together: the cluster's chief and workers, 1 without a cluster."""
    resolver = strategy.cluster_resolver  # None but for multi-worker strategies
    jobs = resolver.cluster_spec().as_dict() if resolver else {}
    return sum(len(jobs.get(job, [])) for job in ("chief", "worker")) or 1


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process saves the model: the only one, or a cluster's chief (worker 0 if it names none)."""
    return strategy.extended.should_checkpoint


def needs_own_loop(strategy: tf.distribute.Strategy) -> bool:
    """Whether fit() cannot train under `strategy`: Keras 3's fit() reduces the first batch across workers to
    build the model, and MultiWorkerMirroredStrategy cannot (keras-team/keras#20585)."""
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


def fit(
    model: keras.Model,
    strategy: tf.distribute.Strategy,
    batches: tf.data.Dataset,
    validation_data: tf.data.Dataset | None,
    initial_epoch: int,
    epochs: int,
    callbacks: Sequence[keras.callbacks.Callback],
) -> keras.callbacks.History:
    """What model.fit() does, without it: the model's own train_step on each replica, the same callbacks at the
    same hooks with the same logs (the running means of the model's metrics over the epoch, val_ ones after
    validation). Every worker must run it alike: a callback that stops one worker must stop them all.

    A worker that dies, or a collective that times out, raises ConnectionError: the others cannot go on.
    """
    steps = int(batches.cardinality())  # an epoch's
    history = keras.callbacks.History()
    hooks = keras.callbacks.CallbackList([*callbacks, history], model=model, verbose=0, epochs=epochs, steps=steps)
    train_step = _on_replicas(strategy, model, model.train_step)
    test_step = _on_replicas(strategy, model, model.test_step)
    # one iterator for every epoch (each epoch reshuffles): a new one costs ~0.5 s on each worker
    train_batches = iter(strategy.experimental_distribute_dataset(batches.repeat()))
    if validation_data is not None:
        val_batches = iter(strategy.experimental_distribute_dataset(validation_data.repeat()))
    model.stop_training = False
    try:
        hooks.on_train_begin()
        logs = epoch_logs = {}
        for epoch in range(initial_epoch, epochs):
            model.reset_metrics()
            hooks.on_epoch_begin(epoch)
            for step in range(steps):
                hooks.on_train_batch_begin(step)
                logs = {name: float(value) for name, value in train_step(train_batches).items()}
                hooks.on_train_batch_end(step, logs)
                if model.stop_training:
                    break
            epoch_logs = dict(logs)
            if validation_data is not None:
                model.reset_metrics()
                for _ in range(int(validation_data.cardinality())):
                    results = test_step(val_batches)
                epoch_logs.update({f"val_{name}": float(value) for name, value in results.items()})
            hooks.on_epoch_end(epoch, epoch_logs)
            if model.stop_training:
                break
        hooks.on_train_end(epoch_logs)
    except (tf.errors.UnavailableError, tf.errors.DeadlineExceededError) as e:
        raise ConnectionError(
            f"training stopped: another worker died or did not answer in time ({type(e).__name__})"
        ) from e
    return history


def _on_replicas(strategy, model, step):
    """`step` on each replica's share of the next distributed batch, then the model's metrics over every replica
    so far, in one traced function: there a multi-worker iterator and the metrics (summed across workers when
    read) each agree with the other workers in a few collectives of the graph, not in many eager ones (~40 ms a
    step on two localhost workers)."""

    def run(iterator):
        strategy.run(step, args=(next(iterator),))
        return model.get_metrics_result()

    return tf.function(run, reduce_retracing=True)
