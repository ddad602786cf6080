"""Insertion (Petsiuk, Das & Saenko 2018, "RISE: Randomized Input Sampling for Explanation")."""

from __future__ import annotations

from types import MappingProxyType

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
    baseline : "blur" (default), a number, "mean", a callable, or "noisy_linear" (images only:
        the features not yet inserted are imputed from the inserted ones as in ROAD, Rong et al.
        2022, plus N(0, 0.01^2) noise; with nothing inserted the image is 0 plus the noise).
    output : "probability" (default, softmax) or "logit".
    seed : seed of the imputation noise, used only by a noisy baseline ("noisy_linear"; default
        0). The noise is drawn from ``np.random.default_rng(seed)`` sample by sample, so the
        scores do not depend on the batch size.
    batch_size : model inputs per forward call, or "auto" (default): as many as fit the memory
        budget (``xaibench.models.batching``).
    """

    higher_is_better = True
    sweep = MappingProxyType({"baseline": ("blur", 0.0, "mean", "noisy_linear")})
    tradeoff = "faithfulness"
    insert = True

    def __init__(
        self,
        *,
        steps: int = 20,
        baseline: Baseline = "blur",
        output: str = "probability",
        seed: int = 0,
        batch_size: int | str = "auto",
    ):
        self._setup(steps, baseline, output, seed, batch_size)
