"""The deletion / insertion curve shared by both metrics (Petsiuk et al. 2018)."""

from __future__ import annotations

import numpy as np

from xaibench._baselines import check_baseline
from xaibench._checks import check_batch_size, check_positive_int, check_seed
from xaibench.metrics._perturb import (
    Removal,
    chunks,
    copy_scores,
    samples_per_chunk,
)
from xaibench.metrics._ranking import feature_ranks
from xaibench.metrics.base import CurveMetric, perturbation_calls
from xaibench.models.outputs import check_output


def removal_counts(n: int, steps: int) -> np.ndarray:
    """Features removed at step k = 0..steps: round(k * n / steps) (numpy rounds half to even)."""
    return np.round(np.arange(steps + 1) * n / steps).astype(np.int64)


def curves(
    model, x, y, a, *, steps, baseline, output, batch_size, insert: bool, seed=0, name="deletion"
) -> np.ndarray:
    """Deletion (insert=False) or insertion (insert=True) curves, float64 (N, steps + 1).

    At step k the top round(k*n/steps) features by signed attribution are taken from the baseline
    (deletion) or from x on top of the baseline (insertion); each step is rebuilt from x. For
    insertion the features not yet inserted are the removed ones, so ``"noisy_linear"`` imputes
    them from the inserted ones. ``seed`` seeds the imputation noise (noisy baselines only).
    """
    removal = Removal(x, baseline, rng=seed, name=name)
    counts = removal_counts(a.shape[1], steps)
    ranks = feature_ranks(a)
    out = []
    for s in chunks(len(x), samples_per_chunk(x, steps + 1)):
        top = ranks[s, None, :] < counts[None, :, None]  # (chunk, steps + 1, n)
        copies = removal.fill(s, ~top if insert else top)
        out.append(copy_scores(model, copies, y[s], output=output, batch_size=batch_size))
    return np.concatenate(out)


class RemovalCurve(CurveMetric):
    """Deletion and insertion: settings and curves; subclasses set ``insert`` and the defaults."""

    category = "faithfulness"
    stochastic = True  # with baseline="noisy_linear"
    insert: bool

    def _setup(self, steps, baseline, output, seed, batch_size) -> None:
        self.steps = check_positive_int(steps, "steps")
        self.baseline = check_baseline(baseline, masked=True)
        self.output = check_output(output)
        self.seed = check_seed(seed)
        self.batch_size = check_batch_size(batch_size)

    def model_calls(self, input_shape, method_calls, model):
        """f_y of the ``steps + 1`` copies; the ``steps - 1`` with some features removed are
        imputed with ``baseline="noisy_linear"``."""
        return perturbation_calls(input_shape, self.baseline, self.steps + 1, self.steps - 1)

    def compute_curves(self, model, x, y, a):
        return curves(
            model,
            x,
            y,
            a,
            steps=self.steps,
            baseline=self.baseline,
            output=self.output,
            batch_size=self.batch_size,
            insert=self.insert,
            seed=self.seed,
            name=self.name,
        )
