"""What a model costs, worked out from its Keras config alone, and the limits an MNIST CNN on the shared server
keeps. An uploaded `.keras` file (files.py) and a design from the lab's builder are held to them before Keras
builds anything: a 2 KB config declaring a Dense layer of millions of units took the server 8.8 GB to build.

Shapes come from each layer's own `compute_output_shape`, on layers made from their config but never built
(building makes the weights); the weights each layer would make are listed here, for the classes the upload
vetting allows (vetting.py).
"""

import math
from dataclasses import dataclass, replace

import keras

from .data import INPUT_SHAPE

# The limits, sized from the registry (models.py): its largest model has 392k parameters (deep_bn), its widest
# layer gives 25k values for an image (best's first convolution), and its models keep at most 138k values an
# image through a forward pass and take at most 13 MFLOPs an image (best).
MAX_LAYERS = 64  # Keras builds each layer in turn: a config of 100,000 layers is minutes of work
MAX_PARAMS = 1_000_000  # 4 MB of float32 weights, 12 MB with Adam's two slots: 8 own models stay ~100 MB
MAX_ACTIVATION = 28 * 28 * 64  # values one layer gives for one image: a 64-filter convolution at full size;
# a forward pass over 256 images (evaluation.CHUNK) then holds ~100 MB at its widest layer
MAX_ACTIVATIONS = 400_000  # values of every layer for one image, what training keeps for the backward pass
MAX_FLOPS = 50_000_000  # per image, 4x best's: the gallery's 10,000 test images then take ~10 s here (best: 2.4 s)
INPUT = (None, *INPUT_SHAPE)
BYTES = {"float16": 2, "bfloat16": 2, "float32": 4, "float64": 8}  # a variable's bytes by its dtype


class DesignError(ValueError):
    """A model that cannot be built or is over a limit; `layer` names the layer at fault (None: the whole)."""

    def __init__(self, message: str, layer: str | None = None):
        super().__init__(message)
        self.layer = layer


@dataclass(frozen=True)
class LayerCost:
    """One layer: the shape it gives (batch first), the weights it makes (shapes), FLOPs for one image."""

    name: str
    class_name: str
    output_shape: tuple[int | None, ...]
    weights: tuple[tuple[int, ...], ...]
    trainable: tuple[bool, ...]  # per weight: whether the optimizer keeps slots for it
    weight_bytes: int
    flops: int

    @property
    def params(self) -> int:
        return sum(math.prod(shape) for shape in self.weights)

    @property
    def activation(self) -> int:
        """Values this layer gives for one image."""
        return math.prod(self.output_shape[1:])


@dataclass(frozen=True)
class Cost:
    """A whole model's cost, layer by layer in the order Keras builds them (nested models' layers included); a
    layer called again is there again, with no weights of its own (it shares the first call's)."""

    layers: tuple[LayerCost, ...]

    @property
    def params(self) -> int:
        return sum(layer.params for layer in self.layers)

    @property
    def weight_bytes(self) -> int:
        return sum(layer.weight_bytes for layer in self.layers)

    @property
    def flops(self) -> int:
        return sum(layer.flops for layer in self.layers)

    @property
    def activations(self) -> int:
        return sum(layer.activation for layer in self.layers)

    @property
    def widest(self) -> LayerCost:
        return max(self.layers, key=lambda layer: layer.activation)


def model_cost(config: dict) -> Cost:
    """The cost of the model a Keras config (config.json, already vetted) describes; DesignError if it cannot be
    worked out (a shape that reaches 0, a layer that cannot take its input) or it takes other than one 28x28x1
    image. Nothing is built."""
    layers: list[LayerCost] = []
    try:
        shapes = _model(config, None, layers)
    except DesignError:
        raise
    except (TypeError, AttributeError, KeyError, IndexError, ValueError) as e:  # a config no Keras wrote
        raise DesignError(f"its config is malformed ({type(e).__name__}: {str(e)[:80]})") from None
    if not layers:
        raise DesignError("it has no layers")
    if len(shapes) != 1:
        raise DesignError(f"the model gives {len(shapes)} outputs; one of 10 digit probabilities is needed")
    return Cost(tuple(layers))


