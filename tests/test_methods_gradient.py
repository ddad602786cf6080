"""Gradient-family methods and the Sobel control against exact answers on tiny hand-set models:
gradient_x_input, smoothgrad, vargrad, guided_backprop, grad_cam, grad_cam_pp, sobel."""

from __future__ import annotations

import _tiny
import numpy as np
import pytest
from _tolerance import assert_roundoff_close
from scipy import ndimage

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
CAM = ["grad_cam", "grad_cam_pp"]
KINDS = ["sequential", "functional", "subclassed"]


# --------------------------------------------------------------------------------------------
# Tiny models (hand-set weights) and their numpy counterparts
# --------------------------------------------------------------------------------------------


class Stack(keras.Model):
    """A subclassed model applying its layers in order."""

    def __init__(self, stack):
        super().__init__()
        self.stack = stack

    def call(self, x):
        for layer in self.stack:
            x = layer(x)
        return x


def assemble(kind, input_shape, stack):
    """The layers of ``stack`` as a Sequential, functional or subclassed model (built)."""
    if kind == "sequential":
        return keras.Sequential([keras.Input(input_shape), *stack])
    if kind == "functional":
        inp = keras.Input(input_shape)
        out = inp
        for layer in stack:
            out = layer(out)
        return keras.Model(inp, out)
    model = Stack(stack)
    model(np.zeros((1,) + tuple(input_shape), np.float32))
    return model


def relu_mlp(kind, form, w1, b1, w2, b2):
    """Dense -> ReLU (as ``form``) -> Dense on tabular rows."""
    hidden = {
        "dense_activation": [keras.layers.Dense(w1.shape[1], activation="relu")],
        "relu_layer": [keras.layers.Dense(w1.shape[1]), keras.layers.ReLU()],
        "activation_layer": [keras.layers.Dense(w1.shape[1]), keras.layers.Activation("relu")],
        "tf_relu": [keras.layers.Dense(w1.shape[1], activation=tf.nn.relu)],
        "relu6_layer": [keras.layers.Dense(w1.shape[1]), keras.layers.ReLU(max_value=6.0)],
    }[form]
    head = keras.layers.Dense(w2.shape[1])
    model = assemble(kind, (w1.shape[0],), [*hidden, head])
    hidden[0].set_weights([w1, b1])
    head.set_weights([w2, b2])
    return model


def relu_cnn(kind, weights):
    """Conv2D(3x3, same, ReLU) -> MaxPool(2) -> Flatten -> Dense on 6 x 6 x 2 images."""
    conv = keras.layers.Conv2D(3, 3, padding="same", activation="relu", name="conv")
    dense = keras.layers.Dense(3, name="head")
    model = assemble(
        kind, (6, 6, 2), [conv, keras.layers.MaxPooling2D(), keras.layers.Flatten(), dense]
    )
    conv.set_weights(weights[:2])
    dense.set_weights(weights[2:])
    return model


def cam_cnn(kind="sequential"):
    """conv1 (3x3 valid, ReLU) -> conv2 (1x1, ReLU) -> Flatten -> Dense on 5 x 5 x 1 images.

    Returns ``(model, (k1, b1, k2, b2, wd, bd))``; feature maps are 3 x 3 (2 and 3 channels)."""
    k1 = np.array(
        [
            [[[1.0, -0.5]], [[0.0, 1.0]], [[-1.0, 0.5]]],
            [[[2.0, 0.0]], [[0.5, -1.0]], [[-0.5, 0.0]]],
            [[[1.0, 0.5]], [[0.0, 0.0]], [[-1.0, -0.5]]],
        ],
        np.float32,
    )  # (3, 3, 1, 2)
    b1 = np.array([0.1, -0.2], np.float32)
    k2 = np.array([[[[1.0, -1.0, 0.5], [0.5, 2.0, -1.0]]]], np.float32)  # (1, 1, 2, 3)
    b2 = np.array([0.0, 0.3, 0.2], np.float32)
    rng = np.random.default_rng(21)
    wd = rng.normal(0, 1, (27, 3)).astype(np.float32)
    bd = np.array([0.1, 0.0, -0.1], np.float32)
    conv1 = keras.layers.Conv2D(2, 3, activation="relu", name="conv1")
    conv2 = keras.layers.Conv2D(3, 1, activation="relu", name="conv2")
    dense = keras.layers.Dense(3, name="head")
    model = assemble(kind, (5, 5, 1), [conv1, conv2, keras.layers.Flatten(), dense])
    conv1.set_weights([k1, b1])
    conv2.set_weights([k2, b2])
    dense.set_weights([wd, bd])
    return model, (k1, b1, k2, b2, wd, bd)


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


