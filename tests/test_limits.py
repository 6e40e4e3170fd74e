"""mnist_cnn/limits.py: a model's cost from its config alone agrees with what Keras builds, nothing is built to
work it out, and designs over the limits are refused naming the layer at fault."""

import json

import keras
import numpy as np
import pytest

import mnist_cnn
from mnist_cnn import limits
from mnist_cnn.limits import DesignError, check_limits, model_cost
from tools import hostile


def config_of(model):
    return json.loads(json.dumps(keras.saving.serialize_keras_object(model)))


def functional():
    """Every kind of layer the vetting allows that makes weights, in a Functional model with a nested one."""
    inputs = keras.Input((28, 28, 1))
    a = keras.layers.Conv2D(8, 3, padding="same", use_bias=False)(inputs)
    b = keras.layers.Conv2D(8, 5, padding="same", groups=1)(inputs)
    x = keras.layers.Add()([a, b])
    x = keras.Sequential([keras.layers.Conv2D(4, 3), keras.layers.BatchNormalization(center=False)], name="inner")(x)
    x = keras.layers.LayerNormalization()(x)
    x = keras.layers.SeparableConv2D(6, 3, strides=2)(x)
    x = keras.layers.DepthwiseConv2D(3, depth_multiplier=2)(x)
    x = keras.layers.Concatenate()([keras.layers.GlobalAveragePooling2D()(x), keras.layers.GlobalMaxPooling2D()(x)])
    return keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x))


@pytest.mark.parametrize("arch", [*mnist_cnn.ARCHS, "functional"])
def test_the_cost_is_what_keras_builds(arch):
    model = functional() if arch == "functional" else mnist_cnn.build_model(arch)
    cost = model_cost(config_of(model))
    assert cost.params == model.count_params()
    assert cost.weight_bytes == 4 * model.count_params()
    shapes = sorted(tuple(w.shape) for w in model.weights)
    assert sorted(shape for layer in cost.layers for shape in layer.weights) == shapes
    assert cost.layers[-1].output_shape == (None, 10)
    check_limits(cost)  # the registry's designs are well within


def test_nothing_is_built_to_work_it_out(monkeypatch):
    config = config_of(mnist_cnn.build_model("best"))

    def refuse(*args, **kwargs):
        raise AssertionError("a layer was built")

    monkeypatch.setattr(keras.layers.Layer, "build", refuse)
    monkeypatch.setattr(keras.layers.Layer, "add_weight", refuse)
    assert model_cost(config).params == 125_354


def test_flops_of_a_convolution_are_its_kernel_at_every_position():
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(8, 3, use_bias=False),
                              keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")])
    conv, _, dense = model_cost(config_of(model)).layers
    assert conv.flops == 2 * 3 * 3 * 1 * 8 * 26 * 26
    assert dense.flops == 2 * 26 * 26 * 8 * 10


