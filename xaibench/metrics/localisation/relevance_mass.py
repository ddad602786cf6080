"""Relevance mass accuracy (Arras, Osman & Samek 2022, "CLEVR-XAI: A benchmark dataset for the
ground truth evaluation of neural network explanations")."""

from __future__ import annotations

import numpy as np

from xaibench.metrics import register
from xaibench.metrics.localisation._masks import LocalisationMetric


@register("relevance_mass")
class RelevanceMass(LocalisationMetric):
    """Share of the positive attribution that falls inside the mask; higher is better.

    Arras, Osman & Samek (2022), "CLEVR-XAI: A benchmark dataset for the ground truth evaluation
    of neural network explanations". With a+ = max(a, 0) (channels summed first),
    score = sum_{i in mask} a+_i / sum_i a+_i, in [0, 1]. A sample without positive attribution
    (0/0) or with an empty mask scores NaN. Needs ``masks=``; does not read the model.

    Parameters
    ----------
    batch_size : unused by the computation (kept for a uniform interface; default "auto").
    """

    def localise(self, a, masks):
        positive = np.maximum(a, 0.0)
        total = positive.sum(axis=1)  # no epsilon: a share is scale-free; 0/0 is NaN
        inside = np.where(masks, positive, 0.0).sum(axis=1)
        return np.where(total > 0, inside / np.where(total > 0, total, 1.0), np.nan)
