"""Attribution methods against exact answers on tiny hand-set models (definitions: their
docstrings)."""

from __future__ import annotations

import re

import _tiny
import numpy as np
import pytest
from _tolerance import assert_roundoff_close

import xaibench as xb
from xaibench._tf import keras, tf
from xaibench.methods.base import (
    check_non_negative,
    check_positive,
    check_positive_int,
    check_probability,
    check_seed,
    sample_seeds,
)


def builtin_methods():
    """Names of the methods shipped with xaibench (not ones registered by tests or users)."""
    return _tiny.builtin(xb.methods)


@pytest.fixture(scope="module")
def linear_tab():
    rng = np.random.default_rng(10)
    w = rng.normal(size=(5, 3))
    b = rng.normal(size=3)
    x = rng.normal(size=(4, 5)).astype(np.float32)
    y = np.array([0, 2, 1, 2])
    return _tiny.linear_tabular(w, b), w, b, x, y


IMG_SHAPE = (3, 2, 2)


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


def weights_for(w, y, shape):
    """W[:, y] for every sample, reshaped to the input shape: (N,) + shape."""
    return w[:, y].T.reshape((len(y),) + tuple(shape))


# --------------------------------------------------------------------------------------------
# Saliency
# --------------------------------------------------------------------------------------------


def test_saliency_linear_tabular(linear_tab):
    model, w, _, x, y = linear_tab
    a = xb.methods.get("saliency")(model, x, y)
    np.testing.assert_allclose(a, np.abs(w[:, y].T), rtol=1e-6)


def test_saliency_linear_image(linear_img):
    model, w, _, x, y = linear_img
    a = xb.methods.get("saliency")(model, x, y)
    assert a.shape == x.shape
    np.testing.assert_allclose(a, np.abs(weights_for(w, y, IMG_SHAPE)), rtol=1e-6)


# --------------------------------------------------------------------------------------------
# Integrated gradients
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("steps", [1, 4, 32])
@pytest.mark.parametrize(
    "baseline, base_of",
    [
        (0.0, np.zeros_like),
        (0.5, lambda x: np.full_like(x, 0.5)),
        ("mean", lambda x: np.broadcast_to(x.mean(axis=1, keepdims=True), x.shape)),
        (lambda x: -x, lambda x: -x),
    ],
    ids=["zero", "number", "mean", "callable"],
)
def test_integrated_gradients_linear_tabular(linear_tab, steps, baseline, base_of):
    """The gradient of a linear model is constant, so IG = W[:, y] (x - x') at any step count."""
    model, w, _, x, y = linear_tab
    a = xb.methods.get("integrated_gradients", steps=steps, baseline=baseline)(model, x, y)
    np.testing.assert_allclose(a, w[:, y].T * (x - base_of(x)), rtol=1e-5, atol=1e-6)


def test_integrated_gradients_linear_image(linear_img):
    model, w, _, x, y = linear_img
    a = xb.methods.get("integrated_gradients", steps=8)(model, x, y)
    np.testing.assert_allclose(a, weights_for(w, y, IMG_SHAPE) * x, rtol=1e-5, atol=1e-6)


def test_integrated_gradients_completeness():
    """sum a = f_y(x) - f_y(0) (raw logits) within 1% at steps=256 on a smooth nonlinear model."""
    model, (w1, b1, w2, b2) = _tiny.smooth_mlp(6, n_hidden=8, n_out=3, seed=3)

    def f(v, y):  # the model, written out in numpy
        return (np.tanh(v.astype(np.float64) @ w1 + b1) @ w2 + b2)[np.arange(len(v)), y]

    x = np.random.default_rng(13).normal(0, 1.5, size=(30, 6)).astype(np.float32)
    y = np.arange(30) % 3
    keep = np.abs(f(x, y) - f(np.zeros_like(x), y)) > 0.3  # a relative tolerance needs a real gap
    x, y = x[keep][:6], y[keep][:6]
    assert len(x) == 6
    diff = f(x, y) - f(np.zeros_like(x), y)
    np.testing.assert_allclose(f(x, y), model(x).numpy()[np.arange(len(x)), y], rtol=1e-5)
    a = xb.methods.get("integrated_gradients", steps=256)(model, x, y)
    np.testing.assert_allclose(a.sum(axis=1), diff, rtol=1e-2)
    # with very few steps the trapezoid rule is visibly off on this model: the test can fail
    a1 = xb.methods.get("integrated_gradients", steps=1)(model, x, y)
    assert not np.allclose(a1.sum(axis=1), diff, rtol=1e-2)


