"""Why the model gave an answer: pixel attributions, the nearest training images, each block's feature maps.

Everything traced or built here is kept in the model's state.py entry, never on the model, and holds the model
only through a weakref: a dropped model frees it all.
"""

import weakref
from collections.abc import Iterator
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from .data import INPUT_SHAPE, NUM_CLASSES, as_images, as_input, as_labels
from .evaluation import CHUNK, predict_proba
from .memory import network_layers
from .state import state_of

# Integrated gradients of the target's logit, the final Dense layer's pre-softmax output: unlike the probability
# it does not saturate (at 0.9 confidence a probability's gradient is flat over most of the path, and a runner-up's
# probability of ~0.01 leaves it no visible evidence), and the logits are what tell the digits apart.
# Midpoints of this many equal steps from black to the image: the model is piecewise linear (conv, BatchNorm,
# ReLU, max-pool, Dense), so the gradient along the path jumps and the sum's error shrinks like 1/steps. On 20
# of the shipped model's test digits its largest miss was 0.29 logits at 32 steps, 0.10 at 64, 0.04 at 128;
# two digits at 128 steps take 36 ms (p50) on a 2-core CPU (bench/run.py --only explain).
IG_STEPS = 128
# the attributions' sum is within this of logit(image) - logit(black): at 128 steps the largest miss on 300 test
# digits (the answer and the runner-up, 600 sums) was 0.066 for the shipped model and 0.043 for a `default` one,
# against a median difference of 2.4 logits
COMPLETENESS_TOLERANCE = 0.1
# The index keeps this many principal components of the penultimate layer: the shipped model's 3,200 features
# become 32 (60,000 images: 732 MB -> 7.3 MB). The 8 neighbours' majority is the true label for 99.55 % of the
# 10,000 test digits on 32 components, 99.60 % on 64, 99.42 % on 16; on the raw features 99.27 % (of 3,000).
INDEX_DIMS = 32
PCA_SAMPLE = 2048  # embeddings the projection is fitted on: 1,024 to 20,000 gave the same accuracy (+-0.1 %)
# randomized SVD (Halko et al.): ~0.05 s, where numpy's exact SVD of 2,048 x 3,200 took 11 s beside TensorFlow
PCA_OVERSAMPLE, PCA_POWER_STEPS = 10, 2
SEED = 0  # the sample the projection is fitted on: the same images give the same index
CONVOLUTIONS = (keras.layers.Conv2D, keras.layers.SeparableConv2D, keras.layers.DepthwiseConv2D)
ACTIVATIONS = (keras.layers.ReLU, keras.layers.Activation, keras.layers.LeakyReLU, keras.layers.ELU)
SPATIAL = (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D, keras.layers.BatchNormalization,
           keras.layers.ZeroPadding2D, keras.layers.Dropout, keras.layers.SpatialDropout2D, *ACTIVATIONS)


@dataclass(frozen=True)
class Neighbours:
    indices: np.ndarray  # (k,) int, into the images the index was built from
    labels: np.ndarray  # (k,) int
    distances: np.ndarray  # (k,) float32, ascending


@dataclass(frozen=True)
class Explanation:
    proba: np.ndarray  # (10,) the model's probabilities for the image
    target: int  # the digit explained (default: the predicted one)
    runner_up: int  # the most likely other digit
    attribution: np.ndarray  # (28, 28) float32: how much each pixel pushed the answer towards `target`
    runner_up_attribution: np.ndarray  # (28, 28) float32, the same for `runner_up`
    neighbours: Neighbours | None  # None when no index is given
    activations: tuple[tuple[str, np.ndarray], ...]  # (block name, (H, W, C) feature maps) per convolution block


