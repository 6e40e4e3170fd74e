"""Designs: a CNN as a plain, JSON-serialisable spec (convolution blocks, a head, and how it trains), checked
against the server's limits before anything is built, and built into a compiled Keras model.

The registry's architectures (models.py) are specs too, so a preset opens in the lab's builder as it is.
"""

import dataclasses
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

import keras
from keras import layers

from .data import INPUT_SHAPE, NUM_CLASSES
from .limits import Cost, DesignError, check_limits, model_cost

# The choices a design offers, each named once: the builder's menus and the checks below read them.
KERNELS = (3, 5, 7)
STRIDES = (1, 2)
PADDINGS = ("valid", "same")
POOLS = ("none", "max", "average")
ACTIVATIONS = ("relu", "elu", "gelu", "silu", "tanh")
HEADS = ("flatten", "gap")  # Flatten, or GlobalAveragePooling2D
OPTIMIZERS = ("sgd", "nesterov", "adam", "adamw", "rmsprop")
SCHEDULES = ("constant", "one_cycle")
LOSSES = ("sparse", "one_hot")
MAX_BLOCKS = 8
MAX_SPEC_BYTES = 2**14  # a spec's JSON: 8 blocks written out with indents take 2.5 KB
MAX_FILTERS = 512
MAX_DENSE = 1024
MAX_BATCH = 1024
MAX_DROPOUT = 0.9
# what training holds for the backward pass: a batch's values of every layer (limits.Cost.activations); the
# registry's largest is best at batch 128 (138k values an image, 18M in all, 0.3 GB with gradients)
MAX_BATCH_VALUES = 24_000_000
MOMENTUM = 0.9  # SGD's momentum
BN_MOMENTUM = 0.9  # the default 0.99 leaves the inference statistics behind in a one-epoch run


@dataclass(frozen=True)
class Block:
    """A convolution block: Conv2D, then (BatchNorm,) activation, pooling 2x2, dropout."""

    filters: int = 32
    kernel: int = 3
    stride: int = 1
    padding: str = "valid"
    pool: str = "none"
    batchnorm: bool = False
    activation: str = "relu"
    dropout: float = 0.0  # SpatialDropout is not here: a plain Dropout after the block, as the notebooks do
    # pool straight after the convolution, so BatchNorm and the activation see a quarter of the pixels (most of
    # a CPU epoch's time); the registry's `default` does
    pool_first: bool = False


@dataclass(frozen=True)
class Spec:
    """A whole design: the blocks, the head, and the recipe it trains with."""

    blocks: tuple[Block, ...] = (Block(32, pool="max"), Block(64, pool="max"))
    head: str = "flatten"
    dense: int = 0  # units of a hidden Dense layer (with the blocks' first activation); 0: none
    dropout: float = 0.0  # before the softmax layer
    optimizer: str = "adam"
    learning_rate: float = 1e-3  # the constant rate, or the one-cycle schedule's peak
    schedule: str = "constant"
    loss: str = "sparse"  # integer labels, or one-hot (which label smoothing needs)
    label_smoothing: float = 0.0
    batch_size: int = 32
    augment: bool = False  # random shifts, rotations, scaling and stroke thickness in training
    weight_decay: float = 0.004  # AdamW's own (Keras' default); the other optimizers have none

    def to_dict(self) -> dict:
        return dataclasses.asdict(self) | {"blocks": [dataclasses.asdict(block) for block in self.blocks]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict())


def parse_spec(obj: Mapping | str) -> Spec:
    """A Spec from its dict or JSON text; any missing field takes its default. Raises DesignError with a
    one-line reason (and `layer` naming the block, e.g. "block2") for a malformed or impossible design."""
    if isinstance(obj, str):
        try:
            obj = json.loads(obj)
        except (ValueError, RecursionError) as e:
            raise DesignError(f"the spec is not JSON ({str(e)[:80]})") from None
    if not isinstance(obj, Mapping):
        raise DesignError("a spec is a JSON object")
    fields = _fields(Spec, obj, "the spec")
    blocks = fields.get("blocks", Spec.blocks)
    if not isinstance(blocks, (list, tuple)) or not 1 <= len(blocks) <= MAX_BLOCKS:
        raise DesignError(f"blocks must be a list of 1 to {MAX_BLOCKS} blocks")
    fields["blocks"] = tuple(
        block if isinstance(block, Block) else _block(block, f"block{i}") for i, block in enumerate(blocks, 1)
    )
    spec = Spec(**fields)
    _check_head(spec)
    return spec