# --------------------------------------------------------------------------------------------
# Random
# --------------------------------------------------------------------------------------------


def test_random_seeded(cnn_case):
    model, x, y = cnn_case
    a0 = xb.methods.get("random", seed=0)(model, x, y)
    a0_again = xb.methods.get("random", seed=0)(model, x, y)
    a1 = xb.methods.get("random", seed=1)(model, x, y)
    np.testing.assert_array_equal(a0, a0_again)
    assert not np.allclose(a0, a1)
    assert a0.shape == x.shape and a0.dtype == np.float32
    assert a0.min() >= 0.0 and a0.max() < 1.0
    assert a0.std() > 0.2  # uniform on [0, 1) has std 0.289, not a constant


@pytest.mark.parametrize("batch_size", [1, 2, 3, 64])
def test_random_independent_of_batch_size(cnn_case, batch_size):
    model, x, y = cnn_case
    ref = xb.methods.get("random", seed=5, batch_size=256)(model, x, y)
    np.testing.assert_array_equal(
        xb.methods.get("random", seed=5, batch_size=batch_size)(model, x, y), ref
    )


# --------------------------------------------------------------------------------------------
# Behaviour every built-in method shares
# --------------------------------------------------------------------------------------------


FAST_SETTINGS = {
    "integrated_gradients": {"steps": 4},
    "smoothgrad": {"samples": 4},
    "vargrad": {"samples": 4},
    "rise": {"masks": 64},
    "lime": {"samples": 64},
    "kernel_shap": {"samples": 64},
    "shap_kernel": {"nsamples": 40, "background_size": 2, "segments": 2},
    "shap_gradient": {"nsamples": 16},
    "lime_image": {"num_samples": 40},
    "lime_tabular": {"num_samples": 100},
}


def applicable_or_skip(m, model, x):
    reason = m.applicable(model, x)
    if reason is not None:
        pytest.skip(f"{m.name} does not apply: {reason}")


@pytest.mark.parametrize("name", builtin_methods())
def test_batch_size_does_not_change_attributions(cnn_case, name):
    """Batches of 1 and of 64 give the same maps up to kernel round-off (tests/_tolerance.py).
    Fails on a real dependence: noise or masks drawn per batch instead of per sample, a statistic
    (a normalisation, a baseline) taken over the batch, or a sample reading its neighbours."""
    model, x, y = cnn_case
    fast = FAST_SETTINGS.get(name, {})  # fewer model calls at batch_size=1
    m1 = xb.methods.get(name, batch_size=1, **fast)
    applicable_or_skip(m1, model, x)
    a1 = m1(model, x, y)
    a64 = xb.methods.get(name, batch_size=64, **fast)(model, x, y)
    assert_roundoff_close(a1, a64)


@pytest.mark.parametrize("name", builtin_methods())
def test_numpy_and_tensor_inputs_agree(cnn_case, name):
    """Fails if a tensor input takes another code path (a dtype cast, a copy of the wrong axis)."""
    model, x, y = cnn_case
    m = xb.methods.get(name)
    applicable_or_skip(m, model, x)
    a_np = m(model, x, y)
    a_tf = m(model, tf.constant(x), tf.constant(y))
    assert_roundoff_close(a_tf, a_np)


