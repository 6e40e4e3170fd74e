"""Teaching that takes at once: taught drawings kept inside the model as prototypes, made of Keras' own layers.

A model with a memory ends in a small Functional head, `memory`, in place of its final Dense layer (`output`):

    features ─┬─ output (the network's own logits, its Dense made linear) ─────────────────┐
              └─ UnitNormalization ─ memory_similarity ─ memory_votes (each prototype's vote) ─ Add ─ softmax

`memory_similarity` holds one unit per taught drawing: its kernel is the drawing's penultimate-layer features,
unit length, so the unit computes the cosine similarity of a new image's features to it, less its threshold (its
bias: SIMILARITY, or higher where MNIST images of other digits come as close, see remember), through a ReLU.
`memory_votes` adds WEIGHT times that to the logit of the drawing's digit. An image unlike every taught drawing
gets the network's answer unchanged; one like a taught drawing leans towards its label at once, with no training.
Both layers are frozen: training changes the network, never the memory. Everything is plain Dense,
UnitNormalization, Add and Activation weights, so predict_proba, a saved `.keras` (vetted like any), the CLI and the
app all see it. teaching.fine_tune() is what calls remember().
"""

import keras
import numpy as np

from .data import NUM_CLASSES, as_input
from .evaluation import predict_proba
from .limits import MAX_PARAMS
from .state import forget_traces
from .training import model_lock

NAME = "memory"
# Swept at once on 12 synthetic writers (5 taught per digit, 20 others per digit read; BENCHMARKS.md,
# "Teaching at once"): SIMILARITY 0.7 with WEIGHT 40 read 99.6 % of their other drawings (the
# network: 93 %) for 0.02 MNIST test points on average, 0.17 at worst; 0.6 cost up to 1.5 points, 0.85 left 9s at
# 91 %. With 40, a corrected drawing drawn again gets 12 logits towards its label.
SIMILARITY = 0.7  # below this a taught drawing has no say
WEIGHT = 40.0  # logits added per unit of similarity above SIMILARITY
MAX_MEMORY = 100  # prototypes kept at most: 1.3 MB of float32 for the shipped model's 3,200 features each
# A flagged 1 taught is close to some MNIST 7s: at SIMILARITY alone, one writer's 1s took 17 of MNIST's test 7s
# (0.17 points), and 0.41 after "Teach the model". Each prototype's threshold raised to the closest of this many
# replayed MNIST images of another digit took that to 0.00 / 0.21 and read the writers' own drawings as before
# (12 writers taught: 99.67 -> 99.63 %, one writer 0.5 points lower; BENCHMARKS.md "Teaching at once"); 4,096 take
# ~0.4 s to embed here.
AGAINST = 4096


def remember(model: keras.Model, images: np.ndarray, labels: np.ndarray,
             against: tuple[np.ndarray, np.ndarray] | None = None) -> int:
    """Make the drawings `images` (N, 28, 28[, 1], in [0, 1]) with `labels` the model's memory, in place,
    replacing any it had; return how many it keeps (0 for a model not made by build_model, or with no room: no memory).

    At most MAX_MEMORY are kept, and no more than the parameter limit leaves room for: those the network itself
    reads least surely (its probability of the drawing's label, lowest first). No drawings: no memory.
    `against`: MNIST training (images, labels); up to AGAINST of them raise each drawing's threshold to the
    closest one of another digit, so that the memory leaves MNIST's own conventions alone.
    """
    x, y = as_input(images), np.asarray(labels).astype(np.int64)
    if len(x) != len(y):
        raise ValueError(f"{len(x)} images but {len(y)} labels")
    if against is not None and len(against[0]) != len(against[1]):
        raise ValueError(f"against has {len(against[0])} images but {len(against[1])} labels")
    forget(model)
    output = model.layers[-1] if isinstance(model, keras.Sequential) and model.layers else None
    if not len(x) or not isinstance(output, keras.layers.Dense) or output.activation is not keras.activations.softmax:
        return 0  # nothing to keep, or a model of another shape: teaching is then the fine-tune alone
    features = output.kernel.shape[0]
    room = (MAX_PARAMS - model.count_params()) // (features + 1 + NUM_CLASSES)
    keep = min(len(x), MAX_MEMORY, room)
    if keep < 1:
        return 0  # a design at the parameter limit has no room for one: teaching is then the fine-tune alone
    sure = predict_proba(model, x)[np.arange(len(y)), y]
    kept = np.sort(np.argsort(sure, kind="stable")[:keep])
    embedding = _embedding(model, x[kept])
    thresholds = np.full(keep, SIMILARITY, np.float32)
    if against is not None and len(against[0]):
        picked = np.random.default_rng(0).permutation(len(against[0]))[:AGAINST]
        others = _unit(_embedding(model, as_input(against[0][picked]))) @ _unit(embedding).T
        others[np.asarray(against[1])[picked][:, None] == y[kept][None, :]] = -1  # the same digit may come close
        thresholds = np.maximum(thresholds, others.max(axis=0))
    with model_lock(model):  # a save or a batch on another thread sees the model before or after, never between
        model.pop()
        # The one change to a Keras layer: `output` keeps its weights (and its place in the optimizer) as the
        # head's logits; its softmax moves to the end of the head. forget() puts it back.
        output.activation = keras.activations.linear
        model.add(_head(output, embedding, y[kept], thresholds))
        _rebuilt(model)
    return keep


