"""Predictions and test metrics, from one compiled forward pass."""

from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from .data import as_input, as_labels

CHUNK = 256  # images per forward call: a wide model's activations stay ~25 MB, and calls stay few


@dataclass(frozen=True)
class Evaluation:
    loss: float  # mean cross-entropy
    accuracy: float
    per_class: np.ndarray  # (10,) accuracy on each true digit
    confusion: np.ndarray  # (10, 10) counts, rows the true digit, columns the predicted one
    proba: np.ndarray  # (N, 10) predicted probabilities

    @property
    def predicted(self):
        return self.proba.argmax(axis=1)


def predict_proba(model, images):
    """Probabilities (N, 10) for (N,28,28) or (N,28,28,1) images in [0,1] (or uint8)."""
    x = as_input(images)
    forward = _forward(model)
    chunks = [forward(tf.constant(x[i : i + CHUNK])).numpy() for i in range(0, len(x), CHUNK)]
    return np.concatenate(chunks) if chunks else np.zeros((0, 10), np.float32)


def _forward(model):
    """The model's inference call, traced once per model: ~1 ms per image where model.predict costs ~70 ms."""
    forward = model.__dict__.get("_mnist_forward")
    if forward is None:
        forward = tf.function(
            lambda x: model(x, training=False),
            input_signature=[tf.TensorSpec((None, 28, 28, 1), tf.float32)],
        )
        model.__dict__["_mnist_forward"] = forward  # lives and dies with the model
    return forward


def evaluate(model, x, y):
    """Loss, accuracy, per-class accuracy, confusion matrix and every probability, in one pass over x."""
    proba = predict_proba(model, x)
    labels = as_labels(y, len(proba), one_hot=False)
    predicted = proba.argmax(axis=1)
    confusion = np.bincount(labels * 10 + predicted, minlength=100).reshape(10, 10)
    per_digit = confusion.sum(axis=1)
    loss = keras.losses.sparse_categorical_crossentropy(labels, proba)  # clips as training does
    return Evaluation(
        loss=float(np.mean(loss)) if len(labels) else float("nan"),
        accuracy=float(np.mean(predicted == labels)) if len(labels) else float("nan"),
        per_class=np.divide(np.diag(confusion), per_digit, out=np.full(10, np.nan), where=per_digit > 0),
        confusion=confusion,
        proba=proba,
    )