@pytest.mark.parametrize("name", builtin_methods())
def test_output_dtype_and_shape(cnn_case, linear_tab, name):
    for model, x, y in [cnn_case, linear_tab[:1] + linear_tab[3:]]:
        m = xb.methods.get(name)
        if m.applicable(model, x) is not None:
            continue
        a = m(model, x, y)
        assert isinstance(a, np.ndarray) and a.dtype == np.float32
        shapes = (x.shape, x.shape[:-1]) if x.ndim == 4 else (x.shape,)
        assert a.shape in shapes
        assert np.isfinite(a).all()


class CallCounter(keras.layers.Layer):
    """An identity layer that counts the rows of every forward and every backward pass through
    it in variables, so that compiled paths (``predict_on_batch``, traced gradients) count too.
    Placed last, it sees every forward pass to the output and every backward pass from it."""

    def build(self, input_shape):
        self.forward = self.add_weight(shape=(), initializer="zeros", trainable=False)
        self.backward = self.add_weight(shape=(), initializer="zeros", trainable=False)

    def compute_output_shape(self, input_shape):
        return input_shape

    def call(self, z):
        rows = tf.cast(tf.shape(z)[0], "float32")

        @tf.custom_gradient
        def identity(z):
            def grad(dz):
                with tf.control_dependencies([self.backward.assign_add(rows)]):
                    return tf.identity(dz)

            return tf.identity(z), grad

        with tf.control_dependencies([self.forward.assign_add(rows)]):
            return identity(z)

    def counts(self) -> tuple[float, float]:
        """(forward rows, backward rows) since the last call, and reset."""
        out = (float(self.forward.numpy()), float(self.backward.numpy()))
        self.forward.assign(0.0)
        self.backward.assign(0.0)
        return out


def with_counter(model, input_shape):
    """A copy of a Sequential ``model`` (new layers, same weights) ending in a CallCounter."""
    layers = [type(layer).from_config(layer.get_config()) for layer in model.layers]
    counted = keras.Sequential([keras.Input(input_shape), *layers, CallCounter()])
    for new, old in zip(layers, model.layers, strict=True):
        new.set_weights(old.get_weights())
    return counted


@pytest.fixture(scope="module")
def counted_models(cnn_case, linear_tab):
    """The CNN on (4, 4, 2) images and the linear model on 5 features, each ending in a
    CallCounter, with data: {"image": (model, x, y), "tabular": (model, x, y)}."""
    model, x, y = cnn_case
    tab, _, _, xt, yt = linear_tab
    return {
        "image": (with_counter(model, x.shape[1:]), x, y),
        "tabular": (with_counter(tab, xt.shape[1:]), np.concatenate([xt, -xt]), np.tile(yt, 2)),
    }


def with_kinds(names):
    return [(n, kind) for n in names for kind in xb.methods.cls(n).inputs]


@pytest.mark.parametrize("name, kind", with_kinds(builtin_methods()))
def test_declared_model_calls_are_the_calls_made(counted_models, name, kind):
    """Every built-in method declares its forward and backward passes per sample (read by the
    runtime metric), and they are the rows the model receives."""
    model, x, y = counted_models[kind]
    m = xb.methods.get(name, **FAST_SETTINGS.get(name, {}))
    applicable_or_skip(m, model, x)
    declared = xb.metrics.cls("runtime").calls(m, x)
    assert declared is not None, f"{name} declares no model calls"
    counter = model.layers[-1]
    counter.counts()
    m(model, x, y)
    forward, backward = counter.counts()
    assert (forward, backward) == (declared["forward"] * len(x), declared["backward"] * len(x))


