"""faithfulness_correlation: exactly +-1 on a linear model with its exact contributions, seeds,
batch sizes, and the noisy linear baseline against a numpy reference."""

from __future__ import annotations

import _tiny
import numpy as np
import pytest
from _metric_cases import linear_scores
from _tolerance import assert_scores_close

import xaibench as xb
from xaibench._baselines import fill_removed


@pytest.fixture(scope="module")
def fc_case():
    rng = np.random.default_rng(3)
    w = rng.normal(size=(10, 3))
    b = rng.normal(size=3)
    x = rng.normal(size=(4, 10)).astype(np.float32)
    y = np.array([0, 1, 2, 1])
    return _tiny.linear_tabular(w, b), w, x, y


@pytest.mark.parametrize("subset_size", [None, 1, 3, 7])
@pytest.mark.parametrize("sign, expected", [(1.0, 1.0), (-1.0, -1.0)])
def test_faithfulness_correlation_exact(fc_case, subset_size, sign, expected):
    """Linear logit model, baseline 0: the drop is exactly sum_{i in S} w_iy x_i."""
    model, w, x, y = fc_case
    a = sign * w[:, y].T * x
    q = xb.metrics.get("faithfulness_correlation", subset_size=subset_size, runs=30)
    assert q.output == "logit" and q.baseline == 0.0
    np.testing.assert_allclose(q(model, x, y, a), np.full(len(x), expected), atol=1e-6)


def test_faithfulness_correlation_seed(fc_case):
    model, _, x, y = fc_case
    a = np.random.default_rng(4).normal(size=x.shape)
    kw = {"subset_size": 3, "runs": 20}
    s0 = xb.metrics.get("faithfulness_correlation", seed=0, **kw)(model, x, y, a)
    s0_again = xb.metrics.get("faithfulness_correlation", seed=0, **kw)(model, x, y, a)
    s1 = xb.metrics.get("faithfulness_correlation", seed=1, **kw)(model, x, y, a)
    np.testing.assert_array_equal(s0, s0_again)
    assert np.isfinite(s0).all() and np.isfinite(s1).all()
    assert not np.allclose(s0, s1)


@pytest.mark.parametrize("batch_size", [1, 3, 7])
def test_faithfulness_correlation_batch_size(fc_case, batch_size):
    """Scores agree to the README's 1e-5 (tests/_tolerance.py); fails if the random subsets were
    drawn per batch."""
    model, _, x, y = fc_case
    a = np.random.default_rng(5).normal(size=x.shape)
    kw = {"subset_size": 3, "runs": 25}
    ref = xb.metrics.get("faithfulness_correlation", batch_size=256, **kw)(model, x, y, a)
    got = xb.metrics.get("faithfulness_correlation", batch_size=batch_size, **kw)(model, x, y, a)
    assert_scores_close(got, ref)


def test_faithfulness_correlation_noisy_linear_against_reference(linear_rgb):
    model, w, b, x, y, a = linear_rgb
    runs, size, seed = 15, 4, 2
    rng = np.random.default_rng(seed)
    masks = np.zeros((len(x), runs, a.shape[1]), bool)
    subsets = np.argpartition(rng.random(masks.shape), size - 1, axis=-1)[..., :size]
    np.put_along_axis(masks, subsets, True, axis=-1)
    noise = np.random.default_rng(seed).spawn(1)[0]  # the noise's own stream
    copies = fill_removed(x, masks, "noisy_linear", rng=noise).reshape((-1,) + x.shape[1:])
    drops = linear_scores(x, w, b, y, "logit")[:, None] - linear_scores(
        copies, w, b, np.repeat(y, runs), "logit"
    ).reshape(len(x), runs)
    sums = (masks * a[:, None]).sum(axis=-1)
    expected = [np.corrcoef(sums[i], drops[i])[0, 1] for i in range(len(x))]
    q = xb.metrics.get(
        "faithfulness_correlation", runs=runs, subset_size=size, baseline="noisy_linear", seed=seed
    )
    np.testing.assert_allclose(q(model, x, y, a.reshape(x.shape[:-1])), expected, rtol=1e-5)
    # the subsets are those of every other baseline: zeros give the exact linear drops
    zero = xb.metrics.get("faithfulness_correlation", runs=runs, subset_size=size, seed=seed)
    contribution = (w[:, y].T.reshape(x.shape) * x).sum(axis=-1)
    np.testing.assert_allclose(zero(model, x, y, contribution), 1.0, atol=1e-6)
