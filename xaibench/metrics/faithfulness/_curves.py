"""The deletion / insertion curve shared by both metrics (Petsiuk et al. 2018)."""

from __future__ import annotations

import numpy as np

from xaibench._baselines import baseline_values, check_baseline
from xaibench.methods.base import check_positive_int
from xaibench.metrics._perturb import feature_ranks, perturbed_scores, samples_per_chunk
from xaibench.metrics.base import CurveMetric
from xaibench.models.outputs import check_output


def removal_counts(n: int, steps: int) -> np.ndarray:
    """Features removed at step k = 0..steps: round(k * n / steps) (numpy rounds half to even)."""
    return np.round(np.arange(steps + 1) * n / steps).astype(np.int64)


def curves(model, x, y, a, *, steps, baseline, output, batch_size, insert: bool) -> np.ndarray:
    """Deletion (insert=False) or insertion (insert=True) curves, float64 (N, steps + 1).

    At step k the top round(k*n/steps) features by signed attribution are taken from the baseline
    (deletion) or from x on top of the baseline (insertion); each step is rebuilt from x.
    """
    base = baseline_values(x, baseline)
    counts = removal_counts(a.shape[1], steps)
    ranks = feature_ranks(a)
    chunk = samples_per_chunk(x, steps + 1)
    out = []
    for s in range(0, len(x), chunk):
        top = ranks[None, s : s + chunk] < counts[:, None, None]  # (steps+1, chunk, n)
        src, dst = (x, base) if insert else (base, x)
        out.append(
            perturbed_scores(
                model,
                dst[s : s + chunk],
                y[s : s + chunk],
                src[s : s + chunk],
                top,
                output=output,
                batch_size=batch_size,
            )
        )
    return np.concatenate(out)


class RemovalCurve(CurveMetric):
    """Deletion and insertion: settings and curves; subclasses set ``insert`` and the defaults."""

    category = "faithfulness"
    insert: bool

    def _setup(self, steps, baseline, output, batch_size) -> None:
        self.steps = check_positive_int(steps, "steps")
        self.baseline = check_baseline(baseline)
        self.output = check_output(output)
        self.batch_size = check_positive_int(batch_size, "batch_size")

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
        )
