"""Completeness (Sundararajan, Taly & Yan 2017, "Axiomatic Attribution for Deep Networks")."""

from __future__ import annotations

import numpy as np

from xaibench._baselines import Baseline, baseline_values, check_baseline
from xaibench._checks import check_batch_size
from xaibench.metrics import register
from xaibench.metrics.base import Metric
from xaibench.models.outputs import check_output, class_scores


@register("completeness")
class Completeness(Metric):
    """|sum a - (f_y(x) - f_y(baseline))|: how far a is from completeness; lower is better.

    Sundararajan et al. 2017 (the completeness axiom, which integrated gradients satisfies as its
    steps grow). x' is the baseline input; f_y the target logit by default. An attribution method
    whose baseline differs from this one's is measured against this one's.

    Parameters
    ----------
    baseline : 0.0 (default), a number, "mean", "blur" or a callable x -> x'.
    output : "logit" (default) or "probability".
    batch_size : model inputs per forward call, or "auto" (default): as many as fit the memory
        budget (``xaibench.models.batching``).

    Example
    -------
    >>> s = xb.metrics.get("completeness")(model, x, y, a)
    """

    higher_is_better = False
    category = "axiomatic"
    scores_constant_maps = True  # compares sum(a) with the output change: defined for any map

    def __init__(
        self, *, baseline: Baseline = 0.0, output: str = "logit", batch_size: int | str = "auto"
    ):
        self.baseline = check_baseline(baseline)
        self.output = check_output(output)
        self.batch_size = check_batch_size(batch_size)

    model_calls = {"forward": 2, "backward": 0}  # f_y of x and of its baseline

    def score(self, model, x, y, a, **extra):
        both = np.concatenate([x, baseline_values(x, self.baseline)])
        f = class_scores(
            model, both, np.concatenate([y, y]), output=self.output, batch_size=self.batch_size
        )
        return np.abs(a.sum(axis=1) - (f[: len(x)] - f[len(x) :]))
