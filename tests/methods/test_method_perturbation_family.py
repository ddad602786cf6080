"""Perturbation-family and global methods together: seeds, batch size, per-sample draws,
shapes and dtypes, bad settings, metadata, tabular-only methods on images."""

from __future__ import annotations

import _tiny
import numpy as np
import pytest
from _method_cases import linear_case, small_cnn
from _tolerance import assert_roundoff_close

import xaibench as xb
from xaibench.methods import NotApplicable

FAST = {
    "occlusion": {},
    "rise": {"masks": 64},
    "lime": {"samples": 64},
    "kernel_shap": {"samples": 20},
    "permutation_importance": {"repeats": 2},
    "feature_correlation": {},
}
STOCHASTIC = ["rise", "lime", "kernel_shap", "permutation_importance"]
TABULAR_ONLY = ["permutation_importance", "feature_correlation"]


@pytest.mark.parametrize("name", TABULAR_ONLY)
def test_tabular_only_methods_do_not_apply_to_images(name, cnn3):
    model, x, y = cnn3
    m = xb.methods.get(name)
    reason = m.applicable(model, x)
    assert isinstance(reason, str) and "tabular" in reason
    with pytest.raises(NotApplicable, match=name):
        m(model, x, y)


@pytest.mark.parametrize("name", STOCHASTIC)
def test_same_seed_identical_other_seed_different(name, tab, cnn3):
    mlp, _ = _tiny.smooth_mlp(5, seed=0)  # nonlinear: Kernel SHAP is exact on linear models
    for model, x, y in [(mlp, tab[3], tab[4]), cnn3]:
        if name in TABULAR_ONLY and x.ndim == 4:
            continue
        a = xb.methods.get(name, seed=1, **FAST[name])(model, x, y)
        np.testing.assert_array_equal(xb.methods.get(name, seed=1, **FAST[name])(model, x, y), a)
        assert not np.allclose(xb.methods.get(name, seed=2, **FAST[name])(model, x, y), a)


@pytest.mark.parametrize("name", list(FAST))
def test_batch_size_one_and_64_agree(name, tab, cnn3):
    """Equal up to kernel round-off (tests/_tolerance.py); fails if masks, coalitions or
    perturbations were drawn per batch, or a batch boundary split one sample's copies wrongly."""
    for model, x, y in [(tab[0], tab[3], tab[4]), cnn3]:
        m1 = xb.methods.get(name, batch_size=1, **FAST[name])
        if m1.applicable(model, x) is not None:
            continue
        a64 = xb.methods.get(name, batch_size=64, **FAST[name])(model, x, y)
        assert_roundoff_close(m1(model, x, y), a64)


@pytest.mark.parametrize("name", ["occlusion", "rise", "lime", "kernel_shap"])
def test_a_sample_is_explained_the_same_in_any_batch(name, cnn3):
    """Per-sample draws come in sample order from one stream: the first rows of a batch are
    explained as when they are explained alone, up to kernel round-off (tests/_tolerance.py).
    Fails if the stream were drawn per batch, or per sample from a seed that depends on N."""
    model, x, y = cnn3
    m = xb.methods.get(name, **FAST[name])
    assert_roundoff_close(m(model, x[:2], y[:2]), m(model, x, y)[:2])


@pytest.mark.parametrize("name", list(FAST))
@pytest.mark.parametrize("channels", [1, 3, None], ids=["C=1", "C=3", "tabular"])
def test_shapes_and_dtypes(name, channels):
    if channels is None:
        model, _, _, x, _ = linear_case((6,))
    else:
        model = small_cnn((5, 4, channels))
        x = np.random.default_rng(9).uniform(size=(4, 5, 4, channels))
    m = xb.methods.get(name, **FAST[name])
    if name in TABULAR_ONLY and channels is not None:
        assert m.applicable(model, x) is not None
        return
    a = m(model, x, np.array([0, 1, 2, 0]))
    assert a.dtype == np.float32 and np.isfinite(a).all()
    assert a.shape == (x.shape[:-1] if channels else x.shape)


@pytest.mark.parametrize(
    "name, params, match",
    [
        ("occlusion", {"patch": 0}, "patch"),
        ("occlusion", {"stride": 1.5}, "stride"),
        ("occlusion", {"baseline": "zeros"}, "baseline"),
        ("rise", {"masks": 0}, "masks"),
        ("rise", {"p": 1.0}, "p"),
        ("rise", {"cells": -2}, "cells"),
        ("rise", {"seed": "a"}, "seed"),
        ("lime", {"samples": 0}, "samples"),
        ("lime", {"kernel_width": 0}, "kernel_width"),
        ("lime", {"ridge": -1.0}, "ridge"),
        ("lime", {"ridge": float("inf")}, "ridge"),
        ("lime", {"kernel_width": float("nan")}, "kernel_width"),
        ("rise", {"p": True}, "p"),
        ("lime", {"segments": 0}, "segments"),
        ("kernel_shap", {"samples": -5}, "samples"),
        ("kernel_shap", {"seed": -1}, "seed"),
        ("permutation_importance", {"repeats": 0}, "repeats"),
        ("feature_correlation", {"batch_size": 0}, "batch_size"),
    ],
)
def test_bad_settings_are_rejected_by_name(name, params, match):
    with pytest.raises(ValueError, match=match):
        xb.methods.get(name, **params)


@pytest.mark.parametrize("name", list(FAST))
def test_metadata(name):
    cls = xb.methods.cls(name)
    assert cls.stochastic == (name in STOCHASTIC)
    assert ("seed" in cls.param_names()) == (name in STOCHASTIC)
    assert cls.inputs == (("tabular",) if name in TABULAR_ONLY else ("image", "tabular"))
    assert not cls.needs_gradients
