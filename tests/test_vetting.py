"""Vetting model configs: hostile `.keras` files are refused before Keras reads them; real ones pass and load.

The hostile files are real saved models whose config.json is rewritten here, in compact and in indented JSON.
Each refusal is shown to come first three ways: a module named in the file is never imported, commands in it
never run, and keras.saving.load_model is never called.
"""

import importlib
import io
import json
import sys
import zipfile

import h5py
import keras
import numpy as np
import pytest

import mnist_cnn
from mnist_cnn import ModelFileError, load_model, save_model
from mnist_cnn.files import DEFAULT_MODEL
from mnist_cnn.vetting import ALLOWED_CLASSES, check_config

MARKER_MODULE = "mnist_cnn_marker_mod"  # a unique name: only this test file puts it on sys.path
MARKER_SOURCE = """
import pathlib

pathlib.Path(__file__).with_name("imported").write_text("this module was imported")


def run(*args, **kwargs):
    pathlib.Path(__file__).with_name("called").write_text("this function was called")
    return args[0] if args else None


class Evil:
    pass
"""
TRACES = ("imported", "called", "marker")  # files in tmp_path that only code from a hostile file would write
STYLES = {"compact": {"separators": (",", ":")}, "indented": {"indent": 2}}


@pytest.fixture(scope="module")
def saved(small, tmp_path_factory):
    """Every architecture and a small functional model, trained two batches (the optimizer has state) and saved."""
    folder = tmp_path_factory.mktemp("saved")
    x, y = small[0][0][:256], small[0][1][:256]
    paths = {}
    for arch in mnist_cnn.ARCHS:
        model = mnist_cnn.build_model(arch, seed=0)
        mnist_cnn.train(model, (x, y), epochs=1, seed=0)
        paths[arch] = folder / f"{arch}.keras"
        save_model(model, paths[arch])
    inputs = keras.Input((28, 28, 1))
    hidden = keras.layers.Flatten()(keras.layers.Conv2D(4, 3, activation="relu")(inputs))
    functional = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(hidden))
    functional.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    functional.fit(x[:64, ..., None] / 255, y[:64], batch_size=32, verbose=0)
    paths["functional"] = folder / "functional.keras"
    save_model(functional, paths["functional"])
    return paths


@pytest.fixture
def trap(tmp_path, monkeypatch):
    """The marker module on sys.path, and keras.saving.load_model failing the test if anything reaches it."""
    (tmp_path / f"{MARKER_MODULE}.py").write_text(MARKER_SOURCE)
    monkeypatch.syspath_prepend(str(tmp_path))

    def reached_keras(*args, **kwargs):
        pytest.fail("keras.saving.load_model was called with a hostile file")

    monkeypatch.setattr(keras.saving, "load_model", reached_keras)
    yield tmp_path
    sys.modules.pop(MARKER_MODULE, None)  # if a test failed by importing it, the next one starts clean


def config_of(path):
    with zipfile.ZipFile(path) as zf:
        return json.loads(zf.read("config.json"))


def with_config(path, config_json):
    """The archive at `path` with its config.json replaced, as bytes (an upload)."""
    out = io.BytesIO()
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info, config_json if info.filename == "config.json" else src.read(info))
    return out.getvalue()


def function(module, name):
    """A named function, as Keras writes one."""
    return {"module": module, "class_name": "function", "config": name, "registered_name": "function"}


def marker_class():
    return {"module": MARKER_MODULE, "class_name": "Evil", "config": {}, "registered_name": None}


def lambda_layer(fn, command=None):
    """A Lambda layer calling `fn`; with a command, the exploit's shape: the node passes it as the input."""
    layer = {
        "module": "keras.layers",
        "class_name": "Lambda",
        "config": {"name": "evil", "trainable": True, "dtype": "float32", "function": fn, "arguments": {}},
        "registered_name": None,
    }
    if command is not None:
        layer |= {"name": "evil", "inbound_nodes": [{"args": [], "kwargs": {"inputs": command}}]}
    return layer


