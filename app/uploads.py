"""Uploaded files to what the core takes, or a one-line reason: pictures of digits, drawings files and `.keras`
models."""

import numpy as np
import streamlit as st
from streamlit.runtime.uploaded_file_manager import UploadedFile

import mnist_cnn as mc
from app import session

MAX_UPLOAD_MB = 20  # the same as server.maxUploadSize in .streamlit/config.toml
PICTURE_TYPES = ["png", "jpg", "jpeg", "gif", "bmp", "webp", "tif", "tiff"]


def _size_checked(file: UploadedFile, error: type[mc.MnistCnnError]) -> bytes:
    if file.size > MAX_UPLOAD_MB * 2**20:
        raise error(f"{file.name} is {file.size / 2**20:.1f} MB; the limit is {MAX_UPLOAD_MB} MB.")
    return file.getvalue()


def picture(file: UploadedFile) -> np.ndarray:
    """The uploaded picture as a uint8 image; raises mc.ImageError with the reason."""
    return mc.read_image(_size_checked(file, mc.ImageError), name=file.name)


def drawings(file: UploadedFile) -> tuple[np.ndarray, np.ndarray]:
    """An uploaded drawings `.npz` as (images in [0, 1], labels); raises mc.DataError with the reason."""
    return mc.load_drawings(_size_checked(file, mc.DataError))


def take_model() -> None:
    """on_change of the model uploader: the file becomes the session's model, or the reason it cannot."""
    file = st.session_state.model_upload
    if file is None:
        return
    try:
        session.set_model(mc.load_model(_size_checked(file, mc.ModelFileError)), f"uploaded: {file.name}")
    except (mc.ModelFileError, session.ServerFull) as e:
        st.session_state.upload_error = str(e)
