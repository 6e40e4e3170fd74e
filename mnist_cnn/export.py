"""Get the code: a design (spec.py) as a standalone script, Keras and NumPy only, that builds the same network,
compiles it the same way and trains it with train()'s recipe, schedule, split and seed, then prints its test
accuracy. It reads as the notebooks do (sections, each number named once, the model as a literal list of layers,
as keras-io's mnist_convnet), and its `# %%` cells run one by one in a notebook.

What differs from train(), by necessity (the script has no TensorFlow of its own to call):
- the order of the images: Keras shuffles the arrays itself, train() shuffles through tf.data with the seed;
- augmentation: the script's own layer, augment_batch() in keras.ops inside the model: the same distortions drawn
  alike, from Keras' random numbers instead of TensorFlow's.
Over seeds, the script's test accuracy is train()'s within the noise of either: a mean gap under one point for
`default`, `basic` and `best` (BENCHMARKS.md, "Get the code (issue 21)").
"""

import inspect
import json
import textwrap

from keras import layers

from .data import INPUT_SHAPE, NUM_CLASSES
from .limits import DesignError
from .models import ARCHS, CUSTOM, name_of
from .spec import BN_MOMENTUM, MOMENTUM, Spec, block_of, parse_spec, spec_cost, spec_layers
from .training import OneCycle, augment_batch

WARMUP = inspect.signature(OneCycle).parameters["warmup"].default  # the share of the steps that warm up
WARMUP_START = 0.04  # the share of the peak the warm-up starts from (OneCycle's)
OPTIMIZERS = {  # compile_spec()'s optimizers, written out; {rate} is the rate or the schedule
    "sgd": "keras.optimizers.SGD({rate})",
    "nesterov": "keras.optimizers.SGD({rate}, momentum=MOMENTUM, nesterov=True)",
    "adam": "keras.optimizers.Adam({rate})",
    "adamw": "keras.optimizers.AdamW({rate}, weight_decay=WEIGHT_DECAY)",
    "rmsprop": "keras.optimizers.RMSprop({rate})",
}
# augment_batch() written in keras.ops as a layer: the same random thickness, rotation, zoom and shift, drawn in the
# same order. Keras' own RandomRotation, RandomTranslation and RandomZoom (with the thickness as a layer of its own)
# interpolate the digit once each, blurring it three times: `best` at batch 32 then tested 1.7 points below train()
# (mean of seeds 0-4, one epoch on 4,800 images), this layer 0.7 (seeds 0-9; BENCHMARKS.md, "Get the code").
DISTORTION_LAYER = '''class RandomDistortion(layers.Layer):
    """The lab's augmentation, in training only: each digit's strokes made thicker or thinner, then one random
    rotation, zoom and shift of the whole digit, interpolated once."""

    def __init__(self, degrees, zoom, shift, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.degrees, self.zoom, self.shift = degrees, zoom, shift
        self.seed_generator = keras.random.SeedGenerator(seed)

    def uniform(self, n, low, high):
        return keras.random.uniform((n,), low, high, seed=self.seed_generator)

    def call(self, images, training=False):
        if not training:
            return images
        ops = keras.ops
        n = ops.shape(images)[0]
        # thickness: blend each image towards its 3x3 dilation (t > 0) or erosion (t < 0)
        t = ops.reshape(self.uniform(n, -0.6, 1.0), (-1, 1, 1, 1))
        dilated = ops.max_pool(images, 3, strides=1, padding="same")
        eroded = -ops.max_pool(-images, 3, strides=1, padding="same")
        images = images + ops.maximum(t, 0) * (dilated - images) + ops.maximum(-t, 0) * (eroded - images)
        # one affine map per image, from each output pixel to the input pixel it reads, about the centre
        angle = self.uniform(n, -self.degrees, self.degrees) * (math.pi / 180)
        scale = 1 / self.uniform(n, 1 - self.zoom, 1 + self.zoom)
        tx, ty = self.uniform(n, -self.shift, self.shift), self.uniform(n, -self.shift, self.shift)
        cos, sin, c = ops.cos(angle) * scale, ops.sin(angle) * scale, 13.5
        zero = ops.zeros_like(cos)
        transform = ops.stack([cos, sin, c - cos * (c + tx) - sin * (c + ty),
                               -sin, cos, c + sin * (c + tx) - cos * (c + ty), zero, zero], axis=1)
        return ops.image.affine_transform(images, transform, interpolation="bilinear")


'''
_RANGES = inspect.signature(augment_batch).parameters  # its ranges, each named once there

