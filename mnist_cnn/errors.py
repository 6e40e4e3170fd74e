"""The errors the core raises for bad input: one clear sentence each, never a traceback for the user."""


class MnistCnnError(Exception):
    """Base class: the CLI and the app show its message as it is."""


class DataError(MnistCnnError):
    """The MNIST data cannot be found, read or trusted."""


class ModelFileError(MnistCnnError):
    """A model file is missing, broken, unsafe or does not fit MNIST."""


class ImageError(MnistCnnError):
    """An image file cannot be read as a digit."""
