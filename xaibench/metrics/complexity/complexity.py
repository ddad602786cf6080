"""Complexity (Bhatt, Weller & Moura 2020, "Evaluating and Aggregating Feature-based Model
Explanations"): the entropy of the attribution distribution."""

from __future__ import annotations

import numpy as np

from xaibench._checks import check_batch_size
from xaibench.metrics import register
from xaibench.metrics.base import NO_MODEL_CALLS, Metric

EPS = 1e-12


def entropy(a: np.ndarray) -> np.ndarray:
    """-sum_i p_i log(p_i + 1e-12) of each row, p = |a| / sum |a|; an all-zero row counts as
    uniform (p_i = 1/n)."""
    v = np.abs(a)
    total = v.sum(axis=1, keepdims=True)
    p = np.where(total > 0, v / np.where(total > 0, total, 1.0), 1.0 / v.shape[1])
    return -(p * np.log(p + EPS)).sum(axis=1)


@register("complexity")
class Complexity(Metric):
    """Entropy of the share of |a| each feature holds; lower is better (a concise explanation).

    Bhatt, Weller & Moura (2020), "Evaluating and Aggregating Feature-based Model Explanations".
    With p_i = |a_i| / sum_j |a_j| over the n features (channels summed first),
    H = -sum_i p_i log(p_i + 1e-12): ~0 when one feature holds all the attribution, ~log n when it is
    spread evenly. An all-zero attribution map (0/0) is scored as the uniform one (log n, the worst
    score), the limit of any map whose values all shrink equally; it explains nothing. Does not
    read the model (``model=None`` is fine).

    Parameters
    ----------
    batch_size : unused by the computation (kept for a uniform interface; default "auto").

    Example
    -------
    >>> xb.metrics.get("complexity")(None, x, y, a).shape  # one score per sample
    (4,)
    """

    higher_is_better = False
    category = "complexity"
    tradeoff = "simplicity"
    needs_model = False

    def __init__(self, *, batch_size: int | str = "auto"):
        self.batch_size = check_batch_size(batch_size)

    model_calls = NO_MODEL_CALLS  # the attributions only

    def score(self, model, x, y, a, **extra):
        return entropy(a)