def insert_layer(layer):
    def edit(config, tmp_path):
        config["config"]["layers"].insert(1, layer(tmp_path) if callable(layer) else layer)

    return edit


def set_in_dense(key, value):
    def edit(config, tmp_path):
        dense = next(layer for layer in config["config"]["layers"] if layer["class_name"] == "Dense")
        dense["config"][key] = value

    return edit


def set_learning_rate(value):
    def edit(config, tmp_path):
        config["compile_config"]["optimizer"]["config"]["learning_rate"] = value

    return edit


LAMBDA = r"holds a Lambda layer, that is Python code; files with code are refused \(at 'config.layers\[1\]'\)"
# id: (base model, edit of its config, expected message)
HOSTILE = {
    "lambda-in-sequential": ("default", insert_layer(lambda_layer(function(MARKER_MODULE, "run"))), LAMBDA),
    "lambda-in-functional": ("functional", insert_layer(lambda_layer(function(MARKER_MODULE, "run"))), LAMBDA),
    "lambda-os-system": (
        "functional", insert_layer(lambda t: lambda_layer(function("os", "system"), f"touch {t / 'marker'}")), LAMBDA,
    ),
    "lambda-subprocess": (
        "functional",
        insert_layer(lambda t: lambda_layer(function("subprocess", "getoutput"), f"touch {t / 'marker'}")),
        LAMBDA,
    ),
    "lambda-builtins-exec": (
        "functional",
        insert_layer(lambda t: lambda_layer(function("builtins", "exec"), f"open({str(t / 'marker')!r}, 'w')")),
        LAMBDA,
    ),
    "lambda-importlib": (
        "functional", insert_layer(lambda_layer(function("importlib", "import_module"), MARKER_MODULE)), LAMBDA,
    ),
    "exploit-os-system-via-inbound-nodes": (
        "basic", insert_layer(lambda t: lambda_layer(function("os", "system"), f"touch {t / 'marker'}")), LAMBDA,
    ),
    "activation-os-system": (
        "basic", set_in_dense("activation", function("os", "system")),
        r"is refused: it names module 'os' at 'config.layers\[\d+\].config.activation' \(only Keras' own",
    ),
    "activation-keras-function": (
        "basic", set_in_dense("activation", function("keras.utils", "get_file")),
        r"is refused: it holds Python code \('function'\) at 'config.layers\[\d+\].config.activation'",
    ),
    "activation-lambda-bytecode": (
        "basic", set_in_dense("activation", {"class_name": "__lambda__", "config": {"value": ["", None, None]}}),
        r"is refused: it holds Python code \('__lambda__'\)",
    ),
    "kernel-initializer": (
        "basic", set_in_dense("kernel_initializer", marker_class()),
        rf"is refused: it names module '{MARKER_MODULE}' at 'config.layers\[\d+\].config.kernel_initializer'",
    ),
    "optimizer-learning-rate": (
        "basic", set_learning_rate(marker_class()),
        rf"is refused: it names module '{MARKER_MODULE}' at 'compile_config.optimizer.config.learning_rate'",
    ),
    "optimizer-from-elsewhere": (
        "dropout", lambda config, t: config["compile_config"].update(optimizer=marker_class()),
        rf"is refused: it names module '{MARKER_MODULE}' at 'compile_config.optimizer'",
    ),
    "registered-custom-object": (
        "basic", insert_layer({"module": None, "class_name": "Thing", "config": {}, "registered_name": "evil>Thing"}),
        r"is refused: it names the custom object 'evil>Thing' at 'config.layers\[1\]'",
    ),
    "unknown-class-tfsmlayer": (
        "basic",
        insert_layer(lambda t: {"module": "keras.layers", "class_name": "TFSMLayer", "registered_name": None,
                                "config": {"name": "tfsm", "filepath": str(t), "call_endpoint": "serve"}}),
        r"is refused: it names the unknown class 'TFSMLayer' from module 'keras.layers' at 'config.layers\[1\]'",
    ),
}


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("case", HOSTILE)
def test_hostile_configs_are_refused_before_keras_reads_them(saved, trap, case, style):
    base, edit, message = HOSTILE[case]
    config = config_of(saved[base])
    edit(config, trap)
    text = json.dumps(config, **STYLES[style])
    if style == "compact":
        assert '"class_name": "' not in text  # the spaced substring the old check looked for is not there
    with pytest.raises(ModelFileError, match=f"^the uploaded file {message}"):
        load_model(with_config(saved[base], text.encode()))
    assert [name for name in TRACES if (trap / name).exists()] == []
    assert MARKER_MODULE not in sys.modules


