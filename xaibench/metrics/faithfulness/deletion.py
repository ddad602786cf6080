"""Deletion (Petsiuk, Das & Saenko 2018, "RISE: Randomized Input Sampling for Explanation")."""

from __future__ import annotations

from types import MappingProxyType

from xaibench._baselines import Baseline
from xaibench.metrics import register
from xaibench.metrics.faithfulness._curves import RemovalCurve


@register("deletion")
class Deletion(RemovalCurve):
    """Area under f_y as the most relevant features are removed; lower is better.

    For k = 0..steps the top round(k*n/steps) features (signed attribution, descending) are set to
    the baseline, each step rebuilt from x; curve_k = f_y(x_k); score = trapezoid area over [0, 1].

    Parameters
    ----------
    steps : curve points minus one (default 20).
    baseline : 0.0 (default), a number, "mean", "blur", a callable, or "noisy_linear" (images
        only: the removed pixels are imputed from the kept ones as in ROAD, Rong et al. 2022, plus
        N(0, 0.01^2) noise; see ``xaibench._imputation``).
    output : "probability" (default, softmax) or "logit".
    seed : seed of the imputation noise, used only by a noisy baseline ("noisy_linear"; default
        0). The noise is drawn from ``np.random.default_rng(seed)`` sample by sample, so the
        scores do not depend on the batch size.
    batch_size : model inputs per forward call, or "auto" (default): as many as fit the memory
        budget (``xaibench.models.batching``).

    Example
    -------
    >>> s = xb.metrics.get("deletion", baseline="noisy_linear")(model, x, y, a)
    """

    higher_is_better = False
    sweep = MappingProxyType({"baseline": (0.0, "mean", "blur", "noisy_linear")})
    tradeoff = "faithfulness"
    insert = False

    def __init__(
        self,
        *,
        steps: int = 20,
        baseline: Baseline = 0.0,
        output: str = "probability",
        seed: int = 0,
        batch_size: int | str = "auto",
    ):
        self._setup(steps, baseline, output, seed, batch_size)
