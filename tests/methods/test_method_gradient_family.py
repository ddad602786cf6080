"""Gradient-family methods and the Sobel control together: the noise of smoothgrad/vargrad,
batch size, model kinds and input forms, bad settings, VGG16."""

from __future__ import annotations

import numpy as np
import pytest
from _method_cases import CAM, KINDS, tanh_mlp_gradient
from _tolerance import assert_roundoff_close

import xaibench as xb
from xaibench._tf import keras, tf
from xaibench.methods import NotApplicable

MINE = [
    "gradient_x_input",
    "smoothgrad",
    "vargrad",
    "guided_backprop",
    "grad_cam",
    "grad_cam_pp",
    "sobel",
]


@pytest.mark.parametrize("name, reduce", [("smoothgrad", np.mean), ("vargrad", np.var)])
def test_noisy_gradients_definition(tanh_mlp, name, reduce):
    """mean / variance of the gradients at x + N(0, (0.15 * range(x_i))^2), the noise being the
    documented stream: default_rng(seed).standard_normal((N, samples) + shape), float32."""
    model, params, x, y = tanh_mlp
    samples, seed = 5, 3
    eps = np.random.default_rng(seed).standard_normal((len(x), samples, 4), dtype=np.float32)
    sigma = 0.15 * (x.max(axis=1) - x.min(axis=1))
    noisy = x[:, None] + sigma[:, None, None].astype(np.float32) * eps
    grads = tanh_mlp_gradient(noisy.reshape(-1, 4), np.repeat(y, samples), params)
    expected = reduce(grads.reshape(len(x), samples, 4), axis=1)
    a = xb.methods.get(name, samples=samples, seed=seed)(model, x, y)
    np.testing.assert_allclose(a, expected, rtol=1e-4, atol=1e-6)
    assert np.abs(a).max() > 1e-3  # not trivially zero


@pytest.mark.parametrize("name", ["smoothgrad", "vargrad"])
def test_seed(tanh_mlp, name):
    model, _, x, y = tanh_mlp
    a0 = xb.methods.get(name, seed=0)(model, x, y)
    np.testing.assert_array_equal(xb.methods.get(name, seed=0)(model, x, y), a0)
    assert not np.allclose(xb.methods.get(name, seed=1)(model, x, y), a0, rtol=1e-3)


@pytest.mark.parametrize("name", MINE)
def test_batch_size_does_not_change_attributions(cnn_models, cnn_data, name):
    """Equal up to kernel round-off (tests/_tolerance.py); fails if the noise of SmoothGrad or
    VarGrad, or the path of integrated gradients, were drawn or split per batch."""
    _, x, y = cnn_data
    model = cnn_models["sequential"]
    a1 = xb.methods.get(name, batch_size=1)(model, x, y)
    a64 = xb.methods.get(name, batch_size=64)(model, x, y)
    assert_roundoff_close(a1, a64)


@pytest.mark.parametrize(
    "name, params, match",
    [
        ("smoothgrad", {"samples": 0}, "samples"),
        ("smoothgrad", {"noise": -0.1}, "noise"),
        ("vargrad", {"noise": "high"}, "noise"),
        ("smoothgrad", {"noise": float("inf")}, "noise"),
        ("vargrad", {"samples": True}, "samples"),
        ("vargrad", {"seed": -1}, "seed"),
        ("gradient_x_input", {"batch_size": 0}, "batch_size"),
        ("grad_cam", {"layer": 3}, "layer"),
        ("grad_cam_pp", {"layer": ""}, "layer"),
        ("sobel", {"batch_size": 1.5}, "batch_size"),
    ],
)
def test_invalid_settings(name, params, match):
    with pytest.raises(ValueError, match=match):
        xb.methods.get(name, **params)


# --------------------------------------------------------------------------------------------
# Every method on Sequential, functional and subclassed models; numpy, tensor, tf.data inputs
# --------------------------------------------------------------------------------------------


def input_forms(x, y):
    yield "numpy", x, y
    yield "tensor", tf.constant(x), tf.constant(y)
    yield "dataset", tf.data.Dataset.from_tensor_slices((x, y)).batch(3), None


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", MINE)
def test_model_kinds_and_input_forms(cnn_models, cnn_data, name, kind):
    _, x, y = cnn_data
    m = xb.methods.get(name)
    model = cnn_models[kind]
    if name in CAM and kind == "subclassed":
        assert "subclassed" in m.applicable(model, x)
        with pytest.raises(NotApplicable, match="subclassed"):
            m(model, x, y)
        return
    assert m.applicable(model, x) is None
    ref = m(cnn_models["sequential"], x, y)
    assert ref.shape in (x.shape, x.shape[:3]) and np.isfinite(ref).all()
    assert np.abs(ref).max() > 0
    for form, xs, ys in input_forms(x, y):
        assert_roundoff_close(m(model, xs, ys), ref, err_msg=form)


@pytest.fixture(scope="module")
def vgg16():
    model = keras.applications.VGG16(weights=None, input_shape=(32, 32, 3), classes=10)
    x = np.random.default_rng(38).uniform(0, 1, size=(2, 32, 32, 3)).astype(np.float32)
    return model, x, np.array([3, 7])


@pytest.mark.slow
@pytest.mark.parametrize("name", MINE)
def test_vgg16(vgg16, name):
    model, x, y = vgg16
    a = xb.methods.get(name)(model, x, y)
    assert a.shape in (x.shape, x.shape[:3])
    assert np.isfinite(a).all()
