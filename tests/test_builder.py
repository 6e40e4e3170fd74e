"""The Train page's builder, driven by AppTest: presets open as designs, blocks move, are added and removed, a
design that cannot be trained says why beside its block and cannot be started, and one that can trains."""

import pytest

import mnist_cnn
from app import dataset


@pytest.fixture
def train_page(monkeypatch, new_session):
    monkeypatch.setenv(dataset.SUBSET_VAR, "1000")
    at = new_session()
    at.switch_page("pages/training.py").run()
    assert not at.exception, at.exception
    return at


def block_keys(at, field):
    return [w.key for w in at.number_input if w.key.endswith(field)] + \
        [w.key for w in at.selectbox if w.key.endswith(field)]


def test_a_preset_opens_as_its_design_and_its_cost_is_shown(train_page):
    at = train_page
    at.selectbox(key="arch").set_value("deep_bn").run()
    assert len(block_keys(at, "_filters")) == 4
    assert [at.number_input(key=k).value for k in block_keys(at, "_filters")] == [32, 64, 128, 256]
    table = at.dataframe[0].value
    assert list(table["part"]) == ["block 1", "block 2", "block 3", "block 4", "head"]
    assert table["parameters"].sum() == mnist_cnn.build_model("deep_bn").count_params()
    assert any("391,850 parameters" in m.value and "an epoch" in m.value for m in at.markdown)


def test_blocks_move_add_and_remove(train_page):
    at = train_page
    at.selectbox(key="arch").set_value("basic").run()
    first, second = block_keys(at, "_filters")
    uid = first.split("_")[0]
    at.button(key=f"{uid}_down").click().run()
    assert block_keys(at, "_filters") == [second, first]
    at.button(key="builder_add").click().run()
    keys = block_keys(at, "_filters")
    assert len(keys) == 3 and at.number_input(key=keys[2]).value == at.number_input(key=keys[1]).value  # a copy
    at.button(key=f"{keys[0].split('_')[0]}_remove").click().run()
    assert block_keys(at, "_filters") == keys[1:]
    assert not at.exception


def test_an_impossible_design_says_why_beside_its_block_and_cannot_start(train_page):
    at = train_page
    at.selectbox(key="arch").set_value("deep_bn").run()
    for key in block_keys(at, "_stride"):
        at.selectbox(key=key).set_value(2)
    at.run()
    errors = [e for e in at.error if "too small" in e.value]
    assert len(errors) == 1 and "block4" in errors[0].value
    assert at.button(key="reset").disabled
    at.selectbox(key="arch").set_value("basic").run()
    at.number_input(key=block_keys(at, "_filters")[0]).set_value(512).run()
    assert [e.value for e in at.error if "values for one image" in e.value] and at.button(key="reset").disabled


def test_a_design_of_ones_own_starts_and_trains(train_page):
    at = train_page
    at.selectbox(key="arch").set_value("basic").run()
    at.number_input(key=block_keys(at, "_filters")[0]).set_value(8)
    at.toggle(key=next(t.key for t in at.toggle if t.key.endswith("_batchnorm"))).set_value(True)
    at.run()
    at.button(key="reset").click().run()
    model = at.session_state["model"]
    assert model.name == "custom" and mnist_cnn.spec_of(model).blocks[0].filters == 8
    assert mnist_cnn.spec_of(model).blocks[0].batchnorm
    at.button(key="train_one").click().run()
    assert not at.exception and "Epoch 1 done" in at.success[0].value
    assert "custom" in " ".join(m.value for m in at.sidebar.markdown)
