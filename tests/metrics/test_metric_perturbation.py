"""Perturbed copies scored in chunks (xaibench/metrics/_perturb.py): scores independent of the
chunk size, and ``ahead`` preparing the next chunk in order on one worker."""

from __future__ import annotations

import numpy as np
import pytest
from _tolerance import assert_scores_close

import xaibench as xb


@pytest.mark.parametrize("copies", [1, 16, 10**6])  # one sample per chunk; a few; one chunk
def test_infidelity_and_faithfulness_correlation_do_not_depend_on_chunks(
    monkeypatch, linear_tab, copies
):
    """The next chunk is prepared on a worker thread while the model scores this one; the
    perturbations come from one seeded stream in sample order whatever the chunks. The model
    scores chunks of other shapes, so scores agree to the README's 1e-5 (tests/_tolerance.py), not
    bitwise; drawing per chunk, or a chunk dropped or scored twice, fails by far more."""
    model, _, _, x, y = linear_tab
    a = np.random.default_rng(9).normal(size=x.shape)
    metrics = [
        xb.metrics.get("infidelity", samples=8, seed=2),
        xb.metrics.get("faithfulness_correlation", runs=9, subset_size=2, seed=2),
    ]
    whole = [q(model, x, y, a) for q in metrics]
    monkeypatch.setattr(xb.metrics._perturb, "AHEAD_COPIES", copies)
    for q, expected in zip(metrics, whole, strict=True):
        assert_scores_close(q(model, x, y, a), expected)


def test_ahead_prepares_in_order_one_at_a_time():
    from xaibench.metrics._perturb import ahead

    running, log = [], []

    def prepare(i):
        running.append(i)
        assert len(running) == 1  # one worker: never two at once
        log.append(i)
        running.pop()
        if i == 3:
            raise ValueError("bad chunk 3")
        return i * i

    results = ahead(prepare, range(6))
    assert [next(results) for _ in range(3)] == [0, 1, 4]
    with pytest.raises(ValueError, match="bad chunk 3"):
        next(results)
    assert log[:4] == [0, 1, 2, 3]
    assert list(ahead(prepare, [])) == []
