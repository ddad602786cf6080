"""Attribution ROC AUC (Fawcett 2006, "An introduction to ROC analysis"): how well the attribution
separates the ground-truth features from the rest."""

from __future__ import annotations

import numpy as np

from xaibench.metrics import register
from xaibench.metrics._ranking import average_ranks
from xaibench.metrics.localisation._masks import LocalisationMetric


def auroc_rows(a: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """ROC AUC of each row of ``a`` as a score for the labels ``masks``, ties counted half
    (Mann-Whitney U / (P * Q)); NaN where a row has no positive or no negative label."""
    ranks = average_ranks(a)  # ties (equal up to round-off) share their average rank
    p = masks.sum(axis=1)
    q = masks.shape[1] - p
    u = np.where(masks, ranks, 0.0).sum(axis=1) - p * (p + 1) / 2
    pq = p * q
    return np.where(pq > 0, u / np.where(pq > 0, pq, 1), np.nan)


@register("attribution_auroc")
class AttributionAUROC(LocalisationMetric):
    """ROC AUC of the attribution as a detector of the mask's features; higher is better.

    Fawcett (2006), "An introduction to ROC analysis", applied to heatmaps against ground-truth
    masks (as Quantus's localisation "AUC"). Every feature inside the mask is a positive, every
    other a negative, and the signed attribution (channels summed) is the detection score:
    AUC = P(a_in > a_out) + P(a_in = a_out) / 2, computed from average ranks (Mann-Whitney U) like
    ``sklearn.metrics.roc_auc_score``. 1 = every mask feature ranked above every other, 0.5 =
    chance. An empty or full mask scores NaN (the AUC needs both classes). Needs ``masks=``; does
    not read the model (``model=None`` is fine).

    Parameters
    ----------
    batch_size : unused by the computation (kept for a uniform interface; default "auto").
    """

    def localise(self, a, masks):
        return auroc_rows(a, masks)