class NeighbourIndex:
    """The embeddings of a set of images under one model state, projected on their principal components."""

    def __init__(self, model, mean, components, embeddings, labels, key):
        self._model = weakref.ref(model)  # which model's embeddings it takes (the state holds the index)
        self.mean, self.components = mean, components  # (D,), (D, dims): raw embedding -> index space
        self.embeddings, self.labels = embeddings, labels  # (N, dims) float32, (N,) uint8
        self._norms = np.einsum("ij,ij->i", embeddings, embeddings)  # |e|^2, for distances by one product
        self._key = key  # (training step, images, labels) it was built for: see neighbour_index()

    def __len__(self) -> int:
        return len(self.embeddings)

    @property
    def nbytes(self) -> int:
        """Bytes held: the projected embeddings, labels, norms and the projection."""
        return sum(a.nbytes for a in (self.embeddings, self.labels, self._norms, self.mean, self.components))

    def query(self, embedding: np.ndarray, k: int = 8) -> Neighbours:
        """The k nearest images to one image's raw embedding (embed(model, image[None])[0]), nearest first."""
        e = np.asarray(embedding, np.float32).reshape(-1)
        if e.shape != self.mean.shape:
            raise ValueError(f"expected one embedding of {len(self.mean)} features, got shape {np.shape(embedding)}")
        if not 1 <= k <= len(self):
            raise ValueError(f"k must be between 1 and {len(self)}, got {k!r}")
        # einsum, not `@`: numpy's BLAS wakes a second thread for these, and on a busy 2-core machine that
        # waits out a scheduler slice, up to 8 ms a product; einsum's one thread takes 0.4 ms for 60,000 x 32
        q = np.einsum("dk,d->k", self.components, e - self.mean)
        rough = self._norms - 2 * np.einsum("nk,k->n", self.embeddings, q)  # |e - q|^2 - |q|^2: the same order
        nearest = np.argpartition(rough, k - 1)[:k]
        # exact distances for the k found: the expanded square loses ~1e-3 to cancellation near 0
        distances = np.linalg.norm(self.embeddings[nearest] - q, axis=1).astype(np.float32)
        order = np.argsort(distances, kind="stable")
        return Neighbours(nearest[order].astype(np.int64), self.labels[nearest[order]].astype(np.int64),
                          distances[order])

    def _matches(self, key) -> bool:
        step, images, labels = self._key
        return step == key[0] and images() is key[1] and labels() is key[2]


def embed(model: keras.Model, images: np.ndarray) -> np.ndarray:
    """(N, D) penultimate-layer embedding (the final Dense layer's input) of (N,28,28[,1]) images, in chunks."""
    chunks = [chunk.numpy() for chunk in _embeddings(model, images)]
    return np.concatenate(chunks) if chunks else np.zeros((0, _classifier(model).kernel.shape[0]), np.float32)


def neighbour_index(model: keras.Model, images: np.ndarray, labels: np.ndarray, *,
                    build: bool = True) -> NeighbourIndex | None:
    """The index of `images` under the model's current weights: built on the first call, then the same object
    until the model trains again (its optimizer's step moves) or other arrays are passed. With build=False, the
    index if it is up to date, else None (a caller can then build it elsewhere, on a worker).

    Keyed on the arrays' identity: pass the same arrays each time. Two threads asking at once build it once.
    """
    if not isinstance(images, np.ndarray) or not isinstance(labels, np.ndarray):
        raise ValueError("images and labels must be numpy arrays (the index is cached by their identity)")
    state = state_of(model)
    with state.neighbours_lock:
        # the step before building: if training moves it meanwhile, the next call builds again
        key = (_step(model), images, labels)
        if state.neighbours is None or not state.neighbours._matches(key):
            if not build:
                return None
            state.neighbours = None  # the old index goes before the new one is built: one in memory at a time
            state.neighbours = _build_index(model, images, labels, key)
        return state.neighbours


def attribute(model: keras.Model, image: np.ndarray, target: int) -> np.ndarray:
    """(28, 28) integrated gradients of `target`'s logit (the final Dense layer's pre-softmax output) from a
    black image: each pixel's share of logit(image) - logit(black)."""
    return _attributions(model, _one_image(image), [_digit(target, "target")])[0]