def grad_cam_numpy(a, g):
    """ReLU(sum_k mean_ij(g^k) A^k), straight from Selvaraju et al. 2017."""
    return np.maximum((a * g.mean(axis=(1, 2), keepdims=True)).sum(axis=-1), 0)


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


def tanh_mlp_gradient(x, y, params):
    """d f_y / d x of ``_tiny.smooth_mlp``, float64."""
    w1, b1, w2, _ = (np.asarray(p, np.float64) for p in params)
    h = np.tanh(x.astype(np.float64) @ w1 + b1)
    return ((1 - h**2) * w2[:, y].T) @ w1.T


# --------------------------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def linear_tab():
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


# --------------------------------------------------------------------------------------------
# Gradient x input, SmoothGrad, VarGrad
# --------------------------------------------------------------------------------------------


def test_gradient_x_input_linear(linear_tab):
    model, w, x, y = linear_tab
    a = xb.methods.get("gradient_x_input")(model, x, y)
    np.testing.assert_allclose(a, w[:, y].T * x, rtol=1e-6)


@pytest.mark.parametrize("samples, noise", [(1, 0.15), (25, 0.15), (7, 1.0)])
def test_smoothgrad_linear_is_the_weights(linear_tab, samples, noise):
    """The gradient of a linear model is constant: noise does not change it."""
    model, w, x, y = linear_tab
    a = xb.methods.get("smoothgrad", samples=samples, noise=noise)(model, x, y)
    np.testing.assert_allclose(a, w[:, y].T, rtol=1e-6)


def test_vargrad_linear_is_zero(linear_tab):
    """The gradient of a linear model is its weight at every noisy copy, so their variance is 0
    up to the round-off of a float32 mean of equal values (kernel round-off of a quantity of size
    w**2: tests/_tolerance.py). A variance of the inputs or of gradient x input instead would
    be ~(noise x w)**2, a fraction of w**2."""
    model, w, x, y = linear_tab
    a = xb.methods.get("vargrad")(model, x, y)
    assert_roundoff_close(a, np.zeros_like(a), scale=np.abs(w).max() ** 2)


def test_smoothgrad_without_noise_is_the_gradient(tanh_mlp):
    model, params, x, y = tanh_mlp
    a = xb.methods.get("smoothgrad", samples=1, noise=0.0)(model, x, y)
    np.testing.assert_allclose(a, tanh_mlp_gradient(x, y, params), rtol=1e-5, atol=1e-6)


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
# Guided backpropagation
# --------------------------------------------------------------------------------------------

GB_W1 = np.array([[1.0, -1.0, 0.5], [0.5, 1.0, -1.0], [-1.0, 0.5, 1.0], [2.0, 0.0, 1.0]])
GB_B1 = np.array([0.1, 0.2, -0.1])
GB_W2 = np.array([[1.0, -1.0], [-2.0, 1.0], [0.5, 0.5]])  # negative entries: gradients to zero
GB_B2 = np.array([0.0, 0.1])


