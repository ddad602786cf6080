"""Sparseness (Chalasani et al. 2020, "Concise Explanations of Neural Networks using Adversarial
Training"): the Gini index of the absolute attributions."""

from __future__ import annotations

import numpy as np

from xaibench._checks import check_batch_size
from xaibench.metrics import register
from xaibench.metrics.base import NO_MODEL_CALLS, Metric


def gini(a: np.ndarray) -> np.ndarray:
    """Gini index of each row of |a| + 1e-7: sum_i (2i - n - 1) v_i / (n sum_i v_i), v ascending."""
    v = np.sort(np.abs(a) + 1e-7, axis=1)
    n = v.shape[1]
    i = np.arange(1, n + 1)
    return ((2 * i - n - 1) * v).sum(axis=1) / (n * v.sum(axis=1))


@register("sparseness")
class Sparseness(Metric):
    """Gini index of |a| over the features (1 = one feature holds all); higher is better.

    ~1 when one feature holds all the attribution, 0 when it is spread evenly. Does not read the
    model (``model=None`` is fine).

    Parameters
    ----------
    batch_size : unused by the computation (kept for a uniform interface; default "auto").
    """

    higher_is_better = True
    category = "complexity"
    tradeoff = "simplicity"
    needs_model = False

    def __init__(self, *, batch_size: int | str = "auto"):
        self.batch_size = check_batch_size(batch_size)

    model_calls = NO_MODEL_CALLS  # the attributions only

    def score(self, model, x, y, a, **extra):
        return gini(a)