_DATA = """\
if os.environ.get("MNIST_NPZ"):
    with np.load(os.environ["MNIST_NPZ"]) as f:
        x_train, y_train, x_test, y_test = f["x_train"], f["y_train"], f["x_test"], f["y_test"]
else:
    (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()

# Scale the images to [0, 1] and give them a channel axis: (N, 28, 28, 1)
x_train = np.expand_dims(x_train.astype("float32") / 255, -1)
x_test = np.expand_dims(x_test.astype("float32") / 255, -1)
"""


def export_script(
    spec: Spec,
    epochs: int = 1,
    validation_split: float = 0.0,
    seed: int = 0,
    batch_size: int | None = None,
    learning_rate: float | None = None,
    augment: bool | None = None,
) -> str:
    """The source of a standalone script that builds `spec` as build_model(spec, seed=seed) does, trains it on
    all of MNIST's training images as train() does with these arguments, and prints `test_accuracy=0.XXXX` last.
    batch_size, learning_rate (the one-cycle peak), augment: None keeps the design's own.

    Raises DesignError (one line) for a design that cannot be built or is over the server's limits, and for
    a batch size, learning rate or augmentation it does not take; ValueError for epochs, split or seed.
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a whole number >= 1, got {epochs!r}")
    if isinstance(validation_split, bool) or not isinstance(validation_split, (int, float)) or \
            not 0 <= validation_split < 1:
        raise ValueError(f"validation_split must be in [0, 1), got {validation_split!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise ValueError(f"seed must be a whole number from 0 to 2**32 - 1, got {seed!r}")
    overrides = {"batch_size": batch_size, "learning_rate": learning_rate, "augment": augment}
    spec = parse_spec(spec.to_dict() | {key: value for key, value in overrides.items() if value is not None})
    spec_cost(spec)
    name = name_of(spec)
    network = spec_layers(spec)
    return "".join([
        _header(spec, name),
        _section("Setup"),
        "import math\nimport os\n\n" if spec.schedule == "one_cycle" or spec.augment else "import os\n\n",
        "import keras\nimport numpy as np\nfrom keras import layers\n",
        _section("The recipe", "Each number is named once here: change one and run the cells again."),
        _recipe(spec, network, epochs, validation_split, seed),
        _section("The data", "MNIST from $MNIST_NPZ (a copy of Keras' mnist.npz) when it is set, else Keras' "
                             "download."),
        _DATA,
        "# One-hot labels: the categorical loss takes them (and can smooth them)\n"
        "y_train = keras.utils.to_categorical(y_train, NUM_CLASSES)\n"
        "y_test = keras.utils.to_categorical(y_test, NUM_CLASSES)\n" if spec.loss == "one_hot" else
        "# Integer labels 0-9, as they are: the sparse loss takes them\n",
        'print(len(x_train), "training images,", len(x_test), "test images")\n',
        _section("The model", *_model_notes(spec, name)),
        _model(spec, name, network),
        _section("Compile", *_compile_notes(spec)),
        _compile(spec),
        _section("Train"),
        "model.fit(x_train, y_train, batch_size=BATCH_SIZE, epochs=EPOCHS, validation_split=VALIDATION_SPLIT)\n",
        _section("Evaluate", "On the test images, which training never saw."),
        "test_loss, test_accuracy = model.evaluate(x_test, y_test, verbose=0)\n"
        'print(f"test_loss={test_loss:.4f}")\n'
        'print(f"test_accuracy={test_accuracy:.4f}")\n',
    ])


def _recipe(spec, network, epochs, validation_split, seed):
    batchnorm = any(isinstance(layer, layers.BatchNormalization) for layer in network)
    return (
        f"SEED = {seed}\nEPOCHS = {epochs}\nBATCH_SIZE = {spec.batch_size}\n"
        f"VALIDATION_SPLIT = {float(validation_split)!r}  # the last share of the training images, held out to "
        f"validate each epoch\n"
        f"LEARNING_RATE = {spec.learning_rate!r}"
        + ("  # the peak of the one-cycle schedule\n" if spec.schedule == "one_cycle" else "\n")
        + (f"MOMENTUM = {MOMENTUM!r}  # SGD's\n" if spec.optimizer == "nesterov" else "")
        + (f"WEIGHT_DECAY = {spec.weight_decay!r}  # AdamW's\n" if spec.optimizer == "adamw" else "")
        + (f"LABEL_SMOOTHING = {spec.label_smoothing!r}\n" if spec.loss == "one_hot" else "")
        + (f"BN_MOMENTUM = {BN_MOMENTUM!r}  # BatchNorm's; the default 0.99 leaves the inference statistics "
           f"behind in a one-epoch run\n" if batchnorm else "")
        + f"NUM_CLASSES = {NUM_CLASSES}\nINPUT_SHAPE = {INPUT_SHAPE}\n"
    )


def _model(spec, name, network):
    augmentation = (
        "        # augmentation: active only in training (fit), so evaluate() sees the digits as they are;\n"
        "        # its own seed keeps the network's initial weights those of the lab's\n"
        f"        RandomDistortion(degrees={_RANGES['max_degrees'].default}, zoom={_RANGES['max_zoom'].default}, "
        f"shift={_RANGES['max_shift'].default}, seed=SEED),\n"
    )
    return (
        (DISTORTION_LAYER if spec.augment else "")
        + "keras.utils.set_random_seed(SEED)  # the same initial weights, order of images and dropout every run\n"
        "model = keras.Sequential(\n    [\n        keras.Input(shape=INPUT_SHAPE),\n"
        + (augmentation if spec.augment else "")
        + "".join(_layer_lines(network))
        + f"    ],\n    name={json.dumps(name)},\n)\nmodel.summary()\n"
    )


def _header(spec, name):
    what = f"the `{name}` architecture" if name != CUSTOM else "a design of your own"
    # JSON may break between any two tokens, and the spec's strings hold no spaces: the wrapped lines still parse
    design = textwrap.fill(spec.to_json(), 116, break_long_words=False, break_on_hyphens=False)
    return (
        f'"""MNIST: {what} of the MNIST CNN lab, trained as the lab trains it.\n\n'
        "The same network, compiled the same way, trained with the same recipe, learning-rate schedule, validation\n"
        "split and seed. Keras and NumPy only: run it as it is (`python thisfile.py`) or cell by cell in a notebook\n"
        "(each `# %%` starts a cell). The last line it prints is the test accuracy.\n\n"
        "The design, for the lab's `--spec` (python -m mnist_cnn train --spec DESIGN.json):\n"
        f'{design}\n"""\n'
    )


