"""The bad-input catalogue (docs/bad-input.md): each case goes through the code the app runs, gets a clear
message or a correct answer, and the app goes on serving afterwards."""

import io
import zipfile

import cv2
import keras
import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

import mnist_cnn
from app import uploads

PROMPT = "Draw a digit on the black canvas"


def answers(at):
    """The digit the page shows as its answer (sure or not), or None."""
    for m in at.markdown:
        if m.value.startswith(("### It's a **", "### Maybe a **")):
            return int(m.value.split("**")[1])
    return None


# ---- the canvas: what st_canvas hands back, through widgets.answer as the canvas page calls it ----


def canvas_page(image):
    from app import widgets

    widgets.answer(image, "Draw a digit on the black canvas to see the model's answer.", "draw")


def on_canvas(strokes=None, colour=255, thickness=20):
    """A 280x280 RGBA canvas as the browser sends it: opaque black, strokes in `colour`."""
    grey = np.zeros((280, 280), np.uint8)
    for stroke in strokes or []:
        cv2.polylines(grey, [np.array(stroke, np.int32)], False, colour, thickness, cv2.LINE_AA)
    return np.dstack([grey, grey, grey, np.full_like(grey, 255)])


def show(image):
    at = AppTest.from_function(canvas_page, args=(image,), default_timeout=60).run()
    assert not at.exception and not at.error, at.exception
    return at


@pytest.mark.parametrize(
    "image",
    [None, on_canvas(), on_canvas([[(40, 40), (240, 240)]], colour=0)],
    ids=["first-render-none", "blank", "eraser-coloured-stroke"],
)
def test_canvas_without_ink_shows_the_prompt(image):
    at = show(image)
    assert PROMPT in at.info[0].value and answers(at) is None


def test_canvas_fully_inked_is_blank_paper():
    at = show(np.full((280, 280, 4), 255, np.uint8))
    assert PROMPT in at.info[0].value and answers(at) is None


@pytest.mark.parametrize(
    "strokes, thickness",
    [
        ([[(140, 140), (141, 140)]], 20),  # a single dot
        ([[(0, 0), (279, 0), (279, 279), (0, 279), (0, 0)]], 12),  # ink touching every border
    ],
    ids=["single-dot", "ink-on-every-border"],
)
def test_canvas_odd_drawings_get_an_answer(strokes, thickness):
    at = show(on_canvas(strokes, thickness=thickness))
    assert answers(at) is not None and at.get("plotly_chart")


def test_canvas_one_thin_line_is_a_one():
    assert answers(show(on_canvas([[(140, 40), (140, 240)]], thickness=1))) == 1


# ---- picture uploads, through the canvas page's uploader ----


@pytest.fixture
def app(new_session):
    return new_session(timeout=120)


@pytest.fixture(scope="module")
def digit(mnist):
    """A test-set digit and its label."""
    return mnist[1][0][0], int(mnist[1][1][0])


def upload(at, name, data, mime="image/png"):
    at.file_uploader(key="digit_upload").set_value((name, data, mime)).run()
    assert not at.exception, at.exception
    return at


def still_serving(at, digit, encode):
    """After a bad case the same session still answers a good picture."""
    image, label = digit
    upload(at, "good.png", encode(image))
    assert not at.error and answers(at) == label


def photo(image, rng, encode):
    """A dark digit on light, unevenly lit, noisy paper, enlarged 8x and saved as a JPEG."""
    ink = cv2.resize(image, (224, 224), interpolation=cv2.INTER_CUBIC).astype(np.float32) / 255
    paper = np.linspace(235, 190, 224)[None, :] * np.ones((224, 1))
    pixels = paper * (1 - 0.8 * ink) + rng.normal(0, 6, (224, 224))
    return encode(np.clip(pixels, 0, 255).astype(np.uint8), "JPEG", quality=85)


def animated_gif(first, second):
    frames = [Image.fromarray(first), Image.fromarray(second)]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=200, loop=0)
    return buffer.getvalue()


def zip_bytes():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("digit.png", b"not really")
    return buffer.getvalue()


def bomb(encode):
    """A 20000x20000 PNG: small on disk, 400 million pixels once decoded."""
    return encode(Image.new("1", (20000, 20000)))


BAD_PICTURES = {
    "text": (lambda d, encode: b"this is a shopping list, not a picture", "not an image"),
    "zip": (lambda d, encode: zip_bytes(), "not an image"),
    "truncated-png": (lambda d, encode: encode(d[0])[:200], "could not be decoded"),
    "decompression-bomb": (lambda d, encode: bomb(encode), "too large"),
    "svg": (lambda d, encode: b'<svg xmlns="http://www.w3.org/2000/svg"><text>7</text></svg>', "not an image"),
    "over-the-upload-limit": (lambda d, encode: b"\0" * (uploads.MAX_UPLOAD_MB * 2**20 + 1), "the limit is 20 MB"),
}


