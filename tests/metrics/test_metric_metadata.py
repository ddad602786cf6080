"""The metadata of every built-in metric (higher_is_better, category, needs_*, stochastic,
tradeoff, curve) against one table written by hand from the metrics' definitions."""

from __future__ import annotations

import pytest
from _metric_cases import builtin_metrics

import xaibench as xb
from xaibench.metrics import CATEGORIES

COLUMNS = (
    "name, higher_is_better, category, needs_model, needs_explain, needs_masks, stochastic, "
    "tradeoff, curve, constant_maps"
)
# One row per built-in metric, written from the metrics' definitions (their docstrings). Columns:
# name, higher_is_better, category, needs_model, needs_explain, needs_masks, stochastic (takes a
# seed), tradeoff (the axis of the tradeoff tables it feeds, or None), curve (a subclass of
# xb.metrics.CurveMetric: it has .curves and .scores_and_curves), constant_maps
# (scores_constant_maps: it reads the map's values as numbers, so a constant map is scored, not
# NaN; README, Conventions).
# fmt: off
METADATA = [
    ("deletion",                 False, "faithfulness",  True,  False, False, True,  "faithfulness", True,  False),
    ("insertion",                True,  "faithfulness",  True,  False, False, True,  "faithfulness", True,  False),
    ("faithfulness_correlation", True,  "faithfulness",  True,  False, False, True,  "faithfulness", False, False),
    ("road",                     True,  "faithfulness",  True,  False, False, True,  None,           True,  False),
    ("infidelity",               False, "faithfulness",  True,  False, False, True,  None,           False, True),
    ("max_sensitivity",          False, "robustness",    True,  True,  False, True,  None,           False, True),
    ("avg_sensitivity",          False, "robustness",    True,  True,  False, True,  None,           False, True),
    ("sparseness",               True,  "complexity",    False, False, False, False, "simplicity",   False, False),
    ("complexity",               False, "complexity",    False, False, False, False, "simplicity",   False, False),
    ("model_randomisation",      False, "randomisation", True,  True,  False, True,  None,           False, False),
    ("random_logit",             False, "randomisation", True,  True,  False, True,  None,           False, False),
    ("pointing_game",            True,  "localisation",  False, False, True,  False, None,           False, False),
    ("relevance_mass",           True,  "localisation",  False, False, True,  False, None,           False, False),
    ("relevance_rank",           True,  "localisation",  False, False, True,  False, None,           False, False),
    ("attribution_auroc",        True,  "localisation",  False, False, True,  False, None,           False, False),
    ("completeness",             False, "axiomatic",     True,  False, False, False, None,           False, True),
    ("runtime",                  False, "cost",          True,  True,  False, False, None,           False, True),
]
# fmt: on


@pytest.mark.parametrize(COLUMNS, METADATA, ids=[row[0] for row in METADATA])
def test_metadata(
    name,
    higher_is_better,
    category,
    needs_model,
    needs_explain,
    needs_masks,
    stochastic,
    tradeoff,
    curve,
    constant_maps,
):
    cls = xb.metrics.cls(name)
    q = xb.metrics.get(name)
    for metric in (cls, q):  # the class and a default instance
        assert metric.higher_is_better is higher_is_better
        assert metric.category == category
        assert metric.needs_model is needs_model
        assert metric.needs_explain is needs_explain
        assert metric.needs_masks is needs_masks
        assert metric.stochastic is stochastic
        assert metric.tradeoff == tradeoff
        assert metric.scores_constant_maps is constant_maps
    assert issubclass(cls, xb.metrics.CurveMetric) is curve
    assert q.category in CATEGORIES
    assert xb.metrics.get(name, **q.params).params == q.params


def test_metadata_table_covers_every_builtin_metric():
    assert sorted(row[0] for row in METADATA) == sorted(builtin_metrics())


@pytest.mark.parametrize("name", builtin_metrics())
def test_stochastic_iff_seeded(name):
    """``stochastic`` marks exactly the metrics that take a seed, and the seed is validated."""
    cls = xb.metrics.cls(name)
    assert isinstance(cls.stochastic, bool)
    assert cls.stochastic is ("seed" in cls.param_names())
    if cls.stochastic:
        assert xb.metrics.get(name).seed == 0
        for bad in (-1, 1.5, "0", None, True):
            with pytest.raises(ValueError, match="seed"):
                xb.metrics.get(name, seed=bad)