@pytest.mark.parametrize(
    "config_json, message",
    [
        (b'{"module": "keras", "class_name": "Sequential", ', "its config.json is not valid JSON"),
        (b"[]", "its config.json is not a JSON object"),
        (b'"Sequential"', "its config.json is not a JSON object"),
        ('{"class_name": "Sequential", "config": {}}'.encode("utf-16"), "its config.json is not UTF-8 text"),
        (b'{"class_name": "Seq\xffuential"}', "its config.json is not UTF-8 text"),
        (b'{"class_name": ["Sequential"], "config": {}}', r"its class_name at the top level is not a string"),
        (b'{"module": {"os": "system"}}', r"it names module \{'os': 'system'\} at the top level"),
        (b"[" * 100_000 + b"]" * 100_000, "its config.json is not valid JSON"),
    ],
    ids=["truncated", "list", "string", "utf-16", "not-utf-8", "class-name-list", "module-dict", "nested-deep"],
)
def test_malformed_configs_are_refused(saved, trap, config_json, message):
    with pytest.raises(ModelFileError, match=f"^the uploaded file is refused: {message}"):
        load_model(with_config(saved["basic"], config_json))


def test_a_long_name_is_cut_short_in_the_message():
    config = {"class_name": "Sequential", "module": "os" * 10_000, "config": {}}
    with pytest.raises(ModelFileError) as refused:
        check_config(json.dumps(config).encode(), "model.keras")
    assert len(str(refused.value)) < 250 and "\n" not in str(refused.value)


def test_the_marker_module_leaves_a_trace_when_imported(trap):
    """The proof above is not empty: importing the module, or a touch, does leave the files looked for."""
    importlib.import_module(MARKER_MODULE).run()
    assert (trap / "imported").exists() and (trap / "called").exists()


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("arch", [*mnist_cnn.ARCHS, "functional"])
def test_saved_models_pass_and_load_however_spaced(saved, arch, style):
    config = config_of(saved[arch])
    text = json.dumps(config, **STYLES[style]).encode()
    check_config(text, arch)
    model = load_model(with_config(saved[arch], text))
    assert model.name == config["config"]["name"] and int(model.optimizer.iterations) > 0


def test_the_shipped_model_passes_and_loads():
    with zipfile.ZipFile(DEFAULT_MODEL) as zf:
        check_config(zf.read("config.json"), str(DEFAULT_MODEL))
    assert load_model(DEFAULT_MODEL).input_shape == (None, 28, 28, 1)


def test_every_allowed_class_is_a_keras_class():
    for module, names in ALLOWED_CLASSES.items():
        found = importlib.import_module(module)
        assert all(isinstance(getattr(found, name, None), type) for name in names), module


@pytest.fixture
def h5(tmp_path):
    """A real legacy HDF5 model file."""
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10, "softmax")])
    path = tmp_path / "legacy.h5"
    model.save(path)
    return path


