"""Integrated gradients (Sundararajan, Taly & Yan 2017, "Axiomatic Attribution for Deep Networks")."""

from __future__ import annotations

import numpy as np

from xaibench._baselines import Baseline, baseline_values, check_baseline
from xaibench.methods import register
from xaibench.methods.base import (
    Method,
    check_batch_size,
    check_positive_int,
    samples_per_chunk,
)
from xaibench.models.outputs import target_gradients


@register("integrated_gradients")
class IntegratedGradients(Method):
    """(x - x') times the path integral of the gradient from the baseline x' to x.

    The integral is the trapezoid rule over ``steps`` equal intervals (steps + 1 gradient
    evaluations), so that sum(a) ~= f_y(x) - f_y(x') (completeness) as steps grows.
    Cost: steps + 1 gradients (a forward and a backward pass each) per sample.

    Parameters
    ----------
    steps : intervals of the Riemann trapezoid sum (default 32).
    baseline : 0.0 (default), a number, "mean", "blur" or a callable x -> x'.
    batch_size : inputs per gradient call, or "auto" (default): as many as fit the memory budget
        (``xaibench.models.batching``).
    """

    needs_gradients = True

    def __init__(
        self, *, steps: int = 32, baseline: Baseline = 0.0, batch_size: int | str = "auto"
    ):
        self.steps = check_positive_int(steps, "steps")
        self.baseline = check_baseline(baseline)
        self.batch_size = check_batch_size(batch_size)

    def model_calls(self, input_shape) -> dict[str, float]:
        """Per sample: one gradient (forward + backward) per point of the path, steps + 1."""
        return {"forward": float(self.steps + 1), "backward": float(self.steps + 1)}

    def explain(self, model, x, y):
        base = baseline_values(x, self.baseline)
        alphas = np.linspace(0.0, 1.0, self.steps + 1, dtype=np.float32)
        weights = np.full(self.steps + 1, 1.0 / self.steps, dtype=np.float32)
        weights[[0, -1]] /= 2
        shape = (-1,) + (1,) * (x.ndim - 1)
        chunk = samples_per_chunk(x, self.steps + 1)
        out = []
        for start in range(0, len(x), chunk):
            xs, bs = x[start : start + chunk], base[start : start + chunk]
            path = bs[None] + alphas.reshape(shape)[:, None] * (xs - bs)[None]  # (steps+1, n, ...)
            ys = np.tile(y[start : start + chunk], self.steps + 1)
            grads = target_gradients(
                model, path.reshape((-1,) + x.shape[1:]), ys, batch_size=self.batch_size
            ).reshape(path.shape)
            avg = np.tensordot(weights, grads, axes=1)
            out.append((xs - bs) * avg)
        return np.concatenate(out)
