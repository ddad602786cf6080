"""Complexity (Bhatt, Weller & Moura 2020, "Evaluating and Aggregating Feature-based Model
Explanations"): the entropy of the attribution distribution."""

from __future__ import annotations

import numpy as np
from scipy.special import entr

from xaibench._checks import check_batch_size
from xaibench.metrics import register
from xaibench.metrics.base import NO_MODEL_CALLS, Metric


def entropy(a: np.ndarray) -> np.ndarray:
    """-sum_i p_i log p_i of each row (0 log 0 = 0), p = |a| / sum |a|; NaN for an all-zero row
    (0/0). Exactly scale-invariant: p is, and no constant is added.

    >>> entropy(np.array([[1.0, 1.0, 0.0, 0.0], [0.0, 3e-30, 3e-30, 0.0]]))  # log 2
    array([0.69314718, 0.69314718])
    """
    v = np.abs(a)
    total = v.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return entr(v / total).sum(axis=1)


@register("complexity")
class Complexity(Metric):
    """Entropy of the share of |a| each feature holds; lower is better (a concise explanation).

    Bhatt, Weller & Moura (2020), "Evaluating and Aggregating Feature-based Model Explanations".
    With p_i = |a_i| / sum_j |a_j| over the n features (channels summed first),
    H = -sum_i p_i log p_i (0 log 0 = 0): 0 when one feature holds all the attribution, log n
    when it is spread evenly; equal for a and c * a (c > 0) at any scale. As in Quantus
    (``quantus.Complexity``: ``scipy.stats.entropy`` of |a| / sum |a|), no constant is added
    inside the log. A constant map (all-zero included) scores NaN, as for every metric of what a
    map says about features (``Metric``; README, Conventions). Does not read the model
    (``model=None`` is fine).

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
