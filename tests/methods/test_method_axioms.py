"""Behaviour every built-in method shares: batch size and input type do not change the
maps, float32 output shapes, declared model calls are the calls made, params round trip."""

from __future__ import annotations

import _tiny
import numpy as np
import pytest
from _method_cases import FAST_SETTINGS, auto_budget, watched, with_counter
from _tolerance import assert_roundoff_close

import xaibench as xb
from xaibench._tf import tf


def builtin_methods():
    """Names of the methods shipped with xaibench (not ones registered by tests or users)."""
    return _tiny.builtin(xb.methods)


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


@pytest.fixture(scope="module")
def counted_models(cnn_case, linear_tab):
    """The CNN on (4, 4, 2) images and the linear model on 5 features, each ending in a
    CallRows, with data: {"image": (model, x, y), "tabular": (model, x, y)}."""
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


@pytest.fixture(scope="module")
def watched_models(cnn_case, linear_tab):
    """The CNN on (4, 4, 2) images (5 samples) and the linear model on 5 features (8 samples),
    each behind a CallRows: {"image": (model, x, y), "tabular": (model, x, y)}."""
    model, x, y = cnn_case
    tab, _, _, xt, yt = linear_tab
    return {
        "image": (watched(model, x.shape[1:]), x, y),
        "tabular": (watched(tab, xt.shape[1:]), np.concatenate([xt, -xt]), np.tile(yt, 2)),
    }


# shap's GradientExplainer scores the explained samples in one forward pass of its own (to rank
# the outputs) before its gradients, which "auto" sizes: the one call no batch size splits.
UNSIZED_FORWARD = {"shap_gradient"}


@pytest.mark.parametrize("name, kind", with_kinds(builtin_methods()))
def test_auto_batches_stay_within_the_memory_budget(watched_models, monkeypatch, name, kind):
    """batch_size="auto" (the default) is resolved wherever a method calls the model: with a
    budget that fits 2 gradient or 4 forward inputs of the model (models.batching), no call
    passes more, though the batch holds 5 or 8 samples. Fails where a loop reads the batch size
    unresolved or calls the model on the whole batch at once."""
    model, x, y = watched_models[kind]
    monkeypatch.setenv("XAIBENCH_MEMORY_GIB", auto_budget(model, x.shape[1:], 2))
    fast = FAST_SETTINGS.get(name, {})
    m = xb.methods.get(name, **fast)
    assert m.params["batch_size"] == "auto"
    applicable_or_skip(m, model, x)
    watch = model.layers[0]
    watch.counts()
    a = m(model, x, y)
    forward, backward = watch.counts()
    assert forward <= (len(x) if name in UNSIZED_FORWARD else 4) and backward <= 2
    assert forward > 0 or m.control  # the controls read no model
    assert_roundoff_close(a, xb.methods.get(name, batch_size=64, **fast)(model, x, y))
