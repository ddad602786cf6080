"""Relevance rank accuracy (Arras, Osman & Samek 2022, "CLEVR-XAI: A benchmark dataset for the
ground truth evaluation of neural network explanations")."""

from __future__ import annotations

from xaibench.metrics import register
from xaibench.metrics._ranking import feature_ranks
from xaibench.metrics.localisation._masks import LocalisationMetric


@register("relevance_rank")
class RelevanceRank(LocalisationMetric):
    """Share of the top-K attributed features inside the mask (K = mask size); higher is better.

    Arras, Osman & Samek (2022), "CLEVR-XAI: A benchmark dataset for the ground truth evaluation
    of neural network explanations". Features are ranked by signed attribution (channels summed),
    descending, values equal up to round-off tied and ties broken by feature index (README,
    Conventions); with K = |mask|, score = |top-K ∩ mask| / K, in [0, 1]. An empty mask
    (K = 0) scores NaN. Needs ``masks=``; does not read the model.

    Parameters
    ----------
    batch_size : unused by the computation (kept for a uniform interface; default "auto").
    """

    def localise(self, a, masks):
        k = masks.sum(axis=1)
        top = feature_ranks(a) < k[:, None]
        return (top & masks).sum(axis=1) / k
