"""The architectures: literal layer lists, each compiled with the optimizer it was designed with."""

import contextlib
from collections.abc import Callable
from dataclasses import dataclass

import keras
import tensorflow as tf
from keras import layers

from .data import INPUT_SHAPE, NUM_CLASSES


def conv_bn(filters: int, kernel: int = 3, pool: bool = False, **kwargs) -> list[keras.layers.Layer]:
    """Conv2D without bias (BatchNorm brings its own), then MaxPooling if `pool`, BatchNorm, ReLU."""
    return [
        layers.Conv2D(filters, kernel, use_bias=False, **kwargs),
        # pooling first leaves BatchNorm and ReLU a quarter of the pixels: most of a CPU epoch's time
        *([layers.MaxPooling2D()] if pool else []),
        # momentum 0.9: the default 0.99 leaves the inference statistics behind in a one-epoch run
        layers.BatchNormalization(momentum=0.9),
        layers.ReLU(),
    ]


def nesterov(learning_rate: float) -> keras.optimizers.Optimizer:
    return keras.optimizers.SGD(learning_rate, momentum=0.9, nesterov=True)


@dataclass(frozen=True)
class Arch:
    description: str
    layers: Callable[[], list]  # a fresh list of layers for each model
    optimizer: Callable[[float], keras.optimizers.Optimizer]  # built from the learning rate
    learning_rate: float  # the peak of the one-cycle schedule, or the constant rate
    one_cycle: bool = False  # warm up then anneal each train() call; False = constant learning rate
    batch_size: int = 32  # Keras' default, as the notebooks train
    augment: bool = False  # random shifts, rotations, scaling and stroke thickness in training
    label_smoothing: float = 0.0  # > 0 trains on softened one-hot targets (categorical cross-entropy)
    # one epoch on all 60,000 training images on a 2-core CPU, measured (tensorflow-cpu 2.21): for an estimate
    epoch_seconds: float = 0.0


ARCHS = {
    "default": Arch(
        "fast and accurate in one epoch: conv(-pool)-BatchNorm-ReLU 16-32-64, SGD+Nesterov, one-cycle, label smoothing",
        lambda: [
            *conv_bn(16, pool=True),
            *conv_bn(32, pool=True),
            *conv_bn(64),
            layers.Flatten(),
            layers.Dense(NUM_CLASSES, activation="softmax"),
        ],
        nesterov, 0.4, one_cycle=True, batch_size=128, label_smoothing=0.1, epoch_seconds=7,
    ),
    "basic": Arch(
        "the notebooks' first CNN: Conv32-MaxPool-Conv64-MaxPool-Flatten-Dense64-Dense10, Adam",
        lambda: [
            layers.Conv2D(32, 3, activation="relu"), layers.MaxPooling2D(),
            layers.Conv2D(64, 3, activation="relu"), layers.MaxPooling2D(),
            layers.Flatten(),
            layers.Dense(64, activation="relu"),
            layers.Dense(NUM_CLASSES, activation="softmax"),
        ],
        keras.optimizers.Adam, 1e-3, epoch_seconds=11,
    ),
    "dropout": Arch(
        "keras-io's mnist_convnet: Conv32-MaxPool-Conv64-MaxPool-Flatten-Dropout(0.5)-Dense10, Adam",
        lambda: [
            layers.Conv2D(32, 3, activation="relu"), layers.MaxPooling2D(),
            layers.Conv2D(64, 3, activation="relu"), layers.MaxPooling2D(),
            layers.Flatten(),
            layers.Dropout(0.5),
            layers.Dense(NUM_CLASSES, activation="softmax"),
        ],
        keras.optimizers.Adam, 1e-3, batch_size=128, epoch_seconds=8,
    ),
    "deep_bn": Arch(
        "the notebooks' deep CNN: conv 32-64-128-256 with BatchNorm and ReLU, GlobalAveragePooling, SGD lr 0.1",
        lambda: [
            *conv_bn(32),
            *conv_bn(64, strides=2),
            *conv_bn(128, strides=2),
            *conv_bn(256, strides=2),
            layers.GlobalAveragePooling2D(),
            layers.Dense(NUM_CLASSES, activation="softmax"),
        ],
        keras.optimizers.SGD, 0.1, epoch_seconds=35,
    ),
    "best": Arch(
        "the shipped model: conv-BatchNorm-ReLU 32-64-128 with dropout, trained on augmented digits",
        lambda: [
            *conv_bn(32, padding="same"), layers.MaxPooling2D(),
            *conv_bn(64, padding="same"), layers.MaxPooling2D(),
            *conv_bn(128),
            layers.Flatten(),
            layers.Dropout(0.3),
            layers.Dense(NUM_CLASSES, activation="softmax"),
        ],
        nesterov, 0.1, one_cycle=True, batch_size=128, augment=True, label_smoothing=0.1, epoch_seconds=25,
    ),
}


def build_model(
    arch: str = "default",
    learning_rate: float | None = None,
    seed: int | None = None,
    strategy: tf.distribute.Strategy | None = None,
) -> keras.Model:
    """A new model of a registered architecture, compiled with its optimizer and loss.

    train() and evaluate() take integer or one-hot labels for any of them. Under a tf.distribute `strategy`
    (distributed.strategy_for()) its variables are mirrored on the strategy's devices, and train() uses it.
    """
    if arch not in ARCHS:
        raise ValueError(f"unknown architecture {arch!r}; choose one of: {', '.join(ARCHS)}")
    if seed is not None:
        keras.utils.set_random_seed(seed)  # the initial weights
    spec = ARCHS[arch]
    with strategy.scope() if strategy else contextlib.nullcontext():
        # the architecture's name is the model's, so a saved file says what it is
        model = keras.Sequential([keras.Input(INPUT_SHAPE), *spec.layers()], name=arch)
        model.compile(
            optimizer=spec.optimizer(learning_rate or spec.learning_rate),
            # Keras' sparse loss cannot smooth labels; the categorical one takes one-hot targets
            loss=keras.losses.CategoricalCrossentropy(label_smoothing=spec.label_smoothing)
            if spec.label_smoothing
            else keras.losses.SparseCategoricalCrossentropy(),
            metrics=["accuracy"],
        )
    return model


def arch_of(model: keras.Model) -> Arch | None:
    """The registry entry a model was built from, or None for a model from elsewhere."""
    return ARCHS.get(model.name)


def summary(model: keras.Model) -> str:
    """model.summary() as text."""
    lines = []
    model.summary(print_fn=lambda line, line_break=True: lines.append(line))
    return "\n".join(lines)