@pytest.mark.parametrize(
    "layers, message, at_fault",
    [
        ([hostile.layer("Flatten", name="f"), hostile.layer("Dense", name="big", units=2000)],
         r"it has 1,590,010 parameters, at most 1,000,000 \(layer 'big' alone has 1,570,000\)", "big"),
        ([hostile.layer("Conv2D", name="wide", filters=128, kernel_size=[3, 3], padding="same"),
          hostile.layer("MaxPooling2D", name="pool", pool_size=[4, 4])],
         r"layer 'wide' gives 100,352 values for one image \(batch, 28, 28, 128\), at most 50,176", "wide"),
        ([hostile.layer("Conv2D", name=f"c{i}", filters=48, kernel_size=[1, 1]) for i in range(11)],
         r"its layers give 451,594 values for one image in all, at most 400,000", None),
        ([hostile.layer("Conv2D", name="c1", filters=32, kernel_size=[3, 3], padding="same"),
          hostile.layer("Conv2D", name="c2", filters=64, kernel_size=[7, 7], padding="same")],
         r"it takes 159 MFLOPs an image, at most 50 \(layer 'c2': 157\)", "c2"),
        ([hostile.layer("Conv2D", name="huge_kernel", filters=8, kernel_size=[30, 30])],
         r"layer 'huge_kernel' \(Conv2D\) cannot take \(batch, 28, 28, 1\)", "huge_kernel"),
        ([hostile.layer("MaxPooling2D", name=f"p{i}", pool_size=[2, 2]) for i in range(5)],
         r"layer 'p4' \(MaxPooling2D\) .*(cannot take|reaches 0)", "p4"),
    ],
    ids=["parameters", "widest-layer", "all-activations", "flops", "kernel-larger-than-the-image",
         "pooled-to-nothing"],
)
def test_designs_over_the_limits_or_impossible_are_refused_naming_the_layer(layers, message, at_fault):
    config = hostile.sequential(*layers, hostile.layer("Flatten", name="end"),
                                hostile.layer("Dense", name="out", units=10, activation="softmax"))
    with pytest.raises(DesignError, match=message) as refused:
        check_limits(model_cost(config))
    if at_fault:
        assert refused.value.layer == at_fault


def test_a_layer_called_again_costs_its_work_again_with_no_more_weights():
    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Conv2D(8, 3, padding="same")(inputs)
    shared = keras.layers.Conv2D(8, 3, padding="same")
    for _ in range(3):
        x = shared(x)
    model = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(keras.layers.Flatten()(x)))
    cost = model_cost(config_of(model))
    assert cost.params == model.count_params()
    calls = [layer for layer in cost.layers if layer.name == shared.name]
    assert len(calls) == 3 and calls[0].params and not calls[1].params and calls[0].flops == calls[2].flops > 0
    deep_config = config_of(model)  # the shared layer called 64 times more: 300 calls took 4 GFLOPs an image
    node = deep_config["config"]["layers"][2]["inbound_nodes"][-1]
    deep_config["config"]["layers"][2]["inbound_nodes"] += [node] * limits.MAX_LAYERS
    with pytest.raises(DesignError, match="more than 64 layers \\(calls of a layer count each\\)"):
        model_cost(deep_config)


@pytest.mark.parametrize(
    "config",
    [
        hostile.sequential(),
        hostile.sequential(hostile.layer("BatchNormalization", name="bn", axis=0)),
        {"class_name": "Sequential", "config": {"layers": [{"class_name": "InputLayer", "config": []}]}},
        {"class_name": "Functional", "config": {"layers": [{"class_name": "Dense", "name": "d", "config": {},
         "inbound_nodes": [{"args": [{"class_name": "__keras_tensor__",
                                      "config": {"keras_history": [["x"], 0, 0]}}]}]}]}},
    ],
    ids=["no-layers", "batch-norm-over-the-batch", "a-layer-config-that-is-a-list", "a-history-that-is-a-list"],
)
def test_malformed_configs_are_a_design_error_not_a_traceback(config):
    with pytest.raises(DesignError):
        check_limits(model_cost(config))


def test_a_model_for_other_images_is_refused_from_its_config():
    model = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Flatten(), keras.layers.Dense(10)])
    with pytest.raises(DesignError, match=r"must take one \(28, 28, 1\) image input, it takes \[\(32, 32, 3\)\]"):
        model_cost(config_of(model))


def test_the_limits_leave_room_over_the_registry():
    costs = [model_cost(config_of(mnist_cnn.build_model(arch))) for arch in mnist_cnn.ARCHS]
    assert max(c.params for c in costs) * 2 < limits.MAX_PARAMS
    assert max(c.widest.activation for c in costs) * 2 <= limits.MAX_ACTIVATION
    assert max(c.activations for c in costs) * 2 < limits.MAX_ACTIVATIONS
    assert max(c.flops for c in costs) * 4 <= limits.MAX_FLOPS
    assert np.isfinite(max(c.flops for c in costs))