def _section(title, *notes):
    lines = "".join(f"# {note}\n" for note in notes)
    return f"\n# %% [markdown]\n# ## {title}\n{lines}\n# %%\n"


def _model_notes(spec, name):
    blocks = len(spec.blocks)
    if name != CUSTOM:
        description = ARCHS[name].description
        own_rate = ARCHS[name].spec.learning_rate
        rate = f" (here at learning rate {spec.learning_rate!r})" if spec.learning_rate != own_rate else ""
        notes = [description[0].upper() + description[1:] + rate]
    else:
        notes = [f"{blocks} convolution block{'s' if blocks > 1 else ''}, then the head and a softmax over the digits."]
    if spec.augment:
        notes.append("Augmentation (RandomDistortion): a random stroke thickness, rotation, zoom and shift for every")
        notes.append("training image, drawn as the lab's own training draws them.")
    return notes


def _layer_lines(network):
    """The network's layers as code, one a line, with a comment where each block begins."""
    lines, group = [], None
    for layer in network:
        here = block_of(layer.name)
        if here != group:
            group = here
            lines.append(f"        # {here.replace('block', 'block ')}\n")
        lines.append(f"        {_layer_code(layer)},\n")
    return lines


def _layer_code(layer):
    """One layer of spec_layers() as the call that makes it (its name aside), in the arguments a person writes."""
    kind = type(layer).__name__
    activation = layer.get_config().get("activation", "linear")
    if isinstance(layer, layers.Conv2D):
        args = [str(layer.filters), f"kernel_size={_side(layer.kernel_size)}"]
        args += [f"strides={_side(layer.strides)}"] if layer.strides != (1, 1) else []
        args += [f'padding="{layer.padding}"'] if layer.padding != "valid" else []
        args += [] if layer.use_bias else ["use_bias=False"]
        args += [f'activation="{activation}"'] if activation != "linear" else []
    elif isinstance(layer, (layers.MaxPooling2D, layers.AveragePooling2D)):
        args = [f"pool_size={_side(layer.pool_size)}"]
    elif isinstance(layer, layers.BatchNormalization):
        args = ["momentum=BN_MOMENTUM"]
    elif isinstance(layer, layers.Activation):
        args = [f'"{activation}"']
    elif isinstance(layer, layers.Dropout):
        args = [repr(layer.rate)]
    elif isinstance(layer, layers.Dense):
        args = ["NUM_CLASSES" if layer.name == "output" else str(layer.units), f'activation="{activation}"']
    elif isinstance(layer, (layers.ReLU, layers.Flatten, layers.GlobalAveragePooling2D)):
        args = []
    else:  # a layer spec_layers() has learnt to make: it needs its line here
        raise DesignError(f"cannot write a {kind} layer as code yet", block_of(layer.name))
    return f"layers.{kind}({', '.join(args)})"


