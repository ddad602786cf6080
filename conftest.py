"""The names the docstring examples of xaibench use (``python -m pytest`` runs them): ``np``,
``xb``, and for the examples of methods and metrics a small convolutional network with seeded
weights (the zoo's ``cnn``, untrained), four digits ``x`` with their labels ``y``, saliency maps
``a`` and ground-truth ``masks`` (the centre 4x4 of each image)."""

import importlib.util

import numpy as np
import pytest

import xaibench as xb


@pytest.fixture(scope="session")
def _example_data():
    d = xb.datasets.load("digits")
    x, y = d.x_test[:4], d.y_test[:4]
    model = xb.models.cls("cnn")().build(d.input_shape, d.n_classes, 0)
    masks = np.zeros((4, 8, 8), bool)
    masks[:, 2:6, 2:6] = True
    a = xb.methods.get("saliency")(model, x, y)
    return {"model": model, "x": x, "y": y, "a": a, "masks": masks, "removed": masks}


@pytest.fixture(autouse=True)
def _doctest_names(request, doctest_namespace):
    doctest_namespace.update(np=np, xb=xb)
    if isinstance(request.node, pytest.DoctestItem):
        doctest_namespace.update(request.getfixturevalue("_example_data"))


def pytest_ignore_collect(collection_path, config):
    """The conftest files of tests/ folders hold fixtures, not docstring examples: collecting them
    as doctest modules would import several modules named ``conftest``. Without torch, the
    PyTorch adapter's module is not collected (it imports torch)."""
    if collection_path.name == "conftest.py" and "tests" in collection_path.parts:
        return True
    if collection_path.name == "_torch.py" and importlib.util.find_spec("torch") is None:
        return True  # the PyTorch adapter imports torch (the torch extra); tests/torch skip too
    return None