def _fields(cls, obj, where):
    names = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(obj) - set(names))
    if unknown:
        raise DesignError(f"{where} has no field {unknown[0]!r}; its fields are: {', '.join(names)}")
    out = {}
    for name, value in obj.items():
        default = names[name].default
        if name == "blocks":
            out[name] = value
        elif isinstance(default, bool):
            if not isinstance(value, bool):
                raise DesignError(f"{where}: {name} must be true or false, got {_shown(value)}")
            out[name] = value
        elif isinstance(default, int):
            if isinstance(value, bool) or not isinstance(value, int):
                raise DesignError(f"{where}: {name} must be a whole number, got {_shown(value)}")
            out[name] = value
        elif isinstance(default, float):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
                raise DesignError(f"{where}: {name} must be a number, got {_shown(value)}")
            out[name] = float(value)
        else:
            if not isinstance(value, str):
                raise DesignError(f"{where}: {name} must be a string, got {_shown(value)}")
            out[name] = value
    return out


def _block(obj, name):
    if isinstance(obj, Mapping):
        block = Block(**_fields(Block, obj, name))
    else:
        raise DesignError(f"{name} must be a JSON object", name)
    _choice(block.kernel, KERNELS, f"{name}: kernel", name)
    _choice(block.stride, STRIDES, f"{name}: stride", name)
    _choice(block.padding, PADDINGS, f"{name}: padding", name)
    _choice(block.pool, POOLS, f"{name}: pool", name)
    _choice(block.activation, ACTIVATIONS, f"{name}: activation", name)
    _range(block.filters, 1, MAX_FILTERS, f"{name}: filters", name)
    _range(block.dropout, 0.0, MAX_DROPOUT, f"{name}: dropout", name)
    return block


def _check_head(spec):
    _choice(spec.head, HEADS, "head", "head")
    _range(spec.dense, 0, MAX_DENSE, "dense", "head")
    _range(spec.dropout, 0.0, MAX_DROPOUT, "dropout", "head")
    _choice(spec.optimizer, OPTIMIZERS, "optimizer")
    _choice(spec.schedule, SCHEDULES, "schedule")
    _choice(spec.loss, LOSSES, "loss")
    _range(spec.batch_size, 1, MAX_BATCH, "batch_size")
    _range(spec.label_smoothing, 0.0, 0.5, "label_smoothing")
    _range(spec.weight_decay, 0.0, 0.5, "weight_decay")
    if not 1e-6 <= spec.learning_rate <= 10:
        raise DesignError(f"learning_rate must be from 1e-06 to 10, got {spec.learning_rate}")
    if spec.label_smoothing and spec.loss == "sparse":
        raise DesignError("label smoothing needs one-hot labels (Keras' sparse loss cannot smooth): loss one_hot")


def _choice(value, choices, what, layer=None):
    if value not in choices:
        raise DesignError(f"{what} must be one of {', '.join(map(str, choices))}; got {_shown(value)}", layer)


def _range(value, low, high, what, layer=None):
    if not low <= value <= high:
        raise DesignError(f"{what} must be from {low} to {high}, got {value}", layer)


def _shown(value):
    return json.dumps(value)[:40]