@pytest.mark.parametrize(
    "name, params, shape, forward",
    [
        ("integrated_gradients", {"steps": 7}, (4, 4, 2), 8),
        ("smoothgrad", {"samples": 9}, (4, 4, 2), 9),
        ("occlusion", {}, (28, 28, 1), 170),  # 13 x 13 positions of the 4x4 patch, stride 2
        ("occlusion", {"patch": 3, "stride": 3}, (8, 8, 1), 10),  # 3 x 3 positions
        ("occlusion", {}, (6,), 7),
        ("rise", {"masks": 100}, (8, 8, 3), 100),
        ("kernel_shap", {"samples": 2048}, (5,), 32),  # all 2^5 - 2 coalitions, x, baseline
        ("kernel_shap", {"samples": 2048}, (28, 28, 1), 2050),  # 64 superpixels
        ("kernel_shap", {"samples": 100, "segments": 2}, (8, 8, 1), 16),  # 14 coalitions
        ("permutation_importance", {"repeats": 3}, (6,), 19),
        ("permutation_importance", {}, (4, 4, 1), None),  # images: does not apply
        ("random", {}, (6,), 0),
    ],
)
def test_declared_model_calls_follow_the_settings(name, params, shape, forward):
    x = np.zeros((2,) + shape, np.float32)
    calls = xb.metrics.cls("runtime").calls(xb.methods.get(name, **params), x)
    backward = forward if xb.methods.cls(name).needs_gradients else 0
    assert calls == (None if forward is None else {"forward": forward, "backward": backward})


@pytest.mark.parametrize("name", builtin_methods())
def test_params_round_trip(name):
    m = xb.methods.get(name)
    assert m.name == name
    assert xb.methods.get(name, **m.params).params == m.params


@pytest.mark.parametrize(
    "check, good, bad, message",
    [
        (check_positive_int, [1, np.int64(7)], [0, -1, 1.0, True, "2"], "a positive integer"),
        (check_seed, [0, np.int32(5)], [-1, 0.5, False, None], "a non-negative integer"),
        (
            check_non_negative,
            [0, 0.15, 2, np.float32(1.5)],
            [-0.1, np.inf, np.nan, True, "1"],
            "a non-negative number",
        ),
        (check_positive, [1e-9, 3], [0, -1.0, np.inf, np.nan, False], "a positive number"),
        (
            check_probability,
            [0.5, np.float64(0.01)],
            [0, 1, 1.5, np.nan, True],
            "a number strictly between 0 and 1",
        ),
    ],
    ids=lambda v: getattr(v, "__name__", None),
)
def test_setting_checks(check, good, bad, message):
    """The setting checks shared by the methods: the value back as int/float, or ValueError
    naming the setting, what was expected and what came."""
    for value in good:
        out = check(value, "knob")
        assert out == value and type(out) is (float if "number" in message else int)
    for value in bad:
        with pytest.raises(
            ValueError, match=rf"^knob must be {message}, got {re.escape(repr(value))}$"
        ):
            check(value, "knob")


def test_random_rejects_a_bad_seed():
    with pytest.raises(ValueError, match="seed"):
        xb.methods.get("random", seed=-1)


def test_sample_seeds_are_one_stream():
    """One seed per sample; the first seeds do not depend on how many are drawn."""
    np.testing.assert_array_equal(sample_seeds(3, 5)[:2], sample_seeds(3, 2))
    assert len(set(sample_seeds(3, 100))) == 100


# --------------------------------------------------------------------------------------------
# User methods
# --------------------------------------------------------------------------------------------


@xb.methods.register("test_scaled_input", replace=True)
def scaled_input(model, x, y, scale=1.0, offset=0.0):
    """x * scale + offset: a user method with two settings."""
    return x * scale + offset


@pytest.mark.parametrize(
    "params, scale, offset",
    [({}, 1.0, 0.0), ({"scale": 2.5}, 2.5, 0.0), ({"scale": -1.0, "offset": 0.5}, -1.0, 0.5)],
)
def test_user_function_method(linear_tab, params, scale, offset):
    model, _, _, x, y = linear_tab
    m = xb.methods.get("test_scaled_input", **params)
    assert m.params == {"scale": scale, "offset": offset}
    assert "test_scaled_input" in xb.methods.names()
    a = m(model, x, y)
    assert a.dtype == np.float32
    np.testing.assert_allclose(a, x * scale + offset, rtol=1e-6)
    assert xb.methods.get("test_scaled_input", **m.params).params == m.params


def test_user_method_unknown_setting():
    with pytest.raises(ValueError, match="scal"):
        xb.methods.get("test_scaled_input", scal=2.0)
