"""Scoring masked copies of the inputs in large batches (occlusion, RISE, LIME, Kernel SHAP).

A mask keeps a share of every feature of ``x`` (1 = x, 0 = the baseline); the copies are built as
arrays for a chunk of samples and masks at once and read through the model's compiled forward pass
in batches of ``batch_size``. Chunks depend on the input shape only, never on ``batch_size``.
"""

from __future__ import annotations

import numbers

import numpy as np

from xaibench._checks import feature_view
from xaibench.models.outputs import class_scores

# Model-input values built at once (float32), about 64 MB.
CHUNK_VALUES = 2**24


def check_probability(value, name: str) -> float:
    """A probability strictly between 0 and 1."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < value < 1:
        raise ValueError(f"{name} must be a number strictly between 0 and 1, got {value!r}")
    return float(value)


def samples_per_chunk(x: np.ndarray, copies: int) -> int:
    """How many samples to perturb at once when each gets ``copies`` masked copies."""
    return max(1, CHUNK_VALUES // (copies * int(np.prod(x.shape[1:]))))


def masked_scores(
    model,
    x: np.ndarray,
    y: np.ndarray,
    base: np.ndarray,
    masks: np.ndarray,
    *,
    batch_size: int,
    labels: np.ndarray | None = None,
) -> np.ndarray:
    """Raw target output f_y(base + m * (x - base)) for every mask m, float64 (N, V).

    ``masks`` is (V, units), shared by every sample, or (N, V, units), one set per sample. A unit is
    a feature (a pixel with all its channels, or a tabular column), or with ``labels`` (an int array
    mapping every feature to a unit) a group of features such as a superpixel. Boolean masks pick
    x or the baseline exactly; float masks (RISE) blend them.
    """
    xf, bf = feature_view(x), feature_view(base)
    per_sample = masks.ndim == 3
    v_total = masks.shape[-2]
    size = int(np.prod(x.shape[1:]))
    n_chunk = min(len(x), samples_per_chunk(x, v_total))
    v_chunk = min(v_total, max(1, CHUNK_VALUES // (size * n_chunk)))
    out = np.empty((len(x), v_total))
    for s in range(0, len(x), n_chunk):
        xs, bs = xf[s : s + n_chunk], bf[s : s + n_chunk]
        for v in range(0, v_total, v_chunk):
            m = (
                masks[s : s + n_chunk, v : v + v_chunk]
                if per_sample
                else masks[None, v : v + v_chunk]
            )
            if labels is not None:
                m = m[..., labels]
            m = m[..., None]  # (n | 1, v, features, 1)
            if m.dtype == bool:
                copies = np.where(m, xs[:, None], bs[:, None])
            else:
                copies = bs[:, None] + m.astype(np.float32) * (xs - bs)[:, None]
            n, k = len(xs), copies.shape[1]
            flat = copies.reshape((n * k,) + x.shape[1:]).astype(np.float32, copy=False)
            scores = class_scores(
                model, flat, np.repeat(y[s : s + n], k), output="raw", batch_size=batch_size
            )
            out[s : s + n, v : v + k] = scores.reshape(n, k)
    return out
