"""Faithfulness correlation (Bhatt, Weller & Moura 2020, "Evaluating and Aggregating
Feature-based Model Explanations")."""

from __future__ import annotations

import numpy as np

from xaibench._baselines import Baseline, baseline_values, check_baseline
from xaibench.methods.base import check_positive_int
from xaibench.metrics import register
from xaibench.metrics._perturb import perturbed_scores, samples_per_chunk
from xaibench.metrics.base import Metric
from xaibench.models.outputs import check_output


def pearson_rows(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Pearson correlation of each row of ``u`` with the same row of ``v``; NaN where either is
    constant."""
    u = u - u.mean(axis=1, keepdims=True)
    v = v - v.mean(axis=1, keepdims=True)
    den = np.sqrt((u * u).sum(axis=1) * (v * v).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (u * v).sum(axis=1) / den, np.nan)


@register("faithfulness_correlation")
class FaithfulnessCorrelation(Metric):
    """Correlation of subset attribution sums with the output drops they cause; higher is better.

    Pearson correlation, over random feature subsets S, between sum_{i in S} a_i and the drop
    f_y(x) - f_y(x with S set to the baseline).

    Subsets are drawn uniformly without replacement from one seeded stream in sample order, so the
    scores do not depend on the batch size. A sample whose attribution sums or output drops are
    constant over all runs scores NaN (the correlation is undefined).

    Parameters
    ----------
    runs : random subsets per sample (default 100).
    subset_size : features per subset (default None = round(10% of n), at least 1).
    baseline : 0.0 (default), a number, "mean", "blur" or a callable.
    output : "logit" (default) or "probability".
    seed : seed of the subsets (default 0).
    batch_size : model inputs per forward call (default 256).
    """

    higher_is_better = True
    category = "faithfulness"

    def __init__(
        self,
        *,
        runs: int = 100,
        subset_size: int | None = None,
        baseline: Baseline = 0.0,
        output: str = "logit",
        seed: int = 0,
        batch_size: int = 256,
    ):
        self.runs = check_positive_int(runs, "runs")
        self.subset_size = (
            None if subset_size is None else check_positive_int(subset_size, "subset_size")
        )
        self.baseline = check_baseline(baseline)
        self.output = check_output(output)
        self.seed = seed
        self.batch_size = check_positive_int(batch_size, "batch_size")

    def score(self, model, x, y, a, **extra):
        n = a.shape[1]
        size = self.subset_size or max(1, int(round(0.1 * n)))
        if size > n:
            raise ValueError(f"subset_size={size} exceeds the number of features ({n})")
        base = baseline_values(x, self.baseline)
        full = perturbed_scores(
            model,
            x,
            y,
            base,
            np.zeros((1, len(x), n), bool),
            output=self.output,
            batch_size=self.batch_size,
        )[:, 0]
        rng = np.random.default_rng(self.seed)
        chunk = samples_per_chunk(x, self.runs)
        out = []
        for s in range(0, len(x), chunk):
            xs, m = x[s : s + chunk], len(x[s : s + chunk])
            subsets = np.argpartition(rng.random((m, self.runs, n)), size - 1, axis=-1)[..., :size]
            mask = np.zeros((m, self.runs, n), bool)
            np.put_along_axis(mask, subsets, True, axis=-1)
            drops = full[s : s + chunk, None] - perturbed_scores(
                model,
                xs,
                y[s : s + chunk],
                base[s : s + chunk],
                mask.transpose(1, 0, 2),
                output=self.output,
                batch_size=self.batch_size,
            )
            sums = (mask * a[s : s + chunk, None, :]).sum(axis=-1)
            out.append(pearson_rows(sums, drops))
        return np.concatenate(out)