def check_limits(cost: Cost) -> None:
    """DesignError, naming the layer at fault, if `cost` is over a limit an MNIST CNN on this server keeps."""
    if cost.params > MAX_PARAMS:
        biggest = max(cost.layers, key=lambda layer: layer.params)
        raise DesignError(f"it has {cost.params:,} parameters, at most {MAX_PARAMS:,} (layer {biggest.name!r} "
                          f"alone has {biggest.params:,})", biggest.name)
    widest = cost.widest
    if widest.activation > MAX_ACTIVATION:
        raise DesignError(f"layer {widest.name!r} gives {widest.activation:,} values for one image "
                          f"{_shape(widest.output_shape)}, at most {MAX_ACTIVATION:,}", widest.name)
    if cost.activations > MAX_ACTIVATIONS:
        raise DesignError(f"its layers give {cost.activations:,} values for one image in all, at most "
                          f"{MAX_ACTIVATIONS:,} (the widest: {widest.name!r}, {widest.activation:,})", widest.name)
    if cost.flops > MAX_FLOPS:
        costliest = max(cost.layers, key=lambda layer: layer.flops)
        raise DesignError(f"it takes {cost.flops / 1e6:,.0f} MFLOPs an image, at most {MAX_FLOPS / 1e6:,.0f} "
                          f"(layer {costliest.name!r}: {costliest.flops / 1e6:,.0f})", costliest.name)


def _model(config, given, layers):
    """The output shapes of a Sequential or Functional config; its layers' costs appended to `layers`. `given`:
    the input shape a nested model is called on (None at the top)."""
    if not isinstance(config, dict) or not isinstance(config.get("config"), dict):
        raise DesignError("its config is not a Keras model")
    kind, inner = config.get("class_name"), config["config"]
    entries = inner.get("layers")
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise DesignError(f"its {kind} config has no list of layers")
    if kind == "Sequential":
        return [_sequential(config, entries, given, layers)]
    if kind == "Functional":
        return _functional(inner, entries, given, layers)
    raise DesignError(f"{kind!r} is not a Keras model class")


def _sequential(config, entries, given, layers):
    first = entries[0] if entries else {}
    if first.get("class_name") == "InputLayer":
        declared, entries = _input_shape(first), entries[1:]
    else:  # no InputLayer: what Keras built it on, when it was built
        build = config.get("build_config") or {}
        declared = tuple(build["input_shape"]) if isinstance(build.get("input_shape"), list) else given
    shape = _taken(declared, given)
    for entry in entries:
        shape = _layer(entry, [shape], layers)
    return shape


def _functional(inner, entries, given, layers):
    outputs = {}  # (layer name, node index) -> shape
    for entry in entries:
        name = entry.get("name", entry.get("config", {}).get("name"))
        if entry.get("class_name") == "InputLayer":
            outputs[(name, 0)] = _taken(_input_shape(entry), given)
            continue
        nodes = entry.get("inbound_nodes")
        if not isinstance(nodes, list) or not nodes:
            raise DesignError(f"layer {name!r} is called on nothing", name)
        for index, node in enumerate(nodes):
            refs = _history(node)
            missing = [ref for ref in refs if ref not in outputs]
            if not refs or missing:
                raise DesignError(f"layer {name!r} takes the output of a layer not before it ({missing})", name)
            shapes = [outputs[ref] for ref in refs]
            outputs[(name, index)] = _layer(entry, shapes, layers, first=index == 0)
    ends = inner.get("output_layers")
    ends = [ends] if isinstance(ends, list) and ends and isinstance(ends[0], str) else ends
    try:
        return [outputs[(end[0], end[1])] for end in ends]
    except (KeyError, TypeError, IndexError):
        raise DesignError(f"its outputs {str(ends)[:80]} are not layers of the model") from None


def _history(node):
    """The (layer, node) pairs a Keras 3 inbound node takes, from its `__keras_tensor__` markers."""
    refs, stack = [], [node]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            history = value.get("config", {}).get("keras_history") if value.get("class_name") == "__keras_tensor__" \
                else None
            if isinstance(history, list) and len(history) == 3:
                refs.append((history[0], history[1]))
            else:
                stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(reversed(value))
    return refs


def _input_shape(entry):
    config = entry.get("config", {})
    shape = config.get("batch_shape", config.get("batch_input_shape"))
    return tuple(shape) if isinstance(shape, list) else None


def _taken(declared, given):
    """The input shape: a nested model's is what it is called on; the model's own must be one 28x28x1 image."""
    if given is not None:
        return given
    if declared != INPUT:
        shown = [declared[1:]] if declared else "no fixed input"
        raise DesignError(f"it must take one {INPUT_SHAPE} image input, it takes {shown}")
    return declared