def explain(model: keras.Model, image: np.ndarray, *, k: int = 8, target: int | None = None,
            index: NeighbourIndex | None = None) -> Explanation:
    """Why `model` answers what it does for one (28, 28) image (float in [0, 1], or uint8).

    Attributions for `target` (default: the predicted digit) and the runner-up, the k nearest images in
    `index` (from neighbour_index() for this model; none without it) and each convolution block's maps.
    """
    x = _one_image(image)
    if index is not None and index._model() is not model:
        raise ValueError("this index was built for another model: get this model's from neighbour_index()")
    proba = predict_proba(model, x[None])[0]  # the answer the app shows, through its own traced call
    target = int(proba.argmax()) if target is None else _digit(target, "target")
    runner_up = int(next(d for d in np.argsort(-proba, kind="stable") if d != target))
    attribution, runner_up_attribution = _attributions(model, x, [target, runner_up])
    return Explanation(
        proba=proba,
        target=target,
        runner_up=runner_up,
        attribution=attribution,
        runner_up_attribution=runner_up_attribution,
        neighbours=index.query(embed(model, x[None])[0], k) if index is not None else None,
        activations=_block_maps(model, x),
    )


def _block_maps(model, x):
    """Each convolution block's output for one image: ("block 1 (32 maps, 28x28)", (H, W, C) array), ..."""
    maps = _activations(model)(tf.constant(x[None]))
    return tuple(
        (f"block {i} ({m.shape[-1]} maps, {m.shape[1]}x{m.shape[2]})", m.numpy()[0]) for i, m in enumerate(maps, 1)
    )


def _one_image(image):
    x = np.asarray(image)
    if x.shape not in (INPUT_SHAPE[:2], INPUT_SHAPE):
        raise ValueError(f"expected one image of shape (28, 28) or (28, 28, 1), got shape {x.shape}")
    x = as_input(x[None])[0]
    if not np.all(np.isfinite(x)) or x.min() < 0 or x.max() > 1:
        raise ValueError("expected pixel values in [0, 1] (or a uint8 image in 0..255)")
    return x


