"""evaluate() and predict_proba(): metrics consistent with Keras, every probability, fast single calls."""

import keras
import numpy as np
import pytest

import mnist_cnn
from mnist_cnn import build_model, evaluate, predict_proba, train


def test_metrics_agree_with_each_other_and_with_keras(trained, small):
    x, y = small[1]
    result = evaluate(trained, x, y)
    predicted = result.proba.argmax(axis=1)
    assert result.proba.shape == (len(x), 10) and np.allclose(result.proba.sum(axis=1), 1, atol=1e-5)
    assert result.accuracy == pytest.approx(np.mean(predicted == y))
    assert result.confusion.sum() == len(x)
    assert np.array_equal(result.confusion.sum(axis=1), np.bincount(y, minlength=10))
    assert np.trace(result.confusion) == np.sum(predicted == y)
    for digit in range(10):
        assert result.per_class[digit] == pytest.approx(np.mean(predicted[y == digit] == digit))
    expected = np.mean(keras.losses.sparse_categorical_crossentropy(y, trained(x[..., None] / 255.0, training=False)))
    assert result.loss == pytest.approx(float(expected), rel=1e-4)


def test_one_hot_labels_give_the_same_evaluation(trained, small):
    x, y = small[1]
    a, b = evaluate(trained, x, y), evaluate(trained, x, np.eye(10)[y])
    assert (a.accuracy, a.loss) == (b.accuracy, b.loss)


def test_predict_proba_takes_every_image_form(trained, small):
    x = small[1][0][:50]
    reference = predict_proba(trained, x)
    for form in (x[..., None], x.astype(np.float32) / 255, (x.astype(np.float32) / 255)[..., None]):
        assert np.allclose(predict_proba(trained, form), reference, atol=1e-6)
    assert np.allclose(reference, trained(x[..., None] / 255.0, training=False), atol=1e-5)
    assert predict_proba(trained, x[:0]).shape == (0, 10)
    with pytest.raises(ValueError, match="shape"):
        predict_proba(trained, np.zeros((1, 28, 29)))


def test_predict_proba_sees_new_weights_after_training(small):
    model = build_model(seed=0)
    before = predict_proba(model, small[1][0][:20])
    train(model, small[0], seed=0)
    assert not np.allclose(before, predict_proba(model, small[1][0][:20]), atol=1e-3)


def test_test_data_puts_test_accuracy_in_the_history(small):
    model = build_model(seed=0)
    history = train(model, small[0], test_data=small[1], seed=0)
    accuracy = history.history["test_accuracy"][0]
    assert accuracy == pytest.approx(evaluate(model, *small[1]).accuracy)
    assert mnist_cnn.training_log(model)[0]["test_accuracy"] == pytest.approx(accuracy)


def test_shipped_model_on_the_full_test_set(shipped, mnist):
    result = evaluate(shipped, *mnist[1])
    assert result.accuracy >= 0.995
    assert np.nanmin(result.per_class) >= 0.985
