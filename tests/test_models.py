"""The registry: every architecture builds, compiles as designed and fits MNIST's shapes."""

import keras
import numpy as np
import pytest

from mnist_cnn import ARCHS, build_model


@pytest.mark.parametrize("arch", list(ARCHS))
def test_every_architecture_builds_for_mnist(arch):
    model = build_model(arch)
    assert model.name == arch and ARCHS[arch].description
    assert model.input_shape == (None, 28, 28, 1) and model.output_shape == (None, 10)
    assert model.layers[-1].activation is keras.activations.softmax
    proba = model(np.zeros((2, 28, 28, 1), np.float32)).numpy()
    assert np.allclose(proba.sum(axis=1), 1, atol=1e-5)


def test_basic_is_the_notebook_network_exactly():
    model = build_model("basic")
    described = [(type(layer).__name__, getattr(layer, "filters", None) or getattr(layer, "units", None))
                 for layer in model.layers]
    assert described == [
        ("Conv2D", 32), ("MaxPooling2D", None), ("Conv2D", 64), ("MaxPooling2D", None),
        ("Flatten", None), ("Dense", 64), ("Dense", 10),
    ]
    assert [layer.kernel_size for layer in model.layers if hasattr(layer, "kernel_size")] == [(3, 3), (3, 3)]
    assert model.layers[0].activation is keras.activations.relu
    assert isinstance(model.optimizer, keras.optimizers.Adam)
    assert isinstance(model.loss, keras.losses.SparseCategoricalCrossentropy)


def test_deep_bn_uses_batchnorm_gap_and_sgd_at_0_1():
    model = build_model("deep_bn")
    kinds = [type(layer).__name__ for layer in model.layers]
    assert {"BatchNormalization", "ReLU", "GlobalAveragePooling2D"} <= set(kinds)
    widths = [layer.filters for layer in model.layers if hasattr(layer, "filters")]
    assert widths == sorted(widths) and len(widths) >= 3
    assert isinstance(model.optimizer, keras.optimizers.SGD)
    assert float(model.optimizer.learning_rate) == pytest.approx(0.1)
    assert isinstance(model.loss, keras.losses.SparseCategoricalCrossentropy)


def test_dropout_network_has_dropout():
    assert "Dropout" in [type(layer).__name__ for layer in build_model("dropout").layers]


def test_seed_fixes_the_initial_weights():
    a, b, c = build_model(seed=1), build_model(seed=1), build_model(seed=2)
    assert all(np.array_equal(u, v) for u, v in zip(a.get_weights(), b.get_weights(), strict=True))
    assert not np.array_equal(a.get_weights()[0], c.get_weights()[0])


def test_learning_rate_can_be_chosen():
    assert float(build_model("basic", learning_rate=0.01).optimizer.learning_rate) == pytest.approx(0.01)


def test_unknown_architecture_lists_the_choices():
    with pytest.raises(ValueError, match="unknown architecture 'resnet'.*default, basic"):
        build_model("resnet")