def test_legacy_h5_is_refused_as_bytes_and_as_a_path(h5, trap):
    with pytest.raises(ModelFileError, match="^the uploaded file is not a Keras .keras file \\(not a zip archive\\)"):
        load_model(h5.read_bytes())
    with pytest.raises(ModelFileError, match="legacy.h5 is not a Keras .keras file \\(not a zip archive\\)"):
        load_model(h5)


def test_an_h5_with_a_keras_zip_appended_is_refused(h5, saved, trap):
    """Keras would read a `.h5` name as HDF5, with a config the vetting never saw: the name must say .keras."""
    h5.write_bytes(h5.read_bytes() + saved["basic"].read_bytes())
    assert zipfile.is_zipfile(h5)
    with pytest.raises(ModelFileError, match=r"legacy.h5 is not a Keras .keras file \(its name does not end in"):
        load_model(h5)


def _weights(**datasets):
    """A weights file for tools.hostile.SMALL (Flatten, Dense 10: kernel (784, 10), bias (10,)) with `datasets`
    (path -> keyword arguments of create_dataset, or an h5py link) added to the right ones."""
    from tools import hostile

    def build(f):
        f.create_dataset("layers/dense/vars/0", data=np.zeros((784, 10), np.float32))
        f.create_dataset("layers/dense/vars/1", data=np.zeros(10, np.float32))
        for path, spec in datasets.items():
            if isinstance(spec, dict):
                f.create_dataset(path, **spec)
            else:
                f[path] = spec
    return hostile.h5(build)


@pytest.mark.parametrize(
    "extra, message",
    [
        ({}, None),
        ({"optimizer/vars/0": {"data": np.int64(3)}, "optimizer/vars/1": {"data": np.zeros((784, 10), np.float32)}},
         None),
        ({"layers/dense/vars/2": {"data": np.zeros((784, 10), np.float32)}},
         r"'/layers/dense/vars/2' has shape \(784, 10\), which no layer of its config makes"),
        ({"optimizer/vars/1": {"data": np.zeros((999,), np.float32)}},
         r"'/optimizer/vars/1' has shape \(999,\), which no trained weight of its config has"),
        ({"optimizer/vars/1": {"data": np.zeros((10,), np.float32), "chunks": (100_000,), "maxshape": (None,)}},
         r"stored in chunks of 400,000 bytes, larger than its 40 bytes of data"),
        ({"optimizer/vars/1": {"data": np.array([b"text"] * 10)}}, r"holds \|S4, not numbers"),
        ({"optimizer/vars/1": {"shape": (10,), "dtype": "float32", "external": [("/etc/passwd", 0, 40)]}},
         r"stored in another file or through a filter"),
        ({"optimizer/vars/1": h5py.SoftLink("/layers/dense/vars/1")},
         r"links '/optimizer/vars/1' elsewhere \(SoftLink"),
    ],
    ids=["the-right-weights", "with-an-optimizer-slot", "one-dataset-too-many", "a-slot-of-no-weight",
         "a-chunk-larger-than-its-data", "text-not-numbers", "external-storage", "a-soft-link"],
)
def test_weights_files_are_held_to_their_config(extra, message, monkeypatch):
    """Only metadata is read for it (Keras would read every dataset whole before comparing shapes)."""
    from tools import hostile

    data = hostile.keras_file(hostile.SMALL, _weights(**extra))
    if message is None:
        assert load_model(data).count_params() == 7850
        return
    monkeypatch.setattr(keras.saving, "load_model", lambda *a, **k: pytest.fail("Keras read the file"))
    with pytest.raises(ModelFileError, match=message):
        load_model(data)


def test_a_weights_file_larger_than_its_config_takes_is_refused_from_the_directory():
    from tools import hostile

    data = hostile.keras_file(hostile.SMALL, _weights() + bytes(2 * 2**20))
    with pytest.raises(ModelFileError, match=r"its weights file unpacks to 2\.\d MB, more than its config's 7,850 "
                                             r"parameters take \(1\.\d MB at most\)"):
        load_model(data)
