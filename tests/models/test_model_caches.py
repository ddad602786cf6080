"""Compiled functions are cached per model without touching the user's model: nothing is written
onto it, and a model the user drops is freed with its cache entries (weak keys, weak references
inside the traced functions)."""

from __future__ import annotations

import gc
import weakref

import _tiny
import numpy as np
import pytest

import xaibench as xb
from xaibench.models import protocol


@pytest.mark.parametrize(
    "method", ["saliency", "guided_backprop", "grad_cam", "grad_cam_pp", "integrated_gradients"]
)
def test_a_model_is_left_untouched_and_freed_with_its_cached_functions(method):
    x = np.random.default_rng(0).uniform(size=(3, 6, 6, 1)).astype(np.float32)
    y = np.array([0, 1, 2])
    model = _tiny.small_cnn((6, 6, 1), 3, seed=2)
    before = set(vars(model))
    first = xb.methods.get(method)(model, x, y)
    assert model in protocol._ADAPTERS and protocol.adapt(model)._functions  # it was cached
    np.testing.assert_array_equal(xb.methods.get(method)(model, x, y), first)  # and reused
    assert set(vars(model)) == before
    entries = len(protocol._ADAPTERS)
    alive = weakref.ref(model)
    del model
    gc.collect()
    assert alive() is None  # nothing of xaibench holds it
    assert len(protocol._ADAPTERS) < entries
