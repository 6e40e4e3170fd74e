"""Predictions and test metrics, from one compiled forward pass."""

import weakref
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from .data import INPUT_SHAPE, NUM_CLASSES, as_input, as_labels
from .state import state_of

CHUNK = 256  # images per forward call: a wide model's activations stay ~25 MB, and calls stay few


@dataclass(frozen=True)
class Evaluation:
    loss: float  # mean cross-entropy
    accuracy: float
    per_class: np.ndarray  # (NUM_CLASSES,) accuracy on each true digit
    confusion: np.ndarray  # (NUM_CLASSES, NUM_CLASSES) counts, rows the true digit, columns the predicted one
    proba: np.ndarray  # (N, NUM_CLASSES) predicted probabilities

    @property
    def predicted(self) -> np.ndarray:
        return self.proba.argmax(axis=1)


def predict_proba(model: keras.Model, images: np.ndarray) -> np.ndarray:
    """Probabilities (N, 10) for (N,28,28) or (N,28,28,1) images in [0,1] (or uint8)."""
    x = as_input(images)
    forward = _forward(model)
    chunks = [forward(tf.constant(x[i : i + CHUNK])).numpy() for i in range(0, len(x), CHUNK)]
    return np.concatenate(chunks) if chunks else np.zeros((0, NUM_CLASSES), np.float32)


def _forward(model):
    """The model's inference call, traced once per model: ~1 ms per image where model.predict costs ~70 ms."""
    state = state_of(model)
    if state.forward is None:
        this = weakref.ref(model)  # the state must not hold its model (state.py)
        state.forward = tf.function(
            lambda x: this()(x, training=False),
            input_signature=[tf.TensorSpec((None, *INPUT_SHAPE), tf.float32)],
        )
    return state.forward


def evaluate(model: keras.Model, x: np.ndarray, y: np.ndarray) -> Evaluation:
    """Loss, accuracy, per-class accuracy, confusion matrix and every probability, in one pass over x."""
    proba = predict_proba(model, x)
    labels = as_labels(y, len(proba), one_hot=False)
    predicted = proba.argmax(axis=1)
    confusion = np.bincount(labels * NUM_CLASSES + predicted, minlength=NUM_CLASSES**2).reshape(NUM_CLASSES, -1)
    per_digit = confusion.sum(axis=1)
    loss = keras.losses.sparse_categorical_crossentropy(labels, proba)  # clips as training does
    return Evaluation(
        loss=float(np.mean(loss)) if len(labels) else float("nan"),
        accuracy=float(np.mean(predicted == labels)) if len(labels) else float("nan"),
        per_class=np.divide(np.diag(confusion), per_digit, out=np.full(NUM_CLASSES, np.nan), where=per_digit > 0),
        confusion=confusion,
        proba=proba,
    )

