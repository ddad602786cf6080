"""Faithfulness correlation (Bhatt, Weller & Moura 2020, "Evaluating and Aggregating
Feature-based Model Explanations")."""

from __future__ import annotations

from types import MappingProxyType

import numpy as np

from xaibench._baselines import Baseline, check_baseline
from xaibench._checks import check_batch_size, check_positive_int, check_seed
from xaibench.metrics import register
from xaibench.metrics._perturb import Removal, ahead, ahead_chunks, copy_scores
from xaibench.metrics._stats import pearson_rows
from xaibench.metrics.base import Metric, perturbation_calls
from xaibench.models.outputs import check_output, class_scores


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
    baseline : 0.0 (default), a number, "mean", "blur", a callable, or "noisy_linear" (images
        only: the subset's pixels are imputed from the others as in ROAD, Rong et al. 2022, with
        N(0, 0.01^2) noise drawn from ``default_rng(seed).spawn(1)[0]``, a stream apart from the
        subsets').
    output : "logit" (default) or "probability".
    seed : seed of the subsets (default 0).
    batch_size : model inputs per forward call, or "auto" (default): as many as fit the memory
        budget (``xaibench.models.batching``).
    """

    higher_is_better = True
    category = "faithfulness"
    sweep = MappingProxyType({"baseline": (0.0, "mean", "blur")})
    tradeoff = "faithfulness"
    stochastic = True

    def __init__(
        self,
        *,
        runs: int = 100,
        subset_size: int | None = None,
        baseline: Baseline = 0.0,
        output: str = "logit",
        seed: int = 0,
        batch_size: int | str = "auto",
    ):
        self.runs = check_positive_int(runs, "runs")
        self.subset_size = (
            None if subset_size is None else check_positive_int(subset_size, "subset_size")
        )
        self.baseline = check_baseline(baseline, masked=True)
        self.output = check_output(output)
        self.seed = check_seed(seed)
        self.batch_size = check_batch_size(batch_size)

    def model_calls(self, input_shape, method_calls, model):
        """f_y of x and of the ``runs`` copies (each imputed with ``baseline="noisy_linear"``)."""
        return perturbation_calls(input_shape, self.baseline, self.runs + 1, self.runs)

    def score(self, model, x, y, a, **extra):
        n = a.shape[1]
        size = self.subset_size or max(1, int(round(0.1 * n)))
        if size > n:
            raise ValueError(f"subset_size={size} exceeds the number of features ({n})")
        rng = np.random.default_rng(self.seed)
        # The imputation noise has its own stream, so the subsets are those of every baseline.
        removal = Removal(x, self.baseline, rng=rng.spawn(1)[0], name=self.name)
        kw = {"output": self.output, "batch_size": self.batch_size}
        full = class_scores(model, x, y, **kw)

        def prepare(s: slice) -> tuple[slice, np.ndarray, np.ndarray]:
            m = len(x[s])
            subsets = np.argpartition(rng.random((m, self.runs, n)), size - 1, axis=-1)[..., :size]
            mask = np.zeros((m, self.runs, n), bool)
            np.put_along_axis(mask, subsets, True, axis=-1)
            return s, mask, removal.fill(s, mask)

        out = []
        for s, mask, copies in ahead(prepare, ahead_chunks(x, self.runs)):
            drops = full[s, None] - copy_scores(model, copies, y[s], **kw)
            sums = (mask * a[s, None, :]).sum(axis=-1)
            out.append(pearson_rows(sums, drops))
        return np.concatenate(out)
