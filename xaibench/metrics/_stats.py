"""Row-wise correlations shared by the metrics: one value per sample, NaN where undefined."""

from __future__ import annotations

import numpy as np

from xaibench.metrics._ranking import average_ranks


def pearson_rows(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Pearson correlation of each row of ``u`` with the same row of ``v``; NaN where either is
    constant.

    >>> pearson_rows(np.array([[1.0, 2.0, 3.0]]), np.array([[2.0, 4.0, 7.0]]))
    array([0.99339927])
    """
    u = u - u.mean(axis=1, keepdims=True)
    v = v - v.mean(axis=1, keepdims=True)
    # No epsilon: the correlation is scale-free, and 0/0 (a constant row) is NaN, not a number.
    den = np.sqrt((u * u).sum(axis=1) * (v * v).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (u * v).sum(axis=1) / den, np.nan)


def spearman_rows(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Spearman rank correlation of each row of ``u`` with the same row of ``v`` (average ranks
    for ties, values equal up to round-off tied: ``_ranking.tie_levels``); NaN where either row is
    constant or holds NaN."""
    return pearson_rows(average_ranks(u), average_ranks(v))
