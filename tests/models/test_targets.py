"""Targets are checked by every method and metric that reads a model: a class the model does not
score is a ValueError naming the sample and the class count, never an all-zero map stored as ok,
a wrapped-around class or a bare IndexError."""

from __future__ import annotations

import _tiny
import numpy as np
import pytest

import xaibench as xb


@pytest.fixture(scope="module")
def case():
    model = _tiny.small_cnn((6, 6, 1), 3, seed=2)
    x = np.random.default_rng(0).uniform(size=(4, 6, 6, 1)).astype(np.float32)
    return model, x


BAD = [(3, "target 3 of sample 2 is not a class of the model, which scores 3 classes (0..2)")]


@pytest.mark.parametrize("name", _tiny.builtin(xb.methods))
@pytest.mark.parametrize("target, message", BAD)
def test_methods_refuse_a_class_the_model_does_not_score(case, name, target, message):
    model, x = case
    y = np.array([0, 1, target, 2])
    with pytest.raises(ValueError) as err:
        xb.methods.get(name)(model, x, y)
    assert message in str(err.value)


@pytest.mark.parametrize("name", _tiny.builtin(xb.metrics))
def test_metrics_that_read_the_model_refuse_it_too(case, name):
    model, x = case
    q = xb.metrics.get(name)
    if not q.needs_model:
        pytest.skip("reads no model")
    y = np.array([0, 1, 3, 2])
    kw = {"explain": xb.methods.get("saliency")} if q.needs_explain else {}
    if q.needs_masks:
        kw["masks"] = x[..., 0] > 0.5
    with pytest.raises(ValueError, match="target 3 of sample 2 is not a class"):
        q(model, x, y, np.ones(x.shape[:-1]), **kw)


def test_negative_targets_are_refused_before_the_model_is_read(case):
    """-1 used to score the last class silently (numpy's indexing from the end)."""
    model, x = case
    for call in (
        lambda y: xb.methods.get("saliency")(model, x, y),
        lambda y: xb.metrics.get("deletion")(model, x, y, np.ones(x.shape[:-1])),
        lambda y: xb.metrics.get("sparseness")(None, x, y, np.ones(x.shape[:-1])),
    ):
        with pytest.raises(ValueError, match="class ids >= 0; sample 1 has -1"):
            call(np.array([0, -1, 1, 2]))


def test_several_bad_targets_are_counted(case):
    model, x = case
    with pytest.raises(ValueError, match="2 samples have such targets"):
        xb.methods.get("saliency")(model, x, np.array([0, 5, 1, 7]))


def test_a_model_without_a_static_output_shape_is_read_once(monkeypatch):
    """Every method and metric checks its targets; a subclassed model's class count costs one
    forward pass, the first time only."""
    from xaibench._tf import keras
    from xaibench.models import outputs
    from xaibench.models._keras import KerasAdapter

    class Sub(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(3)

        def call(self, x):
            return self.dense(x)

    model, x = Sub(), np.ones((2, 4), np.float32)
    reads = []
    forward = KerasAdapter.forward_fn  # the adapter reads the width (models.protocol)
    monkeypatch.setattr(
        KerasAdapter, "forward_fn", lambda self, o: reads.append(o) or forward(self, o)
    )
    assert [outputs.n_classes(model, x) for _ in range(3)] == [3, 3, 3] and len(reads) == 1
