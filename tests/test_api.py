"""The public API: declared statically for editors and type checkers, loaded lazily, typed."""

import ast
import inspect
from pathlib import Path

import mnist_cnn

INIT = Path(mnist_cnn.__file__)


def type_checking_imports():
    """The names imported under `if TYPE_CHECKING:` in mnist_cnn/__init__.py, with their modules."""
    tree = ast.parse(INIT.read_text())
    block = next(node for node in tree.body if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING")
    return {alias.name: node.module for node in block.body for alias in node.names}


def test_the_static_names_and_the_lazy_ones_agree():
    static = type_checking_imports()
    assert sorted(mnist_cnn.__all__) == sorted(static) == sorted(mnist_cnn._HOMES)
    assert all(mnist_cnn._HOMES[name] == module for name, module in static.items())
    assert set(mnist_cnn.__all__) <= set(dir(mnist_cnn))


def test_every_public_function_is_typed():
    for name in mnist_cnn.__all__:
        thing = getattr(mnist_cnn, name)
        if inspect.isfunction(thing):
            signature = inspect.signature(thing)
            untyped = [p for p in signature.parameters.values()
                       if p.annotation is p.empty and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
            assert not untyped and signature.return_annotation is not signature.empty, name


def test_train_documents_each_argument():
    doc = mnist_cnn.train.__doc__
    assert "Args:" in doc
    assert all(f"{name}:" in doc for name in inspect.signature(mnist_cnn.train).parameters)
