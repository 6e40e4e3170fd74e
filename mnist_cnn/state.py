"""What the project keeps about each model beside Keras' own attributes, in one place.

Held in a WeakKeyDictionary, not on the model: Keras' attribute tracking never sees it, and it goes with the
model. Nothing in it may refer to the model itself, or the entry would keep its key alive.
"""

import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field

import keras


@dataclass
class ModelState:
    log: list[dict[str, float]] = field(default_factory=list)  # one record per epoch trained; saved in its file
    spec: object | None = None  # the design it was built from (spec.Spec), saved in its file; None: unknown
    # held while a batch changes the weights: saving takes it too, so a file never mixes two steps
    lock: threading.RLock = field(default_factory=threading.RLock)
    forward: Callable | None = None  # the traced inference call (evaluation.predict_proba)
    # explanation.py's traced calls, each made on first use
    embedding: Callable | None = None  # images -> the final Dense layer's input
    attribution: dict[int, Callable] = field(default_factory=dict)  # integrated gradients, per number of targets
    activations: Callable | None = None  # an image -> each convolution block's feature maps
    # explain.NeighbourIndex for the weights and images last asked for: one at a time (~8 MB for 60,000 images)
    neighbours: object | None = None
    neighbours_lock: threading.Lock = field(default_factory=threading.Lock)  # two sessions asking build it once


_STATES: "weakref.WeakKeyDictionary[keras.Model, ModelState]" = weakref.WeakKeyDictionary()
_CREATING = threading.Lock()  # two threads asking for a new model's state get the same one


def state_of(model: keras.Model) -> ModelState:
    """This model's state, created empty on first use."""
    with _CREATING:
        state = _STATES.get(model)
        if state is None:
            state = _STATES[model] = ModelState()
        return state


def forget_traces(model: keras.Model) -> None:
    """Drop the model's traced calls and neighbour index, after its layers changed (memory.py): made anew on use."""
    state = state_of(model)
    with state.neighbours_lock:
        state.forward = state.embedding = state.activations = state.neighbours = None
        state.attribution = {}
