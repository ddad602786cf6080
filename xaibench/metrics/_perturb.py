"""Shared perturbation machinery: feature ranking and batched scoring of perturbed inputs.

Perturbed inputs are built as arrays for a chunk of samples at once (all steps or runs of every
sample in the chunk), and the model reads them in batches of ``batch_size``.
"""

from __future__ import annotations

import numpy as np

from xaibench._checks import feature_view
from xaibench.models.outputs import class_scores

# Perturbed values built at once (float32), about 128 MB.
CHUNK_VALUES = 2**25


def feature_ranks(a: np.ndarray) -> np.ndarray:
    """Rank of every feature, 0 = highest signed attribution; ties go to the lower index.

    ``a`` is (N, n); returns int (N, n).
    """
    order = np.argsort(-a, axis=1, kind="stable")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(a.shape[1])[None, :], axis=1)
    return ranks


def samples_per_chunk(x: np.ndarray, variants: int) -> int:
    """How many samples to perturb at once when each gets ``variants`` perturbed copies."""
    return max(1, CHUNK_VALUES // (variants * int(np.prod(x.shape[1:]))))


def perturbed_scores(
    model,
    x: np.ndarray,
    y: np.ndarray,
    base: np.ndarray,
    replace: np.ndarray,
    *,
    output: str,
    batch_size: int,
) -> np.ndarray:
    """f_y of every perturbed copy: ``replace`` (V, N, n) bool marks, per copy, the features taken
    from ``base`` instead of ``x``. Returns float64 (N, V)."""
    xf, bf = feature_view(x), feature_view(base)
    copies = np.where(replace[..., None], bf[None], xf[None])  # (V, N, n, C)
    v = len(replace)
    flat = copies.reshape((v * len(x),) + x.shape[1:])
    scores = class_scores(model, flat, np.tile(y, v), output=output, batch_size=batch_size)
    return scores.reshape(v, len(x)).T