def spec_layers(spec: Spec) -> list[keras.layers.Layer]:
    """The layers of a design, in order, named after their block (block1_conv, ..., head_dense, output)."""
    out = []
    for i, b in enumerate(spec.blocks, 1):
        name = f"block{i}"
        conv = layers.Conv2D(b.filters, b.kernel, strides=b.stride, padding=b.padding, use_bias=not b.batchnorm,
                             activation=None if b.batchnorm else b.activation, name=f"{name}_conv")
        pool = [] if b.pool == "none" else [
            (layers.MaxPooling2D if b.pool == "max" else layers.AveragePooling2D)(2, name=f"{name}_pool")]
        norm = [
            layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn"),
            layers.ReLU(name=f"{name}_relu") if b.activation == "relu" else
            layers.Activation(b.activation, name=f"{name}_{b.activation}"),
        ] if b.batchnorm else []
        dropout = [layers.Dropout(b.dropout, name=f"{name}_dropout")] if b.dropout else []
        out += [conv, *pool, *norm] if b.pool_first else [conv, *norm, *pool]
        out += dropout
    out.append(layers.Flatten(name="head_flatten") if spec.head == "flatten" else
               layers.GlobalAveragePooling2D(name="head_gap"))
    if spec.dense:
        out.append(layers.Dense(spec.dense, activation=spec.blocks[0].activation, name="head_dense"))
    if spec.dropout:
        out.append(layers.Dropout(spec.dropout, name="head_dropout"))
    out.append(layers.Dense(NUM_CLASSES, activation="softmax", name="output"))
    return out


def spec_cost(spec: Spec) -> Cost:
    """What a design costs (each layer's output shape, weights, FLOPs), from its config; nothing is built.
    Raises DesignError, `layer` naming the block at fault, for a design that cannot be built or is over a limit."""
    # a Sequential's config written out: keras.Sequential with an Input would build it, weights and all
    config = {"class_name": "Sequential", "config": {"layers": [
        {"class_name": "InputLayer", "config": {"batch_shape": [None, *INPUT_SHAPE]}},
        *(keras.saving.serialize_keras_object(layer) for layer in spec_layers(spec)),
    ]}}
    try:
        cost = model_cost(config)
        check_limits(cost)
    except DesignError as e:
        block = block_of(e.layer)
        if "zero or negative" in str(e) or "size reaches 0" in str(e):  # Keras' words are about tensors
            shape = re.search(r"\(batch, [^)]*\)", str(e))
            raise DesignError(f"{block}: the image is down to {shape.group(0) if shape else 'too little'} here, too "
                              f"small for this block: use padding same, a smaller kernel or stride, or pool less "
                              f"before it", block) from None
        raise DesignError(str(e), block) from None
    values = spec.batch_size * cost.activations
    if values > MAX_BATCH_VALUES:
        raise DesignError(f"a batch of {spec.batch_size} keeps {values / 1e6:.0f}M values for training, at most "
                          f"{MAX_BATCH_VALUES / 1e6:.0f}M: use a smaller batch or narrower blocks")
    return cost


def block_of(layer: str | None) -> str | None:
    """The block ("block2", "head") a layer of spec_layers() belongs to; None for the whole design."""
    match = re.match(r"(block\d+|head)_", layer or "")
    return match.group(1) if match else "head" if layer == "output" else None


def compile_spec(model: keras.Model, spec: Spec) -> None:
    """Compile `model` as `spec` says: its optimizer and learning rate, its loss, accuracy."""
    rate = spec.learning_rate
    optimizer = {
        "sgd": lambda: keras.optimizers.SGD(rate),
        "nesterov": lambda: keras.optimizers.SGD(rate, momentum=MOMENTUM, nesterov=True),
        "adam": lambda: keras.optimizers.Adam(rate),
        "adamw": lambda: keras.optimizers.AdamW(rate, weight_decay=spec.weight_decay),
        "rmsprop": lambda: keras.optimizers.RMSprop(rate),
    }[spec.optimizer]()
    model.compile(
        optimizer=optimizer,
        # Keras' sparse loss cannot smooth labels; the categorical one takes one-hot targets
        loss=keras.losses.SparseCategoricalCrossentropy() if spec.loss == "sparse"
        else keras.losses.CategoricalCrossentropy(label_smoothing=spec.label_smoothing),
        metrics=["accuracy"],
    )
