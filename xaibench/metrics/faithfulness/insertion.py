"""Insertion (Petsiuk, Das & Saenko 2018, "RISE: Randomized Input Sampling for Explanation")."""

from __future__ import annotations

from xaibench._baselines import Baseline
from xaibench.metrics import register
from xaibench.metrics.faithfulness._curves import RemovalCurve


@register("insertion")
class Insertion(RemovalCurve):
    """Area under f_y as the most relevant features are inserted into the baseline; higher is better.

    For k = 0..steps the top round(k*n/steps) features (signed attribution, descending) are copied from
    x into the baseline, each step rebuilt; curve_k = f_y(x_k); score = trapezoid area over [0, 1].

    Parameters
    ----------
    steps : curve points minus one (default 20).
    baseline : "blur" (default), a number, "mean" or a callable.
    output : "probability" (default, softmax) or "logit".
    batch_size : model inputs per forward call (default 256).
    """

    higher_is_better = True
    insert = True

    def __init__(
        self,
        *,
        steps: int = 20,
        baseline: Baseline = "blur",
        output: str = "probability",
        batch_size: int = 256,
    ):
        self._setup(steps, baseline, output, batch_size)