def _digit(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 <= value < NUM_CLASSES:
        raise ValueError(f"{name} must be a digit 0..9, got {value!r}")
    return int(value)


def _step(model):
    optimizer = getattr(model, "optimizer", None)
    return int(optimizer.iterations) if optimizer is not None else 0


# --- the model's parts, found once per trace -----------------------------------------------------------------


def _classifier(model):
    """The final Dense layer: its input is the embedding, its pre-activation the logits."""
    layers = _layers(model)
    last = next((i for i in range(len(layers) - 1, -1, -1) if isinstance(layers[i], keras.layers.Dense)), None)
    if last is None or any(layer.weights for layer in layers[last + 1 :]):
        raise ValueError("explaining needs a model whose last layer with weights is a Dense layer (its logits)")
    return layers[last]


def _layers(model):
    """The network's layers: a memory's prototypes (memory.py) explain nothing, its final Dense the logits."""
    return [layer for layer in network_layers(model) if not isinstance(layer, keras.layers.InputLayer)]


def _blocks(layers):
    """The index of each convolution block's output in `layers`: the last activation after a convolution,
    before the next convolution or the end of the spatial layers; the convolution's own when there is none."""
    outputs = []
    for i, layer in enumerate(layers):
        if not isinstance(layer, CONVOLUTIONS):
            continue
        out = i
        for j in range(i + 1, len(layers)):
            if not isinstance(layers[j], SPATIAL):
                break
            if isinstance(layers[j], ACTIVATIONS):
                out = j
        outputs.append(out)
    return outputs


def _features(model, x, collect=()):
    """The embedding of a batch and the outputs of the layers at the indices in `collect`, in inference mode."""
    layers = _layers(model)
    head = layers.index(_classifier(model))
    if not isinstance(model, keras.Sequential):  # a graph: Keras runs it
        part = keras.Model(model.inputs, [layers[head].input, *(layers[i].output for i in collect)])
        outputs = part(x, training=False)
        embedding, *maps = outputs if isinstance(outputs, (list, tuple)) else [outputs]  # one output comes bare
        return embedding, maps
    maps, i = [], 0
    while i < head:
        layer, after = layers[i], layers[i + 1]
        if _foldable(layer, after) and i not in collect:
            x, i = _folded(layer, after, x), i + 2  # shipped model, 60,000 images: 7.7 CPU-s, not 9.4
        else:
            x, i = layer(x, training=False), i + 1
        if i - 1 in collect:
            maps.append(x)
    return x, maps


def _foldable(conv, norm):
    """A plain Conv2D straight into BatchNormalization: in inference both are affine, so one convolution."""
    return (type(conv) is keras.layers.Conv2D and isinstance(norm, keras.layers.BatchNormalization)
            and conv.activation is keras.activations.linear and conv.groups == 1
            and conv.data_format == "channels_last" and norm.axis in (-1, 3))


def _folded(conv, norm, x):
    scale = tf.math.rsqrt(norm.moving_variance + norm.epsilon)
    scale = scale * norm.gamma if norm.scale else scale
    shift = ((conv.bias if conv.use_bias else 0.0) - norm.moving_mean) * scale
    shift = shift + norm.beta if norm.center else shift
    y = tf.nn.conv2d(x, conv.kernel * scale, conv.strides, conv.padding.upper(), dilations=conv.dilation_rate)
    return tf.nn.bias_add(y, shift)


# --- traced calls, kept in the model's state ---------------------------------------------------------------


def _embedding(model):
    state = state_of(model)
    if state.embedding is None:
        this = weakref.ref(model)  # the state must not hold its model (state.py)
        state.embedding = tf.function(
            lambda x: _features(this(), x)[0], input_signature=[tf.TensorSpec((None, *INPUT_SHAPE), tf.float32)]
        )
    return state.embedding


def _embeddings(model, images, order=None) -> Iterator[tf.Tensor]:
    """The embeddings of `images` (in `order` if given), one chunk at a time: uint8 images become float per chunk,
    never the whole set at once (60,000 images as float32: 188 MB)."""
    x = as_images(images)
    forward = _embedding(model)
    # the evaluation's chunk: chunks of 128 to 1,024 images built the shipped model's index in the same time
    # (4.2-4.4 s for 60,000) and the same peak memory
    for start in range(0, len(x), CHUNK):
        part = x[start : start + CHUNK] if order is None else x[order[start : start + CHUNK]]
        yield forward(tf.constant(as_input(part)))


def _attributions(model, x, targets):
    """(len(targets), 28, 28) integrated gradients for one image, every target in one traced call."""
    state = state_of(model)
    ig = state.attribution.get(len(targets))
    if ig is None:
        ig = state.attribution[len(targets)] = _traced_ig(weakref.ref(model), len(targets))
    return ig(tf.constant(x), tf.constant(targets, tf.int32)).numpy()


def _traced_ig(this, n_targets):
    alphas = tf.constant((np.arange(IG_STEPS) + 0.5) / IG_STEPS, tf.float32)  # midpoints

    @tf.function(input_signature=[tf.TensorSpec(INPUT_SHAPE, tf.float32), tf.TensorSpec((n_targets,), tf.int32)])
    def ig(image, targets):
        model = this()
        path = alphas[:, None, None, None] * image[None]
        # one forward pass along the path for every target: a target's logit is embedding . kernel[:, target]
        # (+ bias), so its gradient is the embedding's, weighted by that column: 18 ms for two targets at 64
        # steps, where a batch of both targets' paths took 23
        with tf.GradientTape(persistent=n_targets > 1) as tape:
            tape.watch(path)
            embedding = _features(model, path)[0]
        columns = tf.gather(_classifier(model).kernel, targets, axis=1)
        grads = [
            tape.gradient(embedding, path, output_gradients=tf.broadcast_to(columns[:, t], tf.shape(embedding)))
            for t in range(n_targets)
        ]
        return image[None, :, :, 0] * tf.reduce_mean(tf.stack(grads), axis=1)[..., 0]

    return ig


def _activations(model):
    state = state_of(model)
    if state.activations is None:
        this = weakref.ref(model)

        def maps(x):
            model = this()
            return _features(model, x, collect=_blocks(_layers(model)))[1]

        state.activations = tf.function(maps, input_signature=[tf.TensorSpec((None, *INPUT_SHAPE), tf.float32)])
    return state.activations


# --- the index -----------------------------------------------------------------------------------------------


def _build_index(model, images, labels, key):
    n = len(images)
    y = as_labels(labels, n, one_hot=False).astype(np.uint8)
    if n == 0:
        raise ValueError("an index needs at least one image")
    # a random sample fits the projection (the first images of a sorted set would not do); the images are
    # embedded in that order so the sample's embeddings are the first chunks, and nothing is embedded twice
    order = np.random.default_rng(SEED).permutation(n)
    chunks = _embeddings(model, images, order=order)
    sample, sampled = [], 0
    while sampled < min(PCA_SAMPLE, n):
        sample.append(next(chunks))
        sampled += len(sample[-1])
    sample = tf.concat(sample, axis=0)
    mean, components = _principal_components(sample, min(INDEX_DIMS, *sample.shape))
    projected = np.empty((n, components.shape[1]), np.float32)
    # in TensorFlow, as the embeddings come: numpy's BLAS beside TensorFlow's threads took 0.4-0.6 s per 20,000
    projected[order[:sampled]] = tf.matmul(sample - mean, components).numpy()
    del sample
    done = sampled
    for chunk in chunks:
        projected[order[done : done + len(chunk)]] = tf.matmul(chunk - mean, components).numpy()
        done += len(chunk)
    return NeighbourIndex(model, mean.numpy(), components.numpy(), projected, y,
                          (key[0], weakref.ref(images), weakref.ref(labels)))


def _principal_components(x, dims):
    """The mean (D,) and the top `dims` principal directions (D, dims) of the rows of x, by randomized SVD.

    In TensorFlow, by products and a small eigenproblem: the same in numpy, whose LAPACK threads contend with
    TensorFlow's, took 0.7-1.8 s against ~0.05 s.
    """
    mean = tf.reduce_mean(x, axis=0)
    centred = x - mean
    width = min(dims + PCA_OVERSAMPLE, *x.shape)
    y = centred @ tf.constant(np.random.default_rng(SEED).standard_normal((x.shape[1], width), dtype=np.float32))
    for _ in range(PCA_POWER_STEPS):  # power steps sharpen the subspace where the spectrum decays slowly
        y = centred @ tf.matmul(centred, tf.linalg.qr(y)[0], transpose_a=True)
    span = tf.matmul(tf.linalg.qr(y)[0], centred, transpose_a=True)  # (width, D), the rows' main directions
    # span = U S V^T: U and S^2 from the small Gram matrix, in float64 (squaring halves the digits)
    squares, u = tf.linalg.eigh(tf.cast(tf.matmul(span, span, transpose_b=True), tf.float64))
    u, singular = u[:, ::-1][:, :dims], tf.sqrt(tf.maximum(squares[::-1][:dims], 0.0))
    v = tf.math.divide_no_nan(tf.matmul(u, tf.cast(span, tf.float64), transpose_a=True), singular[:, None])
    return mean, tf.transpose(tf.cast(v, tf.float32))  # a direction with no variance stays 0