@pytest.mark.parametrize("case", list(BAD_PICTURES))
def test_bad_pictures_get_a_clear_message(app, digit, case, encode):
    make, message = BAD_PICTURES[case]
    upload(app, f"{case}.png", make(digit, encode))
    assert message in app.error[0].value, app.error[0].value
    assert answers(app) is None
    still_serving(app, digit, encode)


def test_odd_but_real_pictures_are_read(app, digit, mnist, rng, encode):
    image, label = digit
    cases = {
        "animated.gif": animated_gif(image, mnist[1][0][1]),  # the first frame counts
        "16-bit.png": encode(Image.fromarray(image.astype(np.uint16) * 257)),
        "cmyk.jpg": encode(Image.fromarray(255 - image).convert("CMYK"), "JPEG", quality=95),
        "alpha-only.png": encode(np.dstack([np.zeros_like(image)] * 3 + [image])),
        "photo.jpg": photo(image, rng, encode),
    }
    for name, data in cases.items():
        upload(app, name, data)
        assert not app.error, (name, app.error[0].value)
        assert answers(app) == label, name


# ---- model uploads, through the training page's uploader ----


def keras_bytes(model):
    return mnist_cnn.model_bytes(model)


def lambda_model(marker):
    # a lambda, as an attacker would write it: Keras stores its bytecode in the file
    code = eval(f"lambda x: (open({str(marker)!r}, 'w').write('this code ran'), x)[1]")
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Lambda(code), keras.layers.Flatten(),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model


def other_model(input_shape=(28, 28, 1), outputs=10):
    model = keras.Sequential([keras.Input(input_shape), keras.layers.Flatten(),
                              keras.layers.Dense(outputs, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model


def test_a_model_with_code_inside_is_refused_and_its_code_never_runs(app, tmp_path):
    marker = tmp_path / "ran.txt"
    data = keras_bytes(lambda_model(marker))  # building it runs the function once, here in the test
    marker.unlink()
    app.switch_page("pages/training.py").run()
    app.file_uploader(key="model_upload").set_value(("hostile.keras", data, "application/zip")).run()
    assert not app.exception and "Lambda" in app.error[0].value
    assert not marker.exists()  # refused before anything in the file was called
    assert "the shipped model" in " ".join(m.value for m in app.sidebar.markdown)


@pytest.mark.parametrize(
    "case",
    ["not-a-zip", "truncated", "input-32x32x3", "five-outputs", "over-the-upload-limit"],
)
def test_bad_model_files_get_a_clear_message(app, case):
    good = keras_bytes(other_model())
    data, message = {
        "not-a-zip": (b"PK? no, just text", "not a Keras .keras file"),
        "truncated": (good[: len(good) // 2], "not a Keras .keras file"),
        "input-32x32x3": (keras_bytes(other_model((32, 32, 3))), "(28, 28, 1) image input"),
        "five-outputs": (keras_bytes(other_model(outputs=5)), "10 digit probabilities"),
        "over-the-upload-limit": (b"\0" * (uploads.MAX_UPLOAD_MB * 2**20 + 1), "the limit is 20 MB"),
    }[case]
    app.switch_page("pages/training.py").run()
    app.file_uploader(key="model_upload").set_value((f"{case}.keras", data, "application/zip")).run()
    assert not app.exception and message in app.error[0].value, app.error[0].value
    card = " ".join(m.value for m in app.sidebar.markdown)
    assert "the shipped model" in card
    app.file_uploader(key="model_upload").set_value(("good.keras", good, "application/zip")).run()  # still serving
    assert not app.error and "uploaded: good.keras" in " ".join(m.value for m in app.sidebar.markdown)


# ---- the dataset file ----


def npz(path, **arrays):
    with open(path, "wb") as f:
        np.savez(f, **arrays)
    return path


@pytest.mark.parametrize("case", ["missing", "corrupt", "wrong-shapes"])
def test_bad_data_files_are_explained_and_drawing_still_works(monkeypatch, tmp_path, digit, case, new_session,
                                                               encode):
    path = tmp_path / f"{case}.npz"
    if case == "corrupt":
        path.write_bytes(b"PK\x03\x04 this is not a whole npz")
    elif case == "wrong-shapes":
        small = np.zeros((100, 28, 28), np.uint8)
        npz(path, x_train=small, y_train=np.zeros(100, np.uint8), x_test=small, y_test=np.zeros(100, np.uint8))
    monkeypatch.setenv("MNIST_NPZ", str(path))
    at = new_session(timeout=60)
    for page in ["pages/training.py", "pages/gallery.py", "pages/data.py"]:
        at.switch_page(page).run()
        assert not at.exception
        error = at.error[0].value
        assert "MNIST could not be loaded" in error and path.name in error
    at.switch_page("pages/canvas.py").run()
    assert not at.exception and not at.error
    still_serving(at, digit, encode)
