"""ROAD: RemOve And Debias (Rong, Leemann, Borisov, Kasneci & Kasneci 2022, "A Consistent and
Efficient Evaluation Strategy for Attribution Methods")."""

from __future__ import annotations

import numbers
from types import MappingProxyType

import numpy as np

from xaibench._baselines import Baseline, check_baseline
from xaibench._checks import check_batch_size, check_positive_int, check_seed
from xaibench.metrics import register
from xaibench.metrics._perturb import (
    Removal,
    chunks,
    copy_scores,
    samples_per_chunk,
)
from xaibench.metrics._ranking import feature_ranks
from xaibench.metrics.base import CurveMetric, perturbation_calls
from xaibench.metrics.faithfulness._curves import removal_counts
from xaibench.models.outputs import check_output


@register("road")
class Road(CurveMetric):
    """Mean gap f_y(LeRF) - f_y(MoRF) as p = 10..90% of the features are imputed; higher is better.

    Rong et al. 2022 (ROAD). For each fraction p = k/steps, k = 1..steps-1 (10%, 20%, ..., 90% by
    default), the top round(p*n) features by signed attribution (MoRF, most relevant first) or the
    bottom round(p*n) (LeRF, least relevant first) are removed from x by noisy linear imputation: each
    removed pixel := the weighted mean of its 8 neighbours (1/6 direct, 1/12 diagonal, renormalised at
    the border) + N(0, noise^2), all removed pixels of an image solved as one sparse linear system.
    A faithful attribution loses the output when its top features go (MoRF low) and keeps it when its
    bottom features go (LeRF high). score = mean over p of (f_y(LeRF_p) - f_y(MoRF_p)). Features are
    ordered by tie level (README, Conventions: values equal up to round-off are ties, broken by the
    lower index) in both directions, so negating the attribution swaps MoRF and LeRF exactly.

    The curve (``curves``, ``steps + 1`` points over removed fractions k/steps, k = 0..steps) is that
    gap; its end points are 0 by construction (nothing / everything removed is the same input for
    MoRF and LeRF) and are not part of the score. The noise is drawn from one seeded stream in sample
    order, so the scores do not depend on the batch size.

    Parameters
    ----------
    steps : removal fractions k/steps for k = 1..steps-1 (default 10: the paper's 10%, ..., 90%).
    baseline : "noisy_linear" (default; images only), or a number, "mean", "blur" or a callable.
    noise : standard deviation of the imputation noise, in input units (default 0.01, the paper's).
    output : "probability" (default, softmax) or "logit".
    seed : seed of the imputation noise (default 0).
    batch_size : model inputs per forward call, or "auto" (default): as many as fit the memory
        budget (``xaibench.models.batching``).

    Example
    -------
    >>> s = xb.metrics.get("road")(model, x, y, a)
    """

    higher_is_better = True
    category = "faithfulness"
    sweep = MappingProxyType({"baseline": ("noisy_linear", 0.0, "mean", "blur")})
    stochastic = True

    def __init__(
        self,
        *,
        steps: int = 10,
        baseline: Baseline = "noisy_linear",
        noise: float = 0.01,
        output: str = "probability",
        seed: int = 0,
        batch_size: int | str = "auto",
    ):
        self.steps = check_positive_int(steps, "steps")
        if self.steps < 2:
            raise ValueError(f"steps must be at least 2 (one removal fraction), got {steps!r}")
        self.baseline = check_baseline(baseline, masked=True)
        if isinstance(noise, bool) or not isinstance(noise, numbers.Real) or not noise >= 0:
            raise ValueError(f"noise must be a number >= 0, got {noise!r}")
        self.noise = float(noise)
        self.output = check_output(output)
        self.seed = check_seed(seed)
        self.batch_size = check_batch_size(batch_size)

    def model_calls(self, input_shape, method_calls, model):
        """f_y of the MoRF and LeRF copies at the ``steps - 1`` fractions, each imputed with
        ``baseline="noisy_linear"`` (the default)."""
        copies = 2 * (self.steps - 1)
        return perturbation_calls(input_shape, self.baseline, copies, copies)

    def compute_curves(self, model, x, y, a):
        removal = Removal(x, self.baseline, rng=self.seed, noise=self.noise, name=self.name)
        fractions = self.steps - 1
        gaps = []
        for s in chunks(len(x), samples_per_chunk(x, 2 * fractions)):
            scores = copy_scores(
                model,
                removal.fill(s, self.removed(a[s])),
                y[s],
                output=self.output,
                batch_size=self.batch_size,
            )
            gaps.append(scores[:, fractions:] - scores[:, :fractions])
        return np.pad(np.concatenate(gaps), ((0, 0), (1, 1)))

    def removed(self, a: np.ndarray) -> np.ndarray:
        """The features removed from each copy, bool (N, 2 * (steps - 1), n) for attributions
        (N, n): MoRF at every fraction, then LeRF at every fraction."""
        # features removed at each fraction
        counts = removal_counts(a.shape[1], self.steps)[1:-1, None]
        most = feature_ranks(a)[:, None, :]  # 0 = most relevant
        least = feature_ranks(-a)[:, None, :]  # 0 = least relevant; ties also go to the lower index
        return np.concatenate([most < counts, least < counts], axis=1)

    def summarise(self, curves: np.ndarray) -> np.ndarray:
        """The ROAD score of gap curves (N, steps + 1): the mean over the interior points."""
        return curves[:, 1:-1].mean(axis=1)
