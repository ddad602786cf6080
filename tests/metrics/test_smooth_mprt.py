"""smooth_mprt (Hedström et al. 2024, Quantus 0.6's SmoothMPRT): denoised explanations compared
bottom-up, by hand on a linear model; the Adebayo-style check (sobel fails, saliency passes);
layers, budgets, seeds and the model restored."""

from __future__ import annotations

import _tiny
import numpy as np
import pytest
from _metric_cases import spearman_each
from _tolerance import assert_float64_close

import xaibench as xb


class Recording(xb.methods.Method):
    """``inner`` (gradient_x_input by default) that keeps a copy of the model's weights at each
    call and can raise at a given call."""

    def __init__(self, *, inner="gradient_x_input", fail_at=None):
        self.inner, self.fail_at = inner, fail_at
        self.seen = []

    def explain(self, model, x, y):
        self.seen.append([w.copy() for w in model.get_weights()])
        if self.fail_at is not None and len(self.seen) >= self.fail_at:
            raise RuntimeError("explain failed on purpose")
        return xb.methods.get(self.inner)(model, x, y)


def sparse_linear_image():
    """Flatten + Dense on 6x6 grey images whose trained-like weights read only a 2x2 patch per
    class (saliency |W[:, y]|: 4 values among 32 zeros); randomised, the layer gets dense
    Glorot-uniform weights."""
    w = np.zeros((36, 3))
    for c, (r, col) in enumerate([(0, 0), (2, 2), (4, 3)]):
        patch = np.zeros((6, 6))
        patch[r : r + 2, col : col + 2] = [[1.0, 0.6], [0.3, 0.8]]
        w[:, c] = patch.ravel()
    rng = np.random.default_rng(3)
    x = rng.uniform(size=(5, 6, 6, 1)).astype(np.float32)
    return _tiny.linear_image(w, np.zeros(3), (6, 6, 1)), x, np.array([0, 1, 2, 0, 1])


def test_by_hand_on_a_linear_model():
    """One Dense layer, gradient x input (x * W[:, y], exact): ê = mean over 3 copies of
    (x + d_i) * W[:, y], d_1, d_2 ~ N(0, (0.1 x range)^2) from default_rng((seed, 1)) in sample
    order, the third copy x itself; the randomised layer's weights are read from the calls; the
    score is scipy's Spearman of |ê| and |ê random| (one step: the mean is that step)."""
    rng = np.random.default_rng(30)
    w = rng.normal(size=(7, 3))
    model = _tiny.linear_tabular(w, np.zeros(3))
    x = rng.normal(size=(4, 7)).astype(np.float32)
    y = np.array([0, 1, 2, 1])
    a = x * w[:, y].T
    rec = Recording()
    got = xb.metrics.get("smooth_mprt", samples=3, seed=5)(model, x, y, a, explain=rec)
    # calls: the original model's 2 noisy copies, then on the randomised model x itself (the
    # explanation model_randomisation and efficient_mprt share) and its 2 noisy copies
    assert len(rec.seen) == 3 and len(rec.seen[0]) == 2
    np.testing.assert_array_equal(rec.seen[1][0], rec.seen[2][0])
    w_random = rec.seen[1][0]
    sigma = 0.1 * (x.max(axis=1) - x.min(axis=1))
    d = np.random.default_rng((5, 1)).standard_normal((4, 2, 7)) * sigma[:, None, None]
    copies = np.concatenate([x[:, None] + d.astype(np.float32), x[:, None]], axis=1)
    denoised = (copies * w[:, y].T[:, None]).mean(axis=1)
    denoised_random = (copies * w_random[:, y].T[:, None]).mean(axis=1)
    expected = spearman_each(np.abs(denoised), np.abs(denoised_random))
    assert_float64_close(got, expected, terms=7)
    assert np.all(np.abs(expected) < 1)


