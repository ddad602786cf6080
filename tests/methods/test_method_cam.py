"""The CAM machinery (methods/_cam.py) through grad_cam and grad_cam_pp: numpy definitions
at every layer, saved models, and where the methods do not apply."""

from __future__ import annotations

import _tiny
import numpy as np
import pytest
from _method_cases import CAM, grad_cam_numpy

import xaibench as xb
from xaibench._tf import keras
from xaibench.methods import NotApplicable


def cam_cnn_numpy(x, y, params):
    """Feature maps and gradients of the raw output f_y of ``cam_cnn``, in float64:
    ``(a1, g1, a2, g2)`` with a = a layer's output, g = d f_y / d a."""
    k1, b1, k2, b2, wd, _ = (np.asarray(p, np.float64) for p in params)
    x = x.astype(np.float64)
    z1 = np.zeros((len(x), 3, 3, 2))
    for i in range(3):
        for j in range(3):
            z1[:, i, j] = np.einsum("nuvc,uvck->nk", x[:, i : i + 3, j : j + 3], k1)
    a1 = np.maximum(z1 + b1, 0)
    z2 = a1 @ k2[0, 0] + b2
    a2 = np.maximum(z2, 0)
    g2 = wd[:, y].T.reshape(len(x), 3, 3, 3)
    g1 = (g2 * (z2 > 0)) @ k2[0, 0].T
    return a1, g1, a2, g2


def bilinear(maps, size):
    """Bilinear upsampling with half-pixel centres (edges clamped), as tf.image.resize."""

    def matrix(n_in, n_out):
        src = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
        lo = np.floor(src).astype(int)
        hi = np.minimum(lo + 1, n_in - 1)
        m = np.zeros((n_out, n_in))
        m[np.arange(n_out), lo] += 1 - (src - lo)
        m[np.arange(n_out), hi] += src - lo
        return m

    mh, mw = matrix(maps.shape[1], size[0]), matrix(maps.shape[2], size[1])
    return np.einsum("hi,nij,wj->nhw", mh, maps, mw)


def grad_cam_pp_numpy(a, g):
    """Chattopadhay et al. 2018, eq. for alpha with exponential output, written element-wise."""
    n, h, w, k = a.shape
    weights = np.zeros((n, k))
    for s in range(n):
        for c in range(k):
            total = a[s, :, :, c].sum()
            for i in range(h):
                for j in range(w):
                    d = g[s, i, j, c]
                    denom = 2 * d**2 + total * d**3
                    alpha = d**2 / denom if denom != 0 else 0.0
                    weights[s, c] += alpha * max(d, 0.0)
    return np.maximum(np.einsum("nhwk,nk->nhw", a, weights), 0)


@pytest.mark.parametrize(
    "name, numpy_map", [("grad_cam", grad_cam_numpy), ("grad_cam_pp", grad_cam_pp_numpy)]
)
@pytest.mark.parametrize("layer", [None, "conv2", "conv1"])
def test_cam_against_numpy(cam_case, name, numpy_map, layer):
    model, params, x, y = cam_case
    a1, g1, a2, g2 = cam_cnn_numpy(x, y, params)
    np.testing.assert_allclose(
        model(x).numpy()[np.arange(len(x)), y],
        (a2.reshape(len(x), -1) @ params[4] + params[5])[np.arange(len(x)), y],
        rtol=1e-5,
    )  # the numpy forward pass is the model's
    small = numpy_map(a1, g1) if layer == "conv1" else numpy_map(a2, g2)
    assert (small > 0).any()
    if name == "grad_cam":
        assert (small == 0).any()  # the ReLU is exercised
    a = xb.methods.get(name, layer=layer)(model, x, y)
    assert a.shape == (4, 5, 5) and a.dtype == np.float32
    np.testing.assert_allclose(a, bilinear(small, (5, 5)), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", CAM)
def test_cam_of_a_saved_and_loaded_sequential_model(cam_case, tmp_path, name):
    """A Sequential model loaded from a .keras file has its layers called on several graphs;
    the maps must still be those of the graph that computes the output (not all zero)."""
    model, _, x, y = cam_case
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras", compile=False)
    expected = xb.methods.get(name)(model, x, y)
    assert (expected > 0).any()
    np.testing.assert_allclose(xb.methods.get(name)(loaded, x, y), expected, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name", CAM)
def test_cam_without_convolutions_is_not_applicable(name):
    w = np.random.default_rng(36).normal(size=(12, 3))
    model = _tiny.linear_image(w, np.zeros(3), (2, 2, 3))
    x = np.ones((2, 2, 2, 3), np.float32)
    m = xb.methods.get(name)
    assert "convolutional" in m.applicable(model, x)
    with pytest.raises(NotApplicable, match="convolutional"):
        m(model, x, [0, 1])


@pytest.mark.parametrize("name", CAM)
def test_cam_on_tabular_inputs_is_not_applicable(name, gradient_linear_tab):
    model, _, x, y = gradient_linear_tab
    m = xb.methods.get(name)
    assert "image" in m.applicable(model, x)
    with pytest.raises(NotApplicable):
        m(model, x, y)


@pytest.mark.parametrize("name", CAM)
def test_cam_unknown_layer_lists_the_conv_layers(cam_case, name):
    model, _, x, y = cam_case
    with pytest.raises(ValueError, match=r"'conv9'.*'conv1', 'conv2'"):
        xb.methods.get(name, layer="conv9")(model, x, y)
