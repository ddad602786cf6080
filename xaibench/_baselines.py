"""Baselines: what a removed feature is replaced by (METRICS.md).

``baseline`` is a number, ``"mean"`` (each sample's per-channel mean), ``"blur"`` (the Gaussian-blurred
image, sigma = max(1, 0.1 * max(H, W)) pixels) or a callable ``x -> x_baseline`` of the same shape.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable

import numpy as np
from scipy import ndimage

Baseline = float | str | Callable[[np.ndarray], np.ndarray]
NAMED = ("mean", "blur")


def check_baseline(baseline: Baseline, name: str = "baseline") -> Baseline:
    """Validate a baseline setting at construction time."""
    if isinstance(baseline, bool) or not (
        isinstance(baseline, numbers.Real) or baseline in NAMED or callable(baseline)
    ):
        raise ValueError(
            f"{name} must be a number, one of {', '.join(map(repr, NAMED))} or a callable "
            f"x -> x_baseline; got {baseline!r}"
        )
    return float(baseline) if isinstance(baseline, numbers.Real) else baseline


def blur_sigma(x: np.ndarray) -> float:
    return max(1.0, 0.1 * max(x.shape[1], x.shape[2]))


def baseline_values(x: np.ndarray, baseline: Baseline) -> np.ndarray:
    """The baseline input for every sample of ``x``: an array of ``x``'s shape and dtype."""
    if callable(baseline):
        b = np.asarray(baseline(x), dtype=x.dtype)
        if b.shape != x.shape:
            raise ValueError(f"baseline callable returned shape {b.shape}, expected {x.shape}")
        return b
    if baseline == "mean":
        axes = tuple(range(1, x.ndim - 1)) if x.ndim == 4 else (1,)
        return np.broadcast_to(x.mean(axis=axes, keepdims=True), x.shape).astype(x.dtype)
    if baseline == "blur":
        if x.ndim != 4:
            raise ValueError(
                f"baseline='blur' needs images (N, H, W, C), got shape {x.shape}; "
                "use a number or 'mean' for tabular data"
            )
        s = blur_sigma(x)
        return ndimage.gaussian_filter(x, sigma=(0, s, s, 0), mode="nearest").astype(x.dtype)
    return np.full_like(x, float(baseline))
