"""Runtime: the wall-clock cost of a method."""

from __future__ import annotations

import time

import numpy as np

from xaibench.methods.base import check_positive_int
from xaibench.metrics import register
from xaibench.metrics.base import Metric


@register("runtime")
class Runtime(Metric):
    """Wall-clock seconds the method takes per sample; lower is better. Needs ``explain=``.

    The method first runs once on the first batch (warm-up: tracing and caches excluded), then
    on every batch of ``batch_size`` samples; each sample scores its batch's seconds divided by the
    batch's length.

    Parameters
    ----------
    batch_size : samples per timed call of the method (default 64).
    """

    higher_is_better = False
    category = "cost"
    needs_explain = True

    def __init__(self, *, batch_size: int = 64):
        self.batch_size = check_positive_int(batch_size, "batch_size")

    def score(self, model, x, y, a, *, explain):
        explain(model, x[: self.batch_size], y[: self.batch_size])
        out = np.empty(len(x))
        for s in range(0, len(x), self.batch_size):
            start = time.perf_counter()
            explain(model, x[s : s + self.batch_size], y[s : s + self.batch_size])
            out[s : s + self.batch_size] = (time.perf_counter() - start) / len(
                x[s : s + self.batch_size]
            )
        return out
