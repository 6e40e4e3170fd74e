"""The Train page's builder: a design (mnist_cnn.Spec) edited block by block, with each block's cost and the reason
a design cannot be trained written beside the block at fault."""

import dataclasses

import streamlit as st

import mnist_cnn as mc
from app import archs
from mnist_cnn import spec as sp

PRESET = "arch"  # session-state key of the preset picker (the registry's architectures)
# session-state keys: the blocks in order, each (id, block) with its widgets keyed on the id; the generation of the
# head's and training's widgets; the last id given
_BLOCKS, _GEN, _LAST_ID = "builder_blocks", "builder_gen", "builder_last_id"


def _load(spec: mc.Spec) -> None:
    """Open `spec` in the builder: every widget starts again from its values."""
    state = st.session_state
    state[_GEN] = state.get(_GEN, 0) + 1
    state[_BLOCKS] = [(_new_id(), block) for block in spec.blocks]
    state.builder_spec = spec


def _new_id() -> int:
    state = st.session_state
    state[_LAST_ID] = state.get(_LAST_ID, 0) + 1
    return state[_LAST_ID]


def _move(index: int, step: int) -> None:
    blocks = st.session_state[_BLOCKS]
    blocks.insert(index + step, blocks.pop(index))


def _remove(index: int) -> None:
    st.session_state[_BLOCKS].pop(index)


def _add() -> None:
    blocks = st.session_state[_BLOCKS]
    last = _read(*blocks[-1]) if blocks else mc.Block()
    blocks.append((_new_id(), last))


def _read(uid: int, block: mc.Block) -> mc.Block:
    """The block as its widgets have it now (or as it was, before they exist)."""
    state = st.session_state
    return dataclasses.replace(block, **{f.name: state[f"b{uid}_{f.name}"] for f in dataclasses.fields(mc.Block)
                                         if f"b{uid}_{f.name}" in state})


def design(images: int) -> mc.Spec | None:
    """Show the builder; the design if it can be trained, else None (the reason shown beside its block)."""
    state = st.session_state
    names = list(mc.ARCHS)
    preset = st.selectbox("Start from", names, key=PRESET, help="the registry's architectures open here as designs")
    if state.get("builder_preset") != preset:
        state.builder_preset = preset
        _load(mc.ARCHS[preset].spec)
    st.caption(f"`{preset}`: {mc.ARCHS[preset].description}.")
    blocks, faults = state[_BLOCKS], {}
    for index, (uid, block) in enumerate(blocks):
        faults[f"block{index + 1}"] = _block_row(index, uid, block, len(blocks))
    st.button("Add a block", key="builder_add", on_click=_add, icon=":material/add:",
              disabled=len(blocks) >= sp.MAX_BLOCKS)
    base, gen = state.builder_spec, state[_GEN]
    with st.container(border=True):
        st.markdown("**Head**")
        cols = st.columns(3)
        head = cols[0].selectbox("Head", sp.HEADS, index=sp.HEADS.index(base.head), key=f"d{gen}_head",
                                 format_func={"flatten": "Flatten", "gap": "GlobalAveragePooling"}.get)
        dense = cols[1].number_input("Hidden Dense units (0: none)", 0, sp.MAX_DENSE, base.dense, 16,
                                     key=f"d{gen}_dense")
        dropout = cols[2].number_input("Dropout before the softmax", 0.0, sp.MAX_DROPOUT, base.dropout, 0.05,
                                       key=f"d{gen}_dropout")
        faults["head"] = st.empty()
    with st.container(border=True):
        st.markdown("**Training**")
        cols = st.columns(4)
        optimizer = cols[0].selectbox("Optimizer", sp.OPTIMIZERS, index=sp.OPTIMIZERS.index(base.optimizer),
                                      key=f"d{gen}_optimizer", format_func=OPTIMIZER_NAMES.get)
        rate = cols[1].number_input("Learning rate (peak)", 1e-5, 1.0, base.learning_rate, format="%.5f",
                                    key=f"d{gen}_rate")
        schedule = cols[2].selectbox("Schedule", sp.SCHEDULES, index=sp.SCHEDULES.index(base.schedule),
                                     key=f"d{gen}_schedule", format_func={"constant": "constant",
                                                                          "one_cycle": "one-cycle"}.get)
        batch = cols[3].selectbox("Batch size", BATCH_SIZES, index=BATCH_SIZES.index(base.batch_size)
                                  if base.batch_size in BATCH_SIZES else 0, key=f"d{gen}_batch")
        cols = st.columns(3)
        loss = cols[0].selectbox("Labels", sp.LOSSES, index=sp.LOSSES.index(base.loss), key=f"d{gen}_loss",
                                 format_func={"sparse": "sparse (integers)", "one_hot": "one-hot"}.get)
        smoothing = cols[1].number_input("Label smoothing (one-hot)", 0.0, 0.5, base.label_smoothing, 0.05,
                                         key=f"d{gen}_smoothing")
        augment = cols[2].toggle("Augment (shift, rotate, scale, thickness)", base.augment, key=f"d{gen}_augment")
        faults[None] = st.empty()
    fields = dict(blocks=[_read(uid, block) for uid, block in blocks], head=head, dense=dense, dropout=dropout,
                  optimizer=optimizer, learning_rate=rate, schedule=schedule, batch_size=batch, loss=loss,
                  label_smoothing=smoothing, augment=augment)
    try:
        spec = mc.parse_spec({**fields, "blocks": [dataclasses.asdict(b) for b in fields["blocks"]]})
        cost = mc.spec_cost(spec)
    except mc.DesignError as e:
        (faults.get(e.layer) or faults[None]).error(str(e), icon=":material/block:")
        return None
    _cost_table(cost, images, spec)
    return spec


