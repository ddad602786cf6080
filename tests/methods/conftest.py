"""Fixtures shared by several tests/methods/ files: tiny hand-set models and their data."""

from __future__ import annotations

import _tiny
import numpy as np
import pytest
from _method_cases import IMG_SHAPE, KINDS, cam_cnn, linear_case, relu_cnn, small_cnn


@pytest.fixture(scope="module")
def linear_tab():
    rng = np.random.default_rng(10)
    w = rng.normal(size=(5, 3))
    b = rng.normal(size=3)
    x = rng.normal(size=(4, 5)).astype(np.float32)
    y = np.array([0, 2, 1, 2])
    return _tiny.linear_tabular(w, b), w, b, x, y


@pytest.fixture(scope="module")
def linear_img():
    rng = np.random.default_rng(11)
    w = rng.normal(size=(12, 3))
    b = rng.normal(size=3)
    x = rng.uniform(size=(3,) + IMG_SHAPE).astype(np.float32)
    y = np.array([1, 0, 2])
    return _tiny.linear_image(w, b, IMG_SHAPE), w, b, x, y


@pytest.fixture(scope="module")
def cnn_case():
    rng = np.random.default_rng(12)
    shape = (4, 4, 2)
    x = rng.uniform(size=(5,) + shape).astype(np.float32)
    y = np.array([0, 1, 2, 1, 0])
    return _tiny.small_cnn(shape), x, y


@pytest.fixture(scope="module")
def gradient_linear_tab():
    """The linear tabular case of the gradient-family tests: (model, w, x, y)."""
    rng = np.random.default_rng(30)
    w = rng.normal(size=(5, 3))
    b = rng.normal(size=3)
    x = rng.normal(size=(4, 5)).astype(np.float32)
    y = np.array([0, 2, 1, 2])
    return _tiny.linear_tabular(w, b), w, x, y


@pytest.fixture(scope="module")
def tanh_mlp():
    model, params = _tiny.smooth_mlp(4, n_hidden=6, n_out=3, seed=4)
    rng = np.random.default_rng(31)
    x = (rng.normal(size=(6, 4)) * np.arange(1, 7)[:, None]).astype(np.float32)  # ranges differ
    y = np.arange(6) % 3
    return model, params, x, y


@pytest.fixture(scope="module")
def cnn_data():
    rng = np.random.default_rng(32)
    weights = [
        rng.normal(0, 0.5, (3, 3, 2, 3)).astype(np.float32),
        rng.normal(0, 0.1, 3).astype(np.float32),
        rng.normal(0, 0.5, (27, 3)).astype(np.float32),
        rng.normal(0, 0.1, 3).astype(np.float32),
    ]
    x = rng.uniform(-1, 1, size=(5, 6, 6, 2)).astype(np.float32)
    y = np.array([0, 1, 2, 1, 0])
    return weights, x, y


@pytest.fixture(scope="module")
def cnn_models(cnn_data):
    return {kind: relu_cnn(kind, cnn_data[0]) for kind in KINDS}


@pytest.fixture(scope="module")
def cam_case():
    model, params = cam_cnn()
    rng = np.random.default_rng(33)
    x = rng.uniform(-1, 1, size=(4, 5, 5, 1)).astype(np.float32)
    y = np.array([0, 1, 2, 0])
    return model, params, x, y


@pytest.fixture(scope="module")
def tab():
    return linear_case((5,), n=6)


@pytest.fixture(scope="module")
def cnn3():
    rng = np.random.default_rng(3)
    x = rng.uniform(size=(3, 4, 4, 3)).astype(np.float32)
    return small_cnn((4, 4, 3)), x, np.array([0, 1, 2])