def _side(pair):
    return str(pair[0]) if pair[0] == pair[1] else str(tuple(pair))


def _compile_notes(spec):
    if spec.schedule == "constant":
        return ["A constant learning rate."]
    return [f"One-cycle: the learning rate warms up from {WARMUP_START:.0%} of its peak to the peak over the first "
            f"{WARMUP:.0%} of the steps,",
            "then follows a cosine down to 0 by the last step (Keras' CosineDecay with a warm-up)."]


def _compile(spec):
    code = ""
    rate = "LEARNING_RATE"
    if spec.schedule == "one_cycle":
        rate = "schedule"
        code = (
            "# the steps fit() will take: the images left after the validation split, in batches, every epoch\n"
            "steps = EPOCHS * math.ceil(math.floor(len(x_train) * (1 - VALIDATION_SPLIT)) / BATCH_SIZE)\n"
            f"warmup_steps = {WARMUP} * steps\n"
            "schedule = keras.optimizers.schedules.CosineDecay(\n"
            f"    initial_learning_rate={WARMUP_START} * LEARNING_RATE,\n"
            "    decay_steps=steps - warmup_steps,\n"
            "    warmup_target=LEARNING_RATE,\n"
            "    warmup_steps=warmup_steps,\n"
            ")\n"
        )
    loss = ("keras.losses.SparseCategoricalCrossentropy()" if spec.loss == "sparse" else
            "keras.losses.CategoricalCrossentropy(label_smoothing=LABEL_SMOOTHING)")
    return code + (
        "model.compile(\n"
        f"    optimizer={OPTIMIZERS[spec.optimizer].format(rate=rate)},\n"
        f"    loss={loss},\n"
        '    metrics=["accuracy"],\n'
        ")\n"
    )
