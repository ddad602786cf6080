"""Baselines: what a removed feature is replaced by (the README's Metrics section).

``baseline`` is a number, ``"mean"`` (each sample's per-channel mean), ``"blur"`` (the Gaussian-blurred
image, sigma = max(1, 0.1 * max(H, W)) pixels), a callable ``x -> x_baseline`` of the same shape, or,
where the caller removes features, ``"noisy_linear"``: the noisy linear imputation of the removed
pixels from the kept ones (Rong et al. 2022; ``xaibench._imputation``). The first four are computed
from ``x`` alone (``baseline_values``); ``"noisy_linear"`` depends on which features are removed and
is seeded, so perturbation code builds its inputs with ``fill_removed``, which handles every baseline.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable

import numpy as np
from scipy import ndimage

from xaibench._checks import feature_view, n_features, shown
from xaibench._imputation import NOISE, noisy_linear

Baseline = float | str | Callable[[np.ndarray], np.ndarray]
NAMED = ("mean", "blur")
# Baselines computed from the removed features (usable where ``fill_removed`` builds the inputs).
MASKED = ("noisy_linear",)


def needs_removed(baseline: Baseline) -> bool:
    """Whether ``baseline`` depends on which features are removed (``"noisy_linear"``)."""
    return isinstance(baseline, str) and baseline in MASKED


def check_baseline(baseline: Baseline, name: str = "baseline", *, masked: bool = False) -> Baseline:
    """Validate a baseline setting at construction time.

    ``masked=True`` where the caller builds its inputs with ``fill_removed`` and so also supports
    ``"noisy_linear"``.
    """
    named = NAMED + MASKED if masked else NAMED
    if needs_removed(baseline) and not masked:
        raise ValueError(
            f"{name}={baseline!r} is not supported here: it imputes removed features, so it "
            "applies only where features are removed (deletion, insertion, "
            f"faithfulness_correlation, road); use a number, {', '.join(map(repr, NAMED))} or a "
            "callable x -> x_baseline"
        )
    number = isinstance(baseline, numbers.Real) and math.isfinite(baseline)
    if isinstance(baseline, bool) or not (number or baseline in named or callable(baseline)):
        raise ValueError(
            f"{name} must be a finite number, one of {', '.join(map(repr, named))} or a "
            f"callable x -> x_baseline; got {shown(baseline)}"
        )
    return float(baseline) if isinstance(baseline, numbers.Real) else baseline


def blur_sigma(x: np.ndarray) -> float:
    return max(1.0, 0.1 * max(x.shape[1], x.shape[2]))


def baseline_values(x: np.ndarray, baseline: Baseline) -> np.ndarray:
    """The baseline input for every sample of ``x``: an array of ``x``'s shape and dtype."""
    if needs_removed(baseline):
        raise ValueError(
            f"baseline={baseline!r} depends on which features are removed: build the inputs with "
            "xaibench._baselines.fill_removed(x, removed, baseline, rng=...)"
        )
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


def fill_removed(
    x: np.ndarray,
    removed: np.ndarray,
    baseline: Baseline,
    *,
    rng: np.random.Generator | int | None = None,
    noise: float = NOISE,
) -> np.ndarray:
    """Copies of ``x`` whose removed features are replaced by the baseline.

    ``removed`` is bool (N, n_features), giving one copy per sample, shape of ``x``; or
    (N, V, n_features), giving V copies per sample, shape (N, V) + x.shape[1:]. A baseline computed
    from ``x`` alone is computed once per sample; ``baseline`` may also be those values already
    computed (an array of ``x``'s shape, e.g. ``baseline_values`` of a whole batch filled chunk by
    chunk). ``"noisy_linear"`` imputes every copy from its own removed features with noise of
    standard deviation ``noise``, drawn from ``rng`` (a Generator or a seed) for all N * V copies
    at once, sample by sample: consecutive calls on consecutive chunks of samples with one
    Generator draw the same noise as one call on all of them (and each copy's imputation does not
    depend on the others, so the copies are the same too).

    >>> removed = masks.reshape(len(x), -1)  # (N, features): the centre 4x4 of each digit
    >>> copies = fill_removed(x, removed, "noisy_linear", rng=np.random.default_rng(0))
    >>> copies.shape
    (4, 8, 8, 1)
    """
    removed = np.asarray(removed, dtype=bool)
    n = n_features(x)
    if removed.ndim not in (2, 3) or removed.shape[0] != len(x) or removed.shape[-1] != n:
        raise ValueError(
            f"removed must have shape ({len(x)}, {n}) or ({len(x)}, copies, {n}) for x of shape "
            f"{x.shape}, got {removed.shape}"
        )
    per_sample = removed.reshape(len(x), -1, n)
    copies = per_sample.shape[1]
    if needs_removed(baseline):
        out = noisy_linear(
            np.repeat(x, copies, axis=0), per_sample.reshape(-1, n), noise=noise, rng=rng
        )
    else:
        if isinstance(baseline, np.ndarray):
            if baseline.shape != x.shape:
                raise ValueError(
                    f"baseline values must have the shape of x, {x.shape}; got {baseline.shape}"
                )
            values = baseline
        else:
            values = baseline_values(x, baseline)
        xf, bf = feature_view(x), feature_view(values)
        out = np.where(per_sample[..., None], bf[:, None], xf[:, None])
    return out.reshape(removed.shape[:-1] + x.shape[1:])