def test_sobel_fails_and_saliency_passes():
    """Adebayo et al.'s check: an edge detector ignores the model, so its denoised maps are the
    same before and after randomisation (1); saliency of a model reading a few pixels follows
    the weights, and the dense random ones decorrelate it."""
    model, x, y = sparse_linear_image()
    for name, check in (
        ("sobel", lambda s: np.testing.assert_array_equal(s, 1.0)),
        ("saliency", lambda s: np.testing.assert_array_less(s, 0.5)),
    ):
        method = xb.methods.get(name)
        scores = xb.metrics.get("smooth_mprt", samples=4)(
            model, x, y, method(model, x, y), explain=method
        )
        check(scores)


def test_bottom_up_cascade_and_the_layers_budget(tab3):
    """mlp3: 3 weighted layers, randomised input layer first, cascading; ``layers=k`` measures
    at ceil(j x 3 / k) layers. samples=1: MPRT bottom-up without denoising."""
    model, x, y = tab3
    original = [w.copy() for w in model.get_weights()]
    rec = Recording(inner="saliency")
    a = xb.methods.get("saliency")(model, x, y)
    q = xb.metrics.get("smooth_mprt", samples=1)
    steps = q.layer_correlations(model, x, y, a, explain=rec)
    assert q.steps(model) == [1, 2, 3] and steps.shape == (len(x), 3)
    changed = [
        [not np.array_equal(seen[2 * i], original[2 * i]) for i in range(3)] for seen in rec.seen
    ]
    assert changed == [[True, False, False], [True, True, False], [True, True, True]]
    for w0, w1 in zip(original, model.get_weights(), strict=True):
        np.testing.assert_array_equal(w1, w0)
    assert xb.metrics.get("smooth_mprt", layers=2).steps(model) == [2, 3]
    assert xb.metrics.get("smooth_mprt", layers=1).steps(model) == [3]
    budget = xb.metrics.get("smooth_mprt", samples=1, layers=2)
    np.testing.assert_array_equal(
        budget.layer_correlations(model, x, y, a, explain=xb.methods.get("saliency")),
        steps[:, 1:],
    )


def test_one_layer_one_copy_is_model_randomisation(tab3):
    """A layer gets the weights it gets in model_randomisation (same seed): on a one-layer
    model, smooth_mprt with one (noise-free) copy is model_randomisation."""
    rng = np.random.default_rng(31)
    model = _tiny.linear_tabular(rng.normal(size=(8, 3)), np.zeros(3))
    x = rng.normal(size=(4, 8)).astype(np.float32)
    y = np.array([0, 1, 2, 0])
    sal = xb.methods.get("saliency")
    a = sal(model, x, y)
    got = xb.metrics.get("smooth_mprt", samples=1, seed=4)(model, x, y, a, explain=sal)
    ref = xb.metrics.get("model_randomisation", seed=4)(model, x, y, a, explain=sal)
    np.testing.assert_array_equal(got, ref)


@pytest.mark.parametrize("fail_at", [1, 2, 4])
def test_weights_restored_even_when_explain_raises(tab3, fail_at):
    model, x, y = tab3
    before = [w.copy() for w in model.get_weights()]
    a = xb.methods.get("saliency")(model, x, y)
    with pytest.raises(RuntimeError, match="on purpose"):
        xb.metrics.get("smooth_mprt", samples=2)(
            model, x, y, a, explain=Recording(inner="saliency", fail_at=fail_at)
        )
    for w0, w1 in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(w1, w0)


def test_seeded_and_cost(tab3):
    model, x, y = tab3
    sal = xb.methods.get("saliency")
    a = sal(model, x, y)
    runs = [
        xb.metrics.get("smooth_mprt", samples=3, seed=s)(model, x, y, a, explain=sal)
        for s in (0, 0, 1)
    ]
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.allclose(runs[0], runs[2])
    q = xb.metrics.get("smooth_mprt", samples=5, layers=2)
    assert q.model_calls(x.shape[1:], {"forward": 0, "backward": 1}, model) == {
        "forward": 0,
        "backward": 4 + 2 * 5,
    }
    assert q.model_calls(x.shape[1:], {"forward": 0, "backward": 1}, None) is None
    for bad in ({"samples": 0}, {"noise": -0.1}, {"layers": 0}, {"seed": -1}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            xb.metrics.get("smooth_mprt", **bad)
