"""The registry's architectures, each a design (spec.py), and the one way a model is made: build_model()."""

import contextlib
from dataclasses import dataclass

import keras
import tensorflow as tf

from .data import INPUT_SHAPE
from .spec import Block, Spec, compile_spec, parse_spec, spec_cost, spec_layers
from .state import state_of

CUSTOM = "custom"  # the name of a model whose design is no registry architecture's


@dataclass(frozen=True)
class Arch:
    description: str
    spec: Spec
    # one epoch on all 60,000 training images on a 2-core CPU, measured (tensorflow-cpu 2.21): for an estimate
    epoch_seconds: float = 0.0


def conv_bn(filters: int, **kwargs) -> Block:
    """Conv2D without bias (BatchNorm brings its own), BatchNorm, ReLU."""
    return Block(filters, batchnorm=True, **kwargs)


ARCHS = {
    "default": Arch(
        "fast and accurate in one epoch: conv(-pool)-BatchNorm-ReLU 16-32-64, SGD+Nesterov, one-cycle, label smoothing",
        Spec(
            blocks=(conv_bn(16, pool="max", pool_first=True), conv_bn(32, pool="max", pool_first=True), conv_bn(64)),
            optimizer="nesterov", learning_rate=0.4, schedule="one_cycle", batch_size=128,
            loss="one_hot", label_smoothing=0.1,
        ),
        epoch_seconds=7,
    ),
    "basic": Arch(
        "the notebooks' first CNN: Conv32-MaxPool-Conv64-MaxPool-Flatten-Dense64-Dense10, Adam",
        Spec(blocks=(Block(32, pool="max"), Block(64, pool="max")), dense=64),
        epoch_seconds=11,
    ),
    "dropout": Arch(
        "keras-io's mnist_convnet: Conv32-MaxPool-Conv64-MaxPool-Flatten-Dropout(0.5)-Dense10, Adam",
        Spec(blocks=(Block(32, pool="max"), Block(64, pool="max")), dropout=0.5, batch_size=128),
        epoch_seconds=8,
    ),
    "deep_bn": Arch(
        "the notebooks' deep CNN: conv 32-64-128-256 with BatchNorm and ReLU, GlobalAveragePooling, SGD lr 0.1",
        Spec(
            blocks=(conv_bn(32), conv_bn(64, stride=2), conv_bn(128, stride=2), conv_bn(256, stride=2)),
            head="gap", optimizer="sgd", learning_rate=0.1,
        ),
        epoch_seconds=35,
    ),
    "best": Arch(
        "the shipped model: conv-BatchNorm-ReLU 32-64-128 with dropout, trained on augmented digits",
        Spec(
            blocks=(conv_bn(32, padding="same", pool="max"), conv_bn(64, padding="same", pool="max"), conv_bn(128)),
            dropout=0.3, optimizer="nesterov", learning_rate=0.1, schedule="one_cycle", batch_size=128,
            loss="one_hot", label_smoothing=0.1, augment=True,
        ),
        epoch_seconds=25,
    ),
}


def build_model(
    arch: str | Spec = "default",
    learning_rate: float | None = None,
    seed: int | None = None,
    strategy: tf.distribute.Strategy | None = None,
) -> keras.Model:
    """A new model of a registered architecture or of a design (a Spec), compiled as it says.

    A design is checked first (spec.spec_cost: the server's limits) and raises DesignError if it cannot be built.
    train() and evaluate() take integer or one-hot labels for any of them. Under a tf.distribute `strategy`
    (distributed.strategy_for()) its variables are mirrored on the strategy's devices, and train() uses it.
    """
    if isinstance(arch, str):
        if arch not in ARCHS:
            raise ValueError(f"unknown architecture {arch!r}; choose one of: {', '.join(ARCHS)}")
        spec = ARCHS[arch].spec
    else:
        spec = parse_spec(arch.to_dict())  # a Spec made in code skipped the checks parsing does
        spec_cost(spec)
    if learning_rate is not None:
        spec = parse_spec(spec.to_dict() | {"learning_rate": learning_rate})
    if seed is not None:
        keras.utils.set_random_seed(seed)  # the initial weights
    with strategy.scope() if strategy else contextlib.nullcontext():
        # the architecture's name is the model's, so a saved file says what it is
        model = keras.Sequential([keras.Input(INPUT_SHAPE), *spec_layers(spec)], name=name_of(spec))
        compile_spec(model, spec)
    state_of(model).spec = spec
    return model


def name_of(spec: Spec) -> str:
    """The registry name of this design (learning rate aside), or CUSTOM."""
    same = {name for name, arch in ARCHS.items()
            if parse_spec(arch.spec.to_dict() | {"learning_rate": spec.learning_rate}) == spec}
    return next(iter(same), CUSTOM)


def spec_of(model: keras.Model) -> Spec | None:
    """The design a model was built from (saved in its file), or None for a model from elsewhere."""
    return state_of(model).spec


def summary(model: keras.Model) -> str:
    """model.summary() as text."""
    lines = []
    model.summary(print_fn=lambda line, line_break=True: lines.append(line))
    return "\n".join(lines)