def guided_numpy(x, y, relu6=False):
    """Guided gradient of Dense -> ReLU -> Dense: at the ReLU, pass only positive gradients
    where the ReLU's input is positive (and < 6 for ReLU6)."""
    h = x.astype(np.float64) @ GB_W1 + GB_B1
    g = GB_W2[:, y].T
    active = (h > 0) & (h < 6) if relu6 else h > 0
    return (g * active * (g > 0)) @ GB_W1.T, (g * active) @ GB_W1.T


@pytest.fixture(scope="module")
def gb_data():
    x = np.random.default_rng(34).normal(0, 2, size=(8, 4)).astype(np.float32)
    return x, np.arange(8) % 2


@pytest.mark.parametrize(
    "kind, form",
    [
        ("sequential", "dense_activation"),
        ("sequential", "relu_layer"),
        ("sequential", "activation_layer"),
        ("sequential", "tf_relu"),
        ("sequential", "relu6_layer"),
        ("functional", "relu_layer"),
        ("subclassed", "dense_activation"),
    ],
)
def test_guided_backprop_hand_computed(gb_data, kind, form):
    x, y = gb_data
    model = relu_mlp(kind, form, GB_W1, GB_B1, GB_W2, GB_B2)
    guided, plain = guided_numpy(x, y, relu6=form == "relu6_layer")
    assert not np.allclose(guided, plain)  # the test can tell guided from plain gradients
    if form == "relu6_layer":  # ... and ReLU6 from ReLU (some hidden inputs exceed 6)
        assert not np.allclose(guided, guided_numpy(x, y)[0])
    a = xb.methods.get("guided_backprop")(model, x, y)
    np.testing.assert_allclose(a, guided, rtol=1e-5, atol=1e-6)


def eager_gradients(model, x, y):
    """Plain d f_y / d x from a fresh eager tape (the gradients TensorFlow registers)."""
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        s = tf.gather(model(x, training=False), y, axis=1, batch_dims=1)
    return tape.gradient(s, x).numpy()