OPTIMIZER_NAMES = {"sgd": "SGD", "nesterov": "SGD + Nesterov", "adam": "Adam", "adamw": "AdamW", "rmsprop": "RMSprop"}
BATCH_SIZES = [16, 32, 64, 128, 256, 512]


def _block_row(index: int, uid: int, block: mc.Block, count: int):
    """One block's widgets and its buttons; returns the slot for its fault."""
    with st.container(border=True, key=f"builder_block_{index + 1}"):
        head, up, down, remove = st.columns([6, 1, 1, 1])
        head.markdown(f"**Block {index + 1}**")
        up.button("", key=f"b{uid}_up", icon=":material/arrow_upward:", help="move up", disabled=index == 0,
                  on_click=_move, args=(index, -1))
        down.button("", key=f"b{uid}_down", icon=":material/arrow_downward:", help="move down",
                    disabled=index == count - 1, on_click=_move, args=(index, 1))
        remove.button("", key=f"b{uid}_remove", icon=":material/delete:", help="remove", disabled=count == 1,
                      on_click=_remove, args=(index,))
        cols = st.columns(4)
        cols[0].number_input("Filters", 1, sp.MAX_FILTERS, block.filters, 8, key=f"b{uid}_filters")
        cols[1].selectbox("Kernel", sp.KERNELS, sp.KERNELS.index(block.kernel), key=f"b{uid}_kernel",
                          format_func=lambda k: f"{k}x{k}")
        cols[2].selectbox("Stride", sp.STRIDES, sp.STRIDES.index(block.stride), key=f"b{uid}_stride")
        cols[3].selectbox("Padding", sp.PADDINGS, sp.PADDINGS.index(block.padding), key=f"b{uid}_padding")
        cols = st.columns(4)
        cols[0].selectbox("Pooling 2x2", sp.POOLS, sp.POOLS.index(block.pool), key=f"b{uid}_pool")
        cols[1].selectbox("Activation", sp.ACTIVATIONS, sp.ACTIVATIONS.index(block.activation),
                          key=f"b{uid}_activation")
        cols[2].number_input("Dropout", 0.0, sp.MAX_DROPOUT, block.dropout, 0.05, key=f"b{uid}_dropout")
        cols[3].toggle("BatchNorm", block.batchnorm, key=f"b{uid}_batchnorm")
        if block.pool_first:  # a preset's choice, kept as it is; not offered for new blocks
            st.caption("Pools straight after the convolution (BatchNorm then sees a quarter of the pixels).")
        return st.empty()


def _cost_table(cost: mc.Cost, images: int, spec: mc.Spec) -> None:
    """Each block's output shape, parameters and FLOPs an image; the totals and an epoch's estimated time."""
    rows: dict[str, dict] = {}
    for layer in cost.layers:
        part = sp.block_of(layer.name) or "head"
        row = rows.setdefault(part, {"part": part.replace("block", "block "), "output": "", "parameters": 0,
                                     "kFLOPs an image": 0.0})
        row["output"] = " x ".join(map(str, layer.output_shape[1:]))
        row["parameters"] += layer.params
        row["kFLOPs an image"] += layer.flops / 1e3
    st.dataframe(list(rows.values()), hide_index=True)
    st.markdown(f"**{cost.params:,} parameters**, {cost.flops / 1e6:.1f} MFLOPs an image; an epoch on "
                f"{images:,} images takes **{archs.epoch_time(spec, images)}** here.")
