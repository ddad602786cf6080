"""Helpers shared by the gradient-family methods: setting checks, compiled functions kept on the
model, and gradients averaged over noisy copies of the inputs (SmoothGrad, VarGrad)."""

from __future__ import annotations

import numbers
from collections.abc import Callable

import numpy as np

from xaibench.models.outputs import target_gradients

# Noisy inputs built at once per chunk of samples (float32 values). The chunk size depends on the
# input shape and the number of noisy copies only, never on batch_size, so the noise stream (and
# hence the attributions) does not depend on batch_size.
_CHUNK_VALUES = 2**24


def check_fraction(value, name: str) -> float:
    """A non-negative finite number (e.g. a noise level as a fraction of the input range)."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not np.isfinite(value)
        or value < 0
    ):
        raise ValueError(f"{name} must be a non-negative number, got {value!r}")
    return float(value)


def cached_function(model, key, build: Callable[[], Callable]) -> Callable:
    """``build()`` once per ``(model, key)``: the compiled function is kept on the model (as
    ``models.outputs`` keeps its gradient functions), so repeated calls do not trace again.
    Objects without ``__dict__`` get a fresh function every call."""
    try:
        cache = vars(model).setdefault("_xaibench_method_fns", {})
    except TypeError:
        return build()
    if key not in cache:
        cache[key] = build()
    return cache[key]


def noisy_gradients(
    model,
    x: np.ndarray,
    y: np.ndarray,
    *,
    samples: int,
    noise: float,
    seed: int,
    batch_size: int,
    reduce: Callable[[np.ndarray], np.ndarray],
) -> np.ndarray:
    """``reduce`` over ``samples`` gradients of f_y at x + e, e ~ N(0, sigma^2) per input value,
    sigma = ``noise`` * (max - min of the sample).

    ``reduce`` maps float32 gradients (n, samples, ...) to (n, ...), best accumulating in
    float64. The noise is one stream from ``np.random.default_rng(seed)`` drawn in sample order
    (``standard_normal((n, samples) + shape)`` per chunk), in chunks whose size does not depend
    on ``batch_size``.
    """
    rng = np.random.default_rng(seed)
    flat = x.reshape(len(x), -1)
    sigma = (noise * (flat.max(axis=1) - flat.min(axis=1))).astype(np.float32)
    chunk = max(1, _CHUNK_VALUES // (samples * flat.shape[1]))
    shape = (-1, 1) + (1,) * (x.ndim - 1)
    out = []
    for start in range(0, len(x), chunk):
        xs = x[start : start + chunk]
        eps = rng.standard_normal((len(xs), samples) + x.shape[1:], dtype=np.float32)
        noisy = xs[:, None] + sigma[start : start + chunk].reshape(shape) * eps
        grads = target_gradients(
            model,
            noisy.reshape((-1,) + x.shape[1:]),
            np.repeat(y[start : start + chunk], samples),
            batch_size=batch_size,
        )
        out.append(reduce(grads.reshape(noisy.shape)))
    return np.concatenate(out)
