"""Hostile uploads, made on the spot: the files docs/bad-input.md lists under "Budgets", as bytes, for
tests/test_budgets.py and bench/run.py (`--only uploads`). `scale` shrinks the bombs for the tests (the same
attack, fewer zeros); 1 is the size the issue measured."""

import io
import json
import struct
import zipfile
import zlib

import cv2
import h5py
import numpy as np


def npz(members: dict[str, bytes]) -> bytes:
    """A zip archive of .npy members, deflated as numpy.savez_compressed writes them."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def zeros_npz(drawings: int) -> bytes:
    """A drawings file of `drawings` all-zero drawings: 2.3 MB packed for 3 million (2.3 GB unpacked)."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "|u1", "fortran_order": False,
                                                  "shape": (drawings, 28, 28)})
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("images.npy", "w", force_zip64=True) as member:
            member.write(header.getvalue())
            block = bytes(28 * 28 * 1000)
            for _ in range(drawings // 1000):
                member.write(block)
        zf.writestr("labels.npy", npy(np.zeros(drawings, np.uint8)))
    return buffer.getvalue()


def lying_npz() -> bytes:
    """A drawings file whose directory says images.npy is 1,000 bytes; it holds 20 drawings (15,808 bytes)."""
    data = npz({"images.npy": npy(np.zeros((20, 28, 28), np.uint8)), "labels.npy": npy(np.zeros(20, np.uint8))})
    entry = data.index(b"PK\x01\x02")  # the first central directory entry: images.npy's
    return data[: entry + 24] + struct.pack("<L", 1000) + data[entry + 28 :]  # its uncompressed size


def nested_npz() -> bytes:
    """A drawings file whose images.npy is itself a zip of a good drawings file."""
    inner = npz({"images.npy": npy(np.zeros((5, 28, 28), np.uint8)), "labels.npy": npy(np.zeros(5, np.uint8))})
    return npz({"images.npy": inner, "labels.npy": npy(np.zeros(5, np.uint8))})


def many_members_npz(count: int) -> bytes:
    """A zip of `count` empty members (a 20 MB upload holds 200,000; above 65,535 zipfile writes zip64)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for i in range(count):
            zf.writestr(f"{i}.npy", b"")
    return buffer.getvalue()


def keras_file(config: dict, weights: bytes | None = None, members: dict[str, bytes] | None = None) -> bytes:
    """A .keras archive of `config` and, if given, a weights file and other members."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("metadata.json", json.dumps({"keras_version": "3.15.0"}))
        zf.writestr("config.json", json.dumps(config))
        if weights is not None:
            zf.writestr("model.weights.h5", weights)
        for name, data in (members or {}).items():
            zf.writestr(name, data)
    return buffer.getvalue()


def _declared(data: bytes, content: bytes) -> bytes:
    """`data`, a zip, with the directory's CRC and size of it said to be `content`'s."""
    entry = data.index(b"PK\x01\x02")
    return data[: entry + 16] + struct.pack("<L", zlib.crc32(content)) + data[entry + 20 : entry + 24] + \
        struct.pack("<L", len(content)) + data[entry + 28 :]


def padded_config(padding: int) -> bytes:
    """A .keras whose config.json is declared at its size, with a CRC to match, and whose deflate stream goes on
    with `padding` spaces past it (a single read() decompresses it all before cutting it to the declared size)."""
    config = json.dumps(SMALL).encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("config.json", config + b" " * padding)  # the first entry: the one _declared changes
        zf.writestr("model.weights.h5", small_weights())
    return _declared(buffer.getvalue(), config)


def entries_lie(count: int = 60_000) -> bytes:
    """A zip of `count` empty members (no zip64: under 65,535) whose end record says it holds 1."""
    data = bytearray(many_members_npz(count))
    end = data.rindex(b"PK\x05\x06")
    data[end + 8 : end + 12] = struct.pack("<2H", 1, 1)
    return bytes(data)


def png_text(chunks: int) -> bytes:
    """A 28x28 PNG of a 7 with `chunks` compressed text chunks of 1 MB each (63 KB in all for 60)."""
    from PIL import Image, PngImagePlugin

    info = PngImagePlugin.PngInfo()
    for i in range(chunks):
        info.add_text(f"note{i}", " " * 2**20, zip=True)
    buffer = io.BytesIO()
    Image.fromarray(digit_picture(280, 280)).save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


def layer(class_name: str, **config) -> dict:
    return {"module": "keras.layers", "class_name": class_name, "config": config, "registered_name": None}


def sequential(*layers: dict) -> dict:
    return {"module": "keras", "class_name": "Sequential", "registered_name": None,
            "config": {"name": "sequential", "layers": [layer("InputLayer", batch_shape=[None, 28, 28, 1]), *layers]}}


def wide_dense(units: int) -> bytes:
    """A 2 KB .keras whose config declares a hidden Dense layer of `units` units (Keras' own classes only)."""
    return keras_file(sequential(layer("Flatten"), layer("Dense", name="hidden", units=units, activation="relu"),
                                 layer("Dense", name="out", units=10, activation="softmax")))


def deep(count: int) -> bytes:
    """A .keras of `count` ReLU layers (Keras builds each in turn)."""
    return keras_file(sequential(*[layer("ReLU", name=f"relu_{i}") for i in range(count)], layer("Flatten"),
                                 layer("Dense", name="out", units=10, activation="softmax")))


SMALL = sequential(layer("Flatten", name="flatten"), layer("Dense", name="out", units=10, activation="softmax"))


def h5(build) -> bytes:
    """An HDF5 file written by build(h5py.File)."""
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        build(f)
    return buffer.getvalue()


def small_weights() -> bytes:
    """SMALL's weights file, as Keras writes it."""
    def build(f):
        f.create_dataset("layers/dense/vars/0", data=np.zeros((784, 10), np.float32))
        f.create_dataset("layers/dense/vars/1", data=np.zeros(10, np.float32))
    return h5(build)


def undeclared_dataset(values: int) -> bytes:
    """A small model whose weights file declares a dataset of `values` floats with none written (HDF5 stores
    nothing for it: reading it makes the whole array of its fill value)."""
    def build(f):
        f.create_dataset("layers/dense/vars/0", shape=(values,), dtype="float32")
        f.create_dataset("layers/dense/vars/1", data=np.zeros(10, np.float32))
    return keras_file(SMALL, h5(build))


def huge_chunks(chunk: int) -> bytes:
    """A small model whose weights file keeps the right shapes in compressed chunks of `chunk` floats."""
    def build(f):
        f.create_dataset("layers/dense/vars/0", data=np.zeros((784, 10), np.float32), chunks=(chunk, 10),
                         maxshape=(None, 10), compression="gzip")
        f.create_dataset("layers/dense/vars/1", data=np.zeros(10, np.float32))
    return keras_file(SMALL, h5(build))


def external_link() -> bytes:
    """A small model whose weights file links a weight to a dataset in a file on the server."""
    def build(f):
        f["layers/dense/vars/0"] = h5py.ExternalLink("/etc/weights.h5", "/kernel")
        f.create_dataset("layers/dense/vars/1", data=np.zeros(10, np.float32))
    return keras_file(SMALL, h5(build))


def big_history(size: int) -> bytes:
    """A small model with a training history (our own member) of `size` bytes of JSON."""
    return keras_file(SMALL, members={"mnist_cnn.json": b"[" + b" " * size + b"]"})


def zip64_lie(count: int = 70_000) -> bytes:
    """A zip64 archive of `count` empty members whose classic end record says it holds 2."""
    data = bytearray(many_members_npz(count))
    end = data.rindex(b"PK\x05\x06")
    data[end + 8 : end + 12] = struct.pack("<2H", 2, 2)  # entries on this disk, entries in all
    return bytes(data)


def largest_model() -> bytes:
    """A model at the parameter limit, trained one step with Adam (its two slots saved too): the most an upload
    may hold."""
    import keras

    import mnist_cnn
    from mnist_cnn import limits

    units = (limits.MAX_PARAMS - 10) // (28 * 28 + 1 + 10)
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(units, "relu"),
                              keras.layers.Dense(10, "softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(np.zeros((8, 28, 28, 1), np.float32), np.zeros(8), verbose=0)
    return mnist_cnn.model_bytes(model)


def digit_picture(width: int, height: int, photo: bool = False) -> np.ndarray:
    """A dark 7 on white (or, as a photo, on unevenly lit grey paper with sensor noise), `width` x `height`."""
    rng = np.random.default_rng(0)
    if photo:
        light = np.linspace(200, 160, width, dtype=np.float32)[None, :] + np.zeros((height, 1), np.float32)
        grey = (light + rng.normal(0, 6, (height, width)).astype(np.float32)).clip(0, 255).astype(np.uint8)
    else:
        grey = np.full((height, width), 255, np.uint8)
    s = min(width, height) / 280
    stroke = np.array([(70, 60), (210, 60), (120, 240)], np.float32) * s + [(width - 280 * s) / 2, 0]
    cv2.polylines(grey, [stroke.astype(np.int32)], False, 30, max(1, round(18 * s)), cv2.LINE_AA)
    return grey


def picture(image: np.ndarray, fmt: str, mode: str | None = None, **options) -> bytes:
    """`image` saved by Pillow as `fmt` (in `mode`, if given)."""
    from PIL import Image

    im = Image.fromarray(image)
    buffer = io.BytesIO()
    (im.convert(mode) if mode else im).save(buffer, format=fmt, **options)
    return buffer.getvalue()


def png_header_lies(width: int, height: int) -> bytes:
    """A PNG whose header says `width` x `height` and whose data is one 28x28 picture's (a picture whose header
    and data disagree)."""
    small = bytearray(picture(digit_picture(28, 28), "PNG"))
    ihdr = small.index(b"IHDR")
    small[ihdr + 4 : ihdr + 12] = struct.pack(">2L", width, height)
    small[ihdr + 17 : ihdr + 21] = struct.pack(">L", zlib.crc32(bytes(small[ihdr : ihdr + 17])))
    return bytes(small)