def _layer(entry, shapes, layers, first=True):
    """The shape `entry` gives on `shapes`; its cost appended to `layers`: every call's activations and FLOPs, the
    weights at the `first` call only (a layer called 300 times costs 300 times the work, with one set of weights)."""
    name = entry.get("config", {}).get("name", "?") if isinstance(entry.get("config"), dict) else "?"
    if len(layers) >= MAX_LAYERS:
        raise DesignError(f"it has more than {MAX_LAYERS} layers (calls of a layer count each)", name)
    if entry.get("class_name") in ("Sequential", "Functional"):
        if len(shapes) != 1:
            raise DesignError(f"model {name!r} takes {len(shapes)} inputs; one is supported", name)
        before = len(layers)
        out = _model(entry, shapes[0], layers)
        if not first:
            layers[before:] = [replace(cost, weights=(), trainable=(), weight_bytes=0) for cost in layers[before:]]
        return out[0]
    try:
        layer = keras.layers.deserialize({key: entry[key] for key in ("module", "class_name", "config",
                                                                     "registered_name") if key in entry})
        shape = tuple(layer.compute_output_shape(shapes[0] if len(shapes) == 1 else shapes))
        weights, trainable = _weights(layer, shapes[0])
        if not all(isinstance(d, int) and d >= 0 for w in weights for d in w):
            raise ValueError(f"its weights would have shapes {weights}")
    except Exception as e:  # Keras says why: a negative size, a reshape that does not fit, a bad argument
        reason = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
        raise DesignError(f"layer {name!r} ({entry.get('class_name')}) cannot take {_shape(shapes[0])}: {reason}",
                          name) from None
    if any(d is not None and d < 1 for d in shape[1:]) or None in shape[1:]:
        raise DesignError(f"layer {name!r} ({entry.get('class_name')}) gives {_shape(shape)}: a size reaches 0",
                          name)
    bytes_ = BYTES.get(getattr(layer, "variable_dtype", "float32"), 4)
    # a weight of two or more dimensions is applied at every output position (a kernel); the rest once per value
    positions = math.prod(shape[1:-1]) if len(shape) > 2 else 1
    flops = sum(2 * math.prod(w) * positions for w in weights if len(w) > 1) or math.prod(shape[1:])
    if not first:
        weights, trainable = (), ()
    layers.append(LayerCost(layer.name, type(layer).__name__, shape, weights, trainable,
                            bytes_ * sum(math.prod(w) for w in weights), flops))
    return shape


def _weights(layer, shape):
    """The shapes of the weights `layer` makes when built on `shape`, in Keras' order, and which are trained."""
    kind, channels = type(layer).__name__, shape[-1]
    bias = [(layer.filters,)] if getattr(layer, "use_bias", False) and hasattr(layer, "filters") else []
    if kind == "Conv2D":
        return _all_trained([(*layer.kernel_size, channels // layer.groups, layer.filters), *bias])
    if kind == "SeparableConv2D":
        inner = channels * layer.depth_multiplier
        return _all_trained([(*layer.kernel_size, channels, layer.depth_multiplier), (1, 1, inner, layer.filters),
                             *bias])
    if kind == "DepthwiseConv2D":
        inner = channels * layer.depth_multiplier
        return _all_trained([(*layer.kernel_size, channels, layer.depth_multiplier),
                             *([(inner,)] if layer.use_bias else [])])
    if kind == "Dense":
        return _all_trained([(channels, layer.units), *([(layer.units,)] if layer.use_bias else [])])
    if kind == "BatchNormalization":
        size = (shape[layer.axis],)
        trained = [size] * (int(layer.scale) + int(layer.center))
        return (*trained, size, size), (True,) * len(trained) + (False, False)  # and the moving mean, variance
    if kind == "LayerNormalization":
        axes = layer.axis if isinstance(layer.axis, (list, tuple)) else [layer.axis]
        size = tuple(shape[a] for a in axes)
        return _all_trained([size] * (int(layer.scale) + int(layer.center)))
    return (), ()


def _all_trained(shapes):
    return tuple(shapes), (True,) * len(shapes)


def _shape(shape):
    return "(" + ", ".join("batch" if d is None else str(d) for d in shape) + ")" if shape else "()"