@pytest.mark.parametrize("kind", KINDS)
def test_guided_backprop_leaves_the_model_unchanged(gb_data, kind):
    x, y = gb_data
    model = relu_mlp(kind, "relu_layer", GB_W1, GB_B1, GB_W2, GB_B2)
    saliency = xb.methods.get("saliency")
    before = {
        "weights": [w.copy() for w in model.get_weights()],
        "layers": [(type(layer), layer.get_config()) for layer in model.layers],
        "activations": [getattr(layer, "activation", None) for layer in model.layers],
        "outputs": model(x).numpy(),
        "saliency": saliency(model, x, y),
    }
    xb.methods.get("guided_backprop")(model, x, y)
    after_layers = [(type(layer), layer.get_config()) for layer in model.layers]
    assert after_layers == before["layers"]
    assert [getattr(layer, "activation", None) for layer in model.layers] == before["activations"]
    for w0, w1 in zip(before["weights"], model.get_weights(), strict=True):
        np.testing.assert_array_equal(w1, w0)
    np.testing.assert_array_equal(model(x).numpy(), before["outputs"])
    np.testing.assert_array_equal(saliency(model, x, y), before["saliency"])
    _, plain = guided_numpy(x, y)
    np.testing.assert_allclose(eager_gradients(model, x, y), plain, rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------------------------
# Grad-CAM and Grad-CAM++
# --------------------------------------------------------------------------------------------


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


def test_cam_layer_choice_matters(cam_case):
    model, _, x, y = cam_case
    last = xb.methods.get("grad_cam")(model, x, y)
    first = xb.methods.get("grad_cam", layer="conv1")(model, x, y)
    assert not np.allclose(last, first)


def test_cam_same_size_maps_are_not_resampled(cnn_models, cnn_data):
    """With 'same' padding the maps are the input's size: Grad-CAM is the map itself."""
    weights, x, y = cnn_data
    model = keras.Sequential(
        [
            keras.Input((6, 6, 2)),
            conv := keras.layers.Conv2D(3, 3, padding="same", activation="relu"),
            keras.layers.Flatten(),
            dense := keras.layers.Dense(3),
        ]
    )
    conv.set_weights(weights[:2])
    w = np.random.default_rng(35).normal(size=(108, 3)).astype(np.float32)
    dense.set_weights([w, weights[3]])
    a_map = model.layers[0](x).numpy().astype(np.float64)
    g = w[:, y].T.reshape(a_map.shape)
    a = xb.methods.get("grad_cam")(model, x, y)
    np.testing.assert_allclose(a, grad_cam_numpy(a_map, g), rtol=1e-5, atol=1e-6)


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
def test_cam_on_tabular_inputs_is_not_applicable(name, linear_tab):
    model, _, x, y = linear_tab
    m = xb.methods.get(name)
    assert "image" in m.applicable(model, x)
    with pytest.raises(NotApplicable):
        m(model, x, y)


@pytest.mark.parametrize("name", CAM)
def test_cam_unknown_layer_lists_the_conv_layers(cam_case, name):
    model, _, x, y = cam_case
    with pytest.raises(ValueError, match=r"'conv9'.*'conv1', 'conv2'"):
        xb.methods.get(name, layer="conv9")(model, x, y)


def test_cam_conv_layer_inside_a_nested_model_is_not_applicable(cam_case):
    inner, _, x, y = cam_case
    outer = keras.Sequential([keras.Input((5, 5, 1)), inner, keras.layers.Dense(2)])
    m = xb.methods.get("grad_cam")
    assert "nested" in m.applicable(outer, x)
    with pytest.raises(NotApplicable, match="nested"):
        m(outer, x, y % 2)


# --------------------------------------------------------------------------------------------
# Sobel
# --------------------------------------------------------------------------------------------


def test_sobel_vertical_edge_by_hand():
    """A step from 0 to 1 between columns 2 and 3: Gx = 1 + 2 + 1 = 4 on both sides of the
    step, 0 elsewhere (borders reflected); Gy = 0. Two identical channels sum to 8."""
    img = np.zeros((1, 4, 6, 2), np.float32)
    img[:, :, 3:] = 1.0
    a = xb.methods.get("sobel")(None, img, [0])
    expected = np.tile([0.0, 0.0, 8.0, 8.0, 0.0, 0.0], (4, 1))[None]
    np.testing.assert_array_equal(a, expected)


def test_sobel_against_scipy():
    x = np.random.default_rng(37).uniform(size=(3, 5, 7, 2)).astype(np.float32)
    expected = np.zeros((3, 5, 7))
    for n in range(3):
        for c in range(2):
            img = x[n, :, :, c].astype(np.float64)
            expected[n] += np.hypot(ndimage.sobel(img, axis=0), ndimage.sobel(img, axis=1))
    a = xb.methods.get("sobel", batch_size=2)(None, x, np.zeros(3, int))
    np.testing.assert_allclose(a, expected, rtol=1e-6, atol=1e-6)


def test_sobel_ignores_the_model(cnn_models, cnn_data):
    _, x, y = cnn_data
    m = xb.methods.get("sobel")
    ref = m(None, x, y)
    assert ref.shape == x.shape[:3] and ref.std() > 0
    other = _tiny.linear_image(np.ones((72, 3)), np.zeros(3), (6, 6, 2))
    for model in [cnn_models["sequential"], cnn_models["subclassed"], other]:
        np.testing.assert_array_equal(m(model, x, y), ref)


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


def test_base_classes_refuse_a_subclass_without_its_hook():
    from xaibench.methods._cam import CAMMethod
    from xaibench.methods._gradients import NoisyGradientMethod

    with pytest.raises(TypeError, match="must define channel_weights"):
        type("NoWeights", (CAMMethod,), {})
    with pytest.raises(TypeError, match="must define reduce"):
        type("NoReduce", (NoisyGradientMethod,), {})
