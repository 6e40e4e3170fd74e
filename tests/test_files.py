"""Model files: round trips, atomic saves, and refusing files that are broken, unsafe or not for MNIST."""

import threading
import zipfile

import keras
import numpy as np
import pytest

from mnist_cnn import ModelFileError, build_model, load_model, model_bytes, predict_proba, save_model, train
from mnist_cnn.files import DEFAULT_MODEL
from mnist_cnn.training import training_log


def small_model(input_shape=(28, 28, 1), outputs=10, activation="softmax", compile=True):
    layers = [keras.Input(input_shape), keras.layers.Flatten(), keras.layers.Dense(outputs, activation)]
    model = keras.Sequential(layers)
    if compile:
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model


def test_round_trip_keeps_weights_optimizer_and_history(trained, small, tmp_path):
    path = tmp_path / "model.keras"
    save_model(trained, path)
    loaded = load_model(path)
    x = small[1][0][:100]
    assert np.array_equal(predict_proba(loaded, x), predict_proba(trained, x))
    assert loaded.name == "default" and training_log(loaded) == training_log(trained)
    assert int(loaded.optimizer.iterations) == int(trained.optimizer.iterations)
    history = train(loaded, small[0], seed=0)  # and it trains on from there
    assert history.epoch == [len(training_log(trained))]


def test_bytes_round_trip(trained, small):
    loaded = load_model(model_bytes(trained))
    assert np.array_equal(predict_proba(loaded, small[1][0][:10]), predict_proba(trained, small[1][0][:10]))


def test_no_path_loads_the_shipped_model():
    assert DEFAULT_MODEL.is_file() and DEFAULT_MODEL.stat().st_size < 5 * 2**20
    model = load_model()
    assert model.input_shape == (None, 28, 28, 1) and training_log(model)


def test_interrupted_save_keeps_the_old_file(trained, tmp_path, monkeypatch):
    path = tmp_path / "model.keras"
    save_model(trained, path)
    before = path.read_bytes()

    def crash(model, filepath, **kwargs):
        with open(filepath, "wb") as f:
            f.write(b"half a zip")
        raise OSError("disk full")

    monkeypatch.setattr(keras.saving, "save_model", crash)
    with pytest.raises(OSError, match="disk full"):
        save_model(build_model("basic"), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.keras"]  # no temporary left behind


def test_save_wants_a_keras_suffix(trained, tmp_path):
    with pytest.raises(ValueError, match=".keras"):
        save_model(trained, tmp_path / "model.h5")


def test_uncompiled_file_loads_ready_to_train(tmp_path, small):
    path = tmp_path / "bare.keras"
    keras.saving.save_model(small_model(compile=False), path)
    model = load_model(path)
    train(model, (small[0][0][:256], small[0][1][:256]))
    assert int(model.optimizer.iterations) > 0


def test_missing_file(tmp_path):
    with pytest.raises(ModelFileError, match="not found: .*gone.keras"):
        load_model(tmp_path / "gone.keras")


def test_not_a_zip(tmp_path):
    path = tmp_path / "text.keras"
    path.write_text("hello")
    with pytest.raises(ModelFileError, match="not a zip archive"):
        load_model(path)


def test_truncated_file(trained, tmp_path):
    data = model_bytes(trained)
    with pytest.raises(ModelFileError, match="uploaded file"):
        load_model(data[: len(data) // 2])


def test_zip_without_a_model(tmp_path):
    path = tmp_path / "other.keras"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("readme.txt", "not a model")
    with pytest.raises(ModelFileError, match="holds 'readme.txt', which is not part of a Keras .keras file"):
        load_model(path)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("metadata.json", "{}")
    with pytest.raises(ModelFileError, match="no config.json"):
        load_model(path)


def test_lambda_layer_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "ran.txt"
    code = f"lambda x: (open({str(marker)!r}, 'w').close(), x)[1]"
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Lambda(eval(code)), keras.layers.Flatten(),
                              keras.layers.Dense(10, "softmax")])
    path = tmp_path / "lambda.keras"
    keras.saving.save_model(model, path)
    marker.unlink(missing_ok=True)  # saving traced the layer once
    with pytest.raises(ModelFileError, match="Lambda layer, that is Python code; files with code are refused"):
        load_model(path)
    with pytest.raises(ValueError, match="unsafe|safe_mode"):  # the second guard: Keras' safe mode itself
        keras.saving.load_model(path, safe_mode=True)
    assert not marker.exists()


@pytest.mark.parametrize(
    "model, message",
    [
        (small_model(input_shape=(32, 32, 3)), r"\(28, 28, 1\) image input, it takes \[\(32, 32, 3\)\]"),
        (small_model(outputs=5), "10 digit probabilities"),
        (small_model(activation=None), "softmax"),
    ],
)
def test_models_that_do_not_fit_mnist_are_refused(tmp_path, model, message):
    path = tmp_path / "odd.keras"
    keras.saving.save_model(model, path)
    with pytest.raises(ModelFileError, match=message):
        load_model(path)


def test_saving_while_another_thread_trains_gives_whole_files(small, tmp_path):
    """What a download during training does: every file is complete, loadable and from between two batches."""
    model = build_model("default", seed=0)
    trainer = threading.Thread(target=train, args=(model, small[0]), kwargs={"epochs": 2, "seed": 0})
    saved = []
    trainer.start()
    while trainer.is_alive() or not saved:
        saved.append(tmp_path / f"during-{len(saved)}.keras")
        save_model(model, saved[-1])
    trainer.join()
    steps = 2 * -(-len(small[0][0]) // 128)
    done = [int(load_model(path).optimizer.iterations) for path in saved]
    assert len(saved) >= 2 and done == sorted(done) and done[0] >= 0 and done[-1] <= steps
    assert len(set(done)) >= 2  # the files were taken at different points of the run
    for path in saved[:: max(1, len(saved) // 4)]:
        assert np.isfinite(predict_proba(load_model(path), small[1][0][:20])).all()


def test_zip_bomb_is_refused_before_keras_opens_it(tmp_path):
    path = tmp_path / "bomb.keras"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("config.json", "{}")
        with zf.open("model.weights.h5", "w") as member:
            zero = bytes(2**20)
            for _ in range(300):  # 300 MB of zeros: a few hundred KB packed
                member.write(zero)
    assert path.stat().st_size < 2**20
    with pytest.raises(ModelFileError, match="model.weights.h5 unpacks to 300.0 MB, more than a Keras .keras file's"):
        load_model(path)
