"""Teaching at once: taught drawings kept in the model as prototypes (mnist_cnn/memory.py)."""

import numpy as np
import pytest

import mnist_cnn
from mnist_cnn import memory, styles


@pytest.fixture(scope="module")
def european():
    """5 European-style drawings per digit to teach, and 20 more per digit of the same style to read."""
    return styles.style_set(5, seed=100, styles=styles.EUROPEAN), styles.style_set(20, seed=200,
                                                                                   styles=styles.EUROPEAN)


def accuracy(model, x, y):
    return float((mnist_cnn.predict_proba(model, x).argmax(1) == y).mean())


def test_a_remembered_drawing_changes_the_next_answer_and_forgetting_restores_the_network(trained, small):
    model = mnist_cnn.copy_model(trained)
    _, (x_test, _) = small
    image = x_test[:1]
    before, test_before = mnist_cnn.predict_proba(model, image)[0], mnist_cnn.predict_proba(model, x_test)
    wrong = int(np.argsort(before)[-2])  # a correction to its runner-up, as a writer's convention would be
    assert mnist_cnn.fine_tune(model, image, [wrong], epochs=0) == []  # no training: no records
    assert mnist_cnn.remembered(model) == 1
    assert mnist_cnn.predict_proba(model, image)[0].argmax() == wrong  # at once
    # the other test digits are unlike it: at most a few answers move
    moved = (mnist_cnn.predict_proba(model, x_test).argmax(1) != test_before.argmax(1)).mean()
    assert moved < 0.02
    mnist_cnn.forget(model)
    assert mnist_cnn.remembered(model) == 0
    np.testing.assert_allclose(mnist_cnn.predict_proba(model, image)[0], before, atol=1e-6)


def test_the_memory_reads_a_style_at_once_and_teaching_keeps_it(trained, european, mnist, small):
    (x, y), (held_x, held_y) = european
    _, (x_test, y_test) = small
    model = mnist_cnn.copy_model(trained)
    network, test = accuracy(model, held_x, held_y), accuracy(model, x_test, y_test)
    mnist_cnn.fine_tune(model, x, y, epochs=0)
    at_once = accuracy(model, held_x, held_y)
    assert at_once > network + 0.02, (network, at_once)  # other drawings of the style, none of them taught
    (x_train, y_train), _ = mnist
    records = mnist_cnn.fine_tune(model, x, y, replay=(x_train, y_train), epochs=1, seed=0)
    assert len(records) == 1 and mnist_cnn.remembered(model) == len(x)  # trained, then remembered again
    assert accuracy(model, held_x, held_y) >= at_once - 0.01
    assert accuracy(model, x_test, y_test) > test - 0.02  # a 2-epoch model of 1,000 test digits: +-1 point


def test_a_memory_is_saved_vetted_and_loaded_and_training_leaves_it_alone(trained, european, small, tmp_path):
    (x, y), (held_x, _) = european
    model = mnist_cnn.copy_model(trained)
    mnist_cnn.remember(model, x, y)
    path = tmp_path / "taught.keras"
    mnist_cnn.save_model(model, path)
    loaded = mnist_cnn.load_model(path)  # through the vetting, like any upload
    assert mnist_cnn.remembered(loaded) == len(x) and mnist_cnn.spec_of(loaded) == mnist_cnn.spec_of(trained)
    np.testing.assert_allclose(mnist_cnn.predict_proba(loaded, held_x), mnist_cnn.predict_proba(model, held_x),
                               atol=1e-5)
    head = loaded.layers[-1]
    prototypes = [w.copy() for w in head.get_layer("memory_similarity").get_weights()]
    mnist_cnn.train(loaded, small[0], epochs=1, seed=0)
    for kept, now in zip(prototypes, head.get_layer("memory_similarity").get_weights(), strict=True):
        np.testing.assert_array_equal(kept, now)  # frozen: training changes the network only
    assert mnist_cnn.explain(loaded, held_x[0]).target in range(10)  # explained through the network's logits


def test_a_memory_kept_from_mnist_leaves_its_digits_of_another_label_alone(trained, small):
    _, (x_test, y_test) = small
    sevens = x_test[y_test == 7][:40]
    network = mnist_cnn.predict_proba(trained, sevens).argmax(axis=1)
    model = mnist_cnn.copy_model(trained)
    mnist_cnn.remember(model, sevens[:1], np.array([1]))  # a 7 taught as a 1: a flagged 1 like MNIST's 7s
    taken = mnist_cnn.predict_proba(model, sevens[1:]).argmax(axis=1) != network[1:]
    assert mnist_cnn.predict_proba(model, sevens[:1]).argmax() == 1 and taken.any()  # 7s like it read as 1
    mnist_cnn.remember(model, sevens[:1], np.array([1]), against=(sevens[1:], np.full(39, 7)))
    np.testing.assert_array_equal(mnist_cnn.predict_proba(model, sevens[1:]).argmax(axis=1), network[1:])
    assert mnist_cnn.predict_proba(model, sevens[:1]).argmax() == 1  # the drawing taught is still read as taught
    mnist_cnn.remember(model, sevens[:1], np.array([1]), against=(sevens[1:], np.full(39, 1)))  # the same digit
    assert mnist_cnn.predict_proba(model, sevens[1:]).argmax(axis=1).tolist() != network[1:].tolist()
    with pytest.raises(ValueError, match="against has 39 images but 3 labels"):
        mnist_cnn.remember(model, sevens[:1], np.array([1]), against=(sevens[1:], np.full(3, 7)))
    assert mnist_cnn.remembered(model) == 1  # refused before anything changed


def test_at_most_max_memory_are_kept_the_least_sure_first(trained, small, monkeypatch):
    monkeypatch.setattr(memory, "MAX_MEMORY", 5)
    model = mnist_cnn.copy_model(trained)
    _, (x_test, y_test) = small
    x, y = x_test[:40], y_test[:40]
    sure = mnist_cnn.predict_proba(model, x)[np.arange(40), y]
    assert mnist_cnn.remember(model, x, y) == 5
    prototypes = model.layers[-1].get_layer("memory_similarity").get_weights()[0].T
    features = mnist_cnn.embed(model, x[np.argsort(sure)[:5]])  # the network alone: its memory is the last layer
    np.testing.assert_allclose(np.sort(prototypes @ (features / np.linalg.norm(features, axis=1,
                                                                               keepdims=True)).T, axis=1)[:, -1],
                               1, atol=1e-4)  # each of the five least sure is a prototype
    assert mnist_cnn.remember(model, x[:0], y[:0]) == 0 and mnist_cnn.remembered(model) == 0


@pytest.mark.parametrize("proba, question", [
    ({7: 0.8, 1: 0.2}, (7, 1)),
    ({1: 0.55, 7: 0.45}, (1, 7)),
    ({7: 0.95, 1: 0.05}, None),  # sure enough: no question
    ({7: 0.6, 3: 0.4}, None),  # not a question of conventions
    ({4: 0.7, 9: 0.3}, (4, 9)),
    ({4: 0.13, 9: 0.12, **{d: 0.75 / 8 for d in (0, 1, 2, 3, 5, 6, 7, 8)}}, None),  # unsure of everything
])
def test_a_convention_question_is_asked_for_convention_pairs_only(proba, question):
    p = np.zeros(10)
    for digit, share in proba.items():
        p[digit] = share
    assert mnist_cnn.convention_question(p) == question
    with pytest.raises(ValueError, match="10 probabilities"):
        mnist_cnn.convention_question(p[:9])
