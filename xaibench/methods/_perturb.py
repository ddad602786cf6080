"""Scoring masked copies of the inputs in large batches (occlusion, RISE, LIME, Kernel SHAP).

A mask keeps a share of every feature of ``x`` (1 = x, 0 = the baseline); the copies are built as
arrays for a chunk of samples and masks at once and read through the model's compiled forward pass
in batches of ``batch_size``. Chunks depend on the input shape only, never on ``batch_size``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from xaibench._checks import feature_view
from xaibench.methods._patches import unit_image
from xaibench.methods.base import CHUNK_VALUES, samples_per_chunk
from xaibench.models.outputs import class_scores

# Design-matrix values of the surrogate regressions per chunk of samples (float64), about 32 MB.
DESIGN_VALUES = 2**22


def masked_scores(
    model,
    x: np.ndarray,
    y: np.ndarray,
    base: np.ndarray,
    masks: np.ndarray,
    *,
    batch_size: int | str,
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


def surrogate_attributions(
    model,
    x: np.ndarray,
    y: np.ndarray,
    base: np.ndarray,
    labels: np.ndarray,
    *,
    rows: int,
    draw: Callable[[int], np.ndarray],
    fit: Callable[[np.ndarray, np.ndarray], np.ndarray],
    batch_size: int | str,
) -> np.ndarray:
    """Attributions of a surrogate fitted per sample to the scores of ``rows`` masked copies
    (LIME, Kernel SHAP), for a chunk of samples at a time.

    ``draw(n)`` gives the unit masks of the next n samples, bool (n, rows, units) (``labels`` maps
    every feature to its unit); ``fit(masks, scores)`` maps them and the raw target outputs
    (n, rows) to per-feature values (n, features). Chunks depend on the input shape, ``rows`` and
    the number of units only. Returns (N, H, W) for images, (N, F) for tabular data."""
    units = int(labels.max()) + 1
    chunk = max(1, min(samples_per_chunk(x, rows), DESIGN_VALUES // (rows * (units + 1))))
    out = []
    for s in range(0, len(x), chunk):
        xs = x[s : s + chunk]
        masks = draw(len(xs))
        scores = masked_scores(
            model,
            xs,
            y[s : s + chunk],
            base[s : s + chunk],
            masks,
            labels=labels,
            batch_size=batch_size,
        )
        out.append(fit(masks, scores))
    return unit_image(np.concatenate(out), x)
