"""Fixtures of the metric tests: tiny hand-set linear models and inputs several metrics' files use
(module scope: every test file builds its own)."""

import _tiny
import numpy as np
import pytest
from _metric_cases import LINEAR_IMG_SHAPE, mlp3


@pytest.fixture(scope="module")
def tabular_case():
    """5 features, 2 classes, 3 samples with hand-drawn weights and attributions (with ties)."""
    rng = np.random.default_rng(1)
    w = rng.normal(size=(5, 2)).round(2)
    b = np.array([0.3, -0.2])
    x = rng.normal(size=(3, 5)).round(2).astype(np.float32)
    y = np.array([0, 1, 1])
    a = np.array(
        [[0.5, -1.0, 0.5, 2.0, 0.0], [1.0, 1.0, 1.0, 1.0, 1.0], [-3.0, 2.0, 0.1, 0.2, 4.0]]
    )
    return _tiny.linear_tabular(w, b), w, b, x, y, a


@pytest.fixture(scope="module")
def image_case():
    """Images (3, 2, 3, 2): 6 features (pixels) of 2 channels; linear model with 3 classes."""
    rng = np.random.default_rng(2)
    shape = (2, 3, 2)
    w = rng.normal(size=(12, 3)).round(2)
    b = np.array([0.1, -0.4, 0.2])
    x = rng.uniform(0, 1, size=(3,) + shape).round(2).astype(np.float32)
    y = np.array([2, 0, 1])
    a4 = rng.normal(size=(3,) + shape).round(1)
    return _tiny.linear_image(w, b, shape), shape, w, b, x, y, a4


@pytest.fixture(scope="module")
def linear_img():
    rng = np.random.default_rng(4)
    n_in = int(np.prod(LINEAR_IMG_SHAPE))
    w = rng.normal(size=(n_in, 3)).round(2)
    b = np.array([0.2, -0.1, 0.0])
    x = rng.uniform(size=(5,) + LINEAR_IMG_SHAPE).round(2).astype(np.float32)
    y = np.array([0, 1, 2, 0, 1])
    return _tiny.linear_image(w, b, LINEAR_IMG_SHAPE), w, b, x, y


@pytest.fixture(scope="module")
def linear_rgb():
    """Images (4, 3, 5, 2) with two channels and a linear model with 3 classes."""
    rng = np.random.default_rng(15)
    shape = (3, 5, 2)
    w = rng.normal(size=(30, 3)).round(2)
    b = np.array([0.1, 0.0, -0.3])
    x = rng.uniform(size=(4,) + shape).astype(np.float32)
    y = np.array([2, 0, 1, 1])
    a = rng.normal(size=(4, 15)).round(1)  # ties included
    return _tiny.linear_image(w, b, shape), w, b, x, y, a


@pytest.fixture(scope="module")
def linear_tab():
    rng = np.random.default_rng(8)
    w = rng.normal(size=(6, 3))
    b = rng.normal(size=3)
    x = rng.normal(size=(4, 6)).astype(np.float32)
    y = np.array([0, 2, 1, 2])
    return _tiny.linear_tabular(w, b), w, b, x, y


@pytest.fixture(scope="module")
def tab3():
    rng = np.random.default_rng(20)
    x = rng.normal(size=(6, 16)).astype(np.float32)
    y = np.array([0, 1, 2, 3, 1, 2])
    return mlp3(), x, y
