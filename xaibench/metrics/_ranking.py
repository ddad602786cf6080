"""Ordering features by their attribution, with values equal up to round-off treated as ties.

Attributions come out of float32 TensorFlow/BLAS kernels whose last bits depend on the batch shape,
the thread count and the CPU: an occlusion drop that is exactly 0 in one run is 9.5e-7 in another,
and two patches with the same effect come out in either order. A metric that orders features
(deletion, insertion, ROAD, the localisation metrics, the rank correlations) must not turn those
bits into a different score, so it orders *tie levels* instead of raw values: every value rounded to
a multiple of ``RESOLUTION`` times the largest |value| of its sample. Values closer than that are
equal, and equal levels are broken by the lower feature index.

``RESOLUTION`` is 2**-14 (about 6.1e-5), 512 float32 units in the last place of the sample's
largest value: ~12 times the largest difference measured between batch sizes, thread counts and
instruction sets (occlusion and Grad-CAM++, ~5e-6 of the largest value), and far below any
difference in attribution that means something.

>>> tie_levels(np.array([[0.0, 9.5e-7, 1.0, -0.5]]))
array([[    0.,     0., 16384., -8192.]])
>>> feature_ranks(np.array([[0.0, 9.5e-7, 1.0, -0.5]]))  # 9.5e-7 ties 0 and comes after it
array([[1, 2, 0, 3]])
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

RESOLUTION = 2.0**-14


def tie_levels(a: np.ndarray) -> np.ndarray:
    """``a`` (N, n) rounded to multiples of ``RESOLUTION`` x the row's largest |value|, in those
    units, float64 (N, n). A row of zeros is all level 0; a row holding NaN or Inf is all NaN."""
    a = np.asarray(a, dtype=np.float64)
    step = RESOLUTION * np.abs(a).max(axis=1, keepdims=True)
    usable = np.isfinite(step) & (step > 0)
    levels = np.rint(a / np.where(usable, step, 1.0))
    return np.where(usable, levels, np.where(np.isfinite(step), 0.0, np.nan))


def feature_ranks(a: np.ndarray) -> np.ndarray:
    """Rank of every feature, 0 = highest tie level of the signed attribution; ties (values equal
    up to round-off) go to the lower index. ``a`` is (N, n); returns int (N, n)."""
    order = np.argsort(-tie_levels(a), axis=1, kind="stable")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(order.shape[1])[None, :], axis=1)
    return ranks


def top_feature(a: np.ndarray) -> np.ndarray:
    """The feature with the highest tie level of each row, the lowest index among ties, int (N,)."""
    return np.argmax(tie_levels(a), axis=1)


def average_ranks(a: np.ndarray) -> np.ndarray:
    """Ranks 1..n of every row's tie levels, ties sharing their average rank, float64 (N, n)."""
    return rankdata(tie_levels(a), axis=1)