def forget(model: keras.Model) -> None:
    """Take the model's memory away, in place: its final Dense layer gives probabilities again."""
    if not has_memory(model):
        return
    with model_lock(model):
        output = _logits(model.pop())
        output.activation = keras.activations.softmax
        model.add(output)
        _rebuilt(model)


def has_memory(model: keras.Model) -> bool:
    return bool(model.layers) and model.layers[-1].name == NAME and isinstance(model.layers[-1], keras.Model)


def remembered(model: keras.Model) -> int:
    """How many taught drawings the model's memory holds (0: none)."""
    return model.layers[-1].get_layer("memory_similarity").units if has_memory(model) else 0


def network_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The model's layers as they are without its memory: the design's, the final Dense `output` last."""
    if not has_memory(model):
        return list(model.layers)
    return [*model.layers[:-1], _logits(model.layers[-1])]


def memory_params(model: keras.Model) -> int:
    """The parameters the memory adds to the network's."""
    head = model.layers[-1] if has_memory(model) else None
    return 0 if head is None else head.count_params() - _logits(head).count_params()


def _logits(head):
    """The network's final Dense layer inside a memory head: the one Dense that is not the memory's."""
    return next(layer for layer in head.layers
                if isinstance(layer, keras.layers.Dense) and not layer.name.startswith(NAME))


def _embedding(model, x):
    """The input of the final Dense layer for each image, in inference mode."""
    features = keras.Sequential(model.layers[:-1])
    return np.concatenate([features(x[i : i + 256], training=False).numpy() for i in range(0, len(x), 256)])


def _unit(vectors):
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def _head(output, embedding, labels, thresholds):
    """The memory head around `output` (now linear), its prototypes `embedding` with `labels`, each voting above
    its threshold of similarity."""
    count, features = embedding.shape
    inputs = keras.Input((features,), name="memory_features")
    logits = output(inputs)
    similarity = keras.layers.Dense(count, activation="relu", trainable=False, name="memory_similarity")
    votes = keras.layers.Dense(NUM_CLASSES, use_bias=False, trainable=False, name="memory_votes")
    scores = votes(similarity(keras.layers.UnitNormalization(name="memory_unit")(inputs)))
    answer = keras.layers.Activation("softmax", name="memory_answer")(keras.layers.Add(name="memory_add")(
        [logits, scores]))
    head = keras.Model(inputs, answer, name=NAME)
    similarity.set_weights([_unit(embedding).T, -thresholds])
    votes.set_weights([WEIGHT * np.eye(NUM_CLASSES, dtype=np.float32)[labels]])
    return head


def _rebuilt(model):
    """After the layers change: Keras' traced steps and this project's traced calls are made again."""
    model.make_train_function(force=True)
    model.make_test_function(force=True)
    model.make_predict_function(force=True)
    forget_traces(model)
