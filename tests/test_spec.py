"""Designs (mnist_cnn/spec.py): a spec round-trips through JSON, builds the network it says, is refused in one line
naming the block at fault, is saved in the .keras file, and trains from the command line."""

import json
import zipfile

import numpy as np
import pytest

import mnist_cnn
from mnist_cnn import ARCHS, Block, DesignError, Spec, build_model, parse_spec, spec_cost, spec_of
from mnist_cnn.files import SPEC_MEMBER, load_model, model_bytes
from tests.test_cli import assert_one_line_error, cli


@pytest.mark.parametrize("arch", list(ARCHS))
def test_a_registry_architecture_round_trips_as_its_spec(arch):
    spec = parse_spec(json.loads(ARCHS[arch].spec.to_json()))
    assert spec == ARCHS[arch].spec
    model = build_model(spec)
    assert model.name == arch and spec_of(model) == spec
    assert model.count_params() == spec_cost(spec).params == build_model(arch).count_params()


def test_a_design_builds_what_it_says():
    spec = Spec(blocks=(Block(8, kernel=5, padding="same", pool="average", activation="elu", dropout=0.1),
                        Block(12, stride=2, batchnorm=True, activation="gelu")),
                head="gap", dense=20, dropout=0.2, optimizer="adamw", learning_rate=0.003, loss="one_hot",
                label_smoothing=0.05, batch_size=64)
    model = build_model(spec)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == ["Conv2D", "AveragePooling2D", "Dropout", "Conv2D", "BatchNormalization", "Activation",
                     "GlobalAveragePooling2D", "Dense", "Dropout", "Dense"]
    assert model.name == "custom" and model.layers[0].kernel_size == (5, 5) and model.layers[3].strides == (2, 2)
    assert type(model.optimizer).__name__ == "AdamW" and model.loss.get_config()["label_smoothing"] == 0.05
    assert [tuple(o.shape[1:]) for o in (model.layers[0].output, model.layers[3].output)] == [(28, 28, 8), (6, 6, 12)]


@pytest.mark.parametrize(("change", "words", "layer"), [
    ({"blocks": [{"filters": 8, "kernel": 4}]}, ["block1", "kernel", "3, 5, 7"], "block1"),
    ({"blocks": [{"filters": 64, "stride": 2}] * 5}, ["block4", "too small"], "block4"),
    ({"blocks": [{"filters": 16}], "dense": 1024}, ["parameters", "1,000,000"], "head"),
    ({"blocks": [{"filters": 64, "padding": "same"}] * 2}, ["MFLOPs"], "block2"),
    ({"blocks": [{"filters": 48, "padding": "same"}], "batch_size": 1024}, ["batch of 1024", "training"], None),
    ({"label_smoothing": 0.1}, ["one-hot"], None),
    ({"optimizer": "lbfgs"}, ["optimizer", "adamw"], None),
    ({"blocks": []}, ["1 to 8 blocks"], None),
    ({"blocks": [{"filters": 8, "units": 3}]}, ["no field 'units'"], None),
    ({"blocks": [{"filters": "8"}]}, ["filters", "whole number"], None),
    ({"dropout": 1.0}, ["dropout", "0.9"], "head"),
])
def test_a_bad_design_is_refused_in_one_line_naming_its_block(change, words, layer):
    with pytest.raises(DesignError) as e:
        spec_cost(parse_spec(Spec().to_dict() | change))
    message = str(e.value)
    assert "\n" not in message and all(w in message for w in words), message
    assert e.value.layer == layer or layer is None


def test_malformed_json_is_refused():
    for text in ["{", "[1, 2]", '"spec"']:
        with pytest.raises(DesignError):
            parse_spec(text)


def test_the_spec_is_saved_in_the_model_file_and_checked_on_load():
    spec = Spec(blocks=(Block(6, pool="max"),), dense=16, optimizer="rmsprop")
    data = model_bytes(build_model(spec, seed=0))
    assert spec_of(load_model(data)) == spec
    assert spec_of(load_model()) == ARCHS["best"].spec  # the shipped file has none: its name and layers say it

    def with_spec(text):
        out = __import__("io").BytesIO()
        with zipfile.ZipFile(__import__("io").BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
            for item in src.namelist():
                dst.writestr(item, text if item == SPEC_MEMBER else src.read(item))
        return out.getvalue()

    lying = json.dumps(spec.to_dict() | {"dense": 32})  # not the layers in the file
    for text, words in [(lying, "does not match"), ("{", "malformed design")]:
        with pytest.raises(mnist_cnn.ModelFileError, match=words):
            load_model(with_spec(text))


def test_a_design_trains_with_its_recipe(small):
    spec = Spec(blocks=(Block(8, pool="max"),), batch_size=100, schedule="one_cycle", optimizer="nesterov",
                learning_rate=0.1)
    model = build_model(spec, seed=0)
    history = mnist_cnn.train(model, small[0], epochs=1, seed=0)
    assert history.params["steps"] == len(small[0][0]) // 100  # its batch size
    assert float(model.optimizer.learning_rate.numpy()) == pytest.approx(0.1)  # the one-cycle peak put back
    assert mnist_cnn.evaluate(model, *small[1]).accuracy > 0.5


def test_cli_prints_a_spec_and_trains_one(tmp_path):
    printed = json.loads(cli("spec", "dropout").stdout)
    assert parse_spec(printed) == ARCHS["dropout"].spec
    tiny = tmp_path / "design.json"
    tiny.write_text(json.dumps(printed | {"blocks": [{"filters": 4, "stride": 2, "pool": "max"}], "dropout": 0.0}))
    out = tmp_path / "tiny.keras"
    report = json.loads(cli("train", "--spec", tiny, "--epochs", "1", "--out", out, "--json").stdout.splitlines()[-1])
    assert report["arch"] == "custom" and parse_spec(report["spec"]) == parse_spec(json.loads(tiny.read_text()))
    assert json.loads(out.with_suffix(".json").read_text())["spec"] == report["spec"]
    assert spec_of(load_model(out)) == parse_spec(report["spec"]) and report["test_accuracy"] > 0.5
    assert np.isfinite(report["test_loss"])


@pytest.mark.parametrize(("content", "words"), [
    ('{"blocks": [{"filters": 64, "stride": 2}, {"filters": 64, "stride": 2}, {"filters": 64, "stride": 2}, '
     '{"filters": 64, "stride": 2}]}', ["block4", "too small"]),
    ("{not json", ["not JSON"]),
    ('{"optimizer": "lbfgs"}', ["optimizer"]),
    ("x" * 20_000, ["at most"]),
])
def test_cli_refuses_a_bad_spec_in_one_line(tmp_path, content, words):
    path = tmp_path / "bad.json"
    path.write_text(content)
    assert_one_line_error(cli("train", "--spec", path, "--out", tmp_path / "x.keras", check=False), *words)
    assert_one_line_error(cli("spec", "nonesuch", check=False), "unknown architecture")
