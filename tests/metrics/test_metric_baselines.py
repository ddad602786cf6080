"""The baselines removal metrics fill removed features with (xaibench/_baselines.py): fill_removed,
where "noisy_linear" is accepted, its seeds, batch sizes and chunks, image-only baselines."""

from __future__ import annotations

import numpy as np
import pytest
from _metric_cases import reference_impute
from _tolerance import assert_scores_close

import xaibench as xb
import xaibench._checks
from xaibench._baselines import baseline_values, check_baseline, fill_removed
from xaibench.methods.base import NotApplicable


def test_fill_removed_copies_and_chunks():
    rng = np.random.default_rng(2)
    x = rng.uniform(size=(4, 3, 3, 2)).astype(np.float32)
    removed = rng.uniform(size=(4, 5, 9)) < 0.5  # five copies per sample
    zero = fill_removed(x, removed, 0.0)
    assert zero.shape == (4, 5, 3, 3, 2)
    np.testing.assert_array_equal(zero, np.where(removed.reshape(4, 5, 3, 3, 1), 0.0, x[:, None]))
    mean = fill_removed(x, removed[:, 0], "mean")
    np.testing.assert_array_equal(
        mean, np.where(removed[:, 0].reshape(4, 3, 3, 1), baseline_values(x, "mean"), x)
    )
    # noisy_linear: chunks of samples drawn from one Generator = all samples at once
    whole = fill_removed(x, removed, "noisy_linear", rng=np.random.default_rng(3))
    gen = np.random.default_rng(3)
    parts = [
        fill_removed(x[s], removed[s], "noisy_linear", rng=gen) for s in (slice(0, 1), slice(1, 4))
    ]
    np.testing.assert_array_equal(whole, np.concatenate(parts))
    ref = reference_impute(x[2], removed[2, 4].reshape(3, 3))
    clean = fill_removed(x, removed, "noisy_linear", noise=0.0)
    np.testing.assert_allclose(clean[2, 4], ref, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"\(4, 9\).*\(4, 5, 8\)"):
        fill_removed(x, removed[..., :8], 0.0)


def test_noisy_linear_only_where_supported():
    assert check_baseline("noisy_linear", masked=True) == "noisy_linear"
    with pytest.raises(ValueError, match="noisy_linear"):
        check_baseline("noisy_linear")
    # every metric that removes features takes it; one that only reads a baseline input does not
    for name in ("deletion", "insertion", "faithfulness_correlation", "road"):
        assert xb.metrics.get(name, baseline="noisy_linear").baseline == "noisy_linear"
    with pytest.raises(ValueError, match="baseline.*noisy_linear"):
        xb.metrics.get("completeness", baseline="noisy_linear")
    with pytest.raises(ValueError, match="fill_removed"):
        baseline_values(np.zeros((1, 2, 2, 1), np.float32), "noisy_linear")


@pytest.mark.parametrize("name", ["deletion", "insertion", "faithfulness_correlation"])
def test_noisy_linear_seed_batch_size_and_chunks(monkeypatch, linear_rgb, name):
    """Same seed: bitwise. Other batch sizes and chunks: the README's 1e-5 (tests/_tolerance.py),
    which fails if the imputation noise were drawn per batch or per chunk."""
    model, _, _, x, y, a = linear_rgb
    a_img = a.reshape(x.shape[:-1])
    fast = {"runs": 12} if name == "faithfulness_correlation" else {"steps": 6}

    def scores(**kw):
        q = xb.metrics.get(name, baseline="noisy_linear", **{**fast, **kw})
        return q(model, x, y, a_img)

    first = scores(seed=4)
    np.testing.assert_array_equal(first, scores(seed=4))
    assert not np.allclose(first, scores(seed=5), rtol=1e-7, atol=0)
    assert_scores_close(scores(seed=4, batch_size=1), first)
    # one sample per chunk: the noise is drawn sample by sample from one stream
    monkeypatch.setattr(xaibench._checks, "CHUNK_VALUES", 1)
    assert_scores_close(scores(seed=4), first)


@pytest.mark.parametrize(
    "name, params",
    [
        ("deletion", {"baseline": "noisy_linear"}),
        ("insertion", {"baseline": "noisy_linear"}),
        ("insertion", {}),  # the default baseline, "blur", is for images only too
        ("faithfulness_correlation", {"baseline": "noisy_linear"}),
        ("road", {}),
    ],
)
def test_image_only_baselines_on_tabular_not_applicable(linear_tab, name, params):
    model, _, _, x, y = linear_tab
    with pytest.raises(NotApplicable, match=rf"{name} with baseline=.*images.*\(4, 6\)"):
        xb.metrics.get(name, **params)(model, x, y, np.ones(x.shape))


def test_fill_removed_takes_precomputed_values():
    rng = np.random.default_rng(16)
    x = rng.uniform(size=(3, 2, 2, 2)).astype(np.float32)
    removed = rng.uniform(size=(3, 4, 4)) < 0.5
    values = baseline_values(x, "blur")
    np.testing.assert_array_equal(
        fill_removed(x, removed, values), fill_removed(x, removed, "blur")
    )
    with pytest.raises(ValueError, match=r"shape of x.*\(3, 2, 2, 2\).*\(2, 2, 2, 2\)"):
        fill_removed(x, removed, values[:2])
