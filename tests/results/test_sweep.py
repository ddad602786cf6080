"""The sweep table (results/sweep.py) on a tiny run computed by hand."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from xaibench.results.sweep import COLUMNS, kendall_tau, sweep_table


def _scores(metric, means, variant=None, higher=True):
    """Two samples per method, at mean +- 0.1."""
    rows = []
    for method, mean in means.items():
        for sample, shift in enumerate((-0.1, 0.1)):
            rows.append(
                dict(
                    dataset="d",
                    model="m",
                    method=method,
                    metric=metric,
                    category="faithfulness",
                    higher_is_better=higher,
                    control=method == "random",
                    sample=sample,
                    score=mean + shift,
                    **({"variant": variant} if variant else {}),
                )
            )
    return pd.DataFrame(rows)


def test_kendall_tau_by_hand():
    """(1, 2, 3) against (1, 3, 2): 2 concordant pairs, 1 discordant: tau = 1/3; methods ranked
    in one only are left out; a ranking that ties everything has no tau."""
    a = pd.Series({"x": 1.0, "y": 2.0, "z": 3.0, "w": 4.0})
    b = pd.Series({"x": 1.0, "y": 3.0, "z": 2.0})
    assert kendall_tau(a, b) == pytest.approx(1 / 3)
    assert np.isnan(kendall_tau(a, pd.Series({"x": 1.0, "y": 1.0})))


def test_sweep_table_by_hand():
    """Configured: a 0.9 > b 0.5 > random 0.1 (higher is better). Variant mean: b 0.8 > random
    0.6 > a 0.2: order (3, 1, 2) against (1, 2, 3), tau = -1/3; the top is b; random is not
    last. Variant steps=5: the same order as configured (tau 1). The stand-in verdict
    recommends the best non-control mean of deletion: a, then b under the mean variant."""
    configured = pd.concat(
        [
            _scores("deletion", {"a": 0.9, "b": 0.5, "random": 0.1}),
            _scores("other", {"a": 1, "b": 2, "random": 0}),
        ]
    )
    variants = pd.concat(
        [
            _scores("deletion", {"a": 0.2, "b": 0.8, "random": 0.6}, "sweep:baseline=mean"),
            _scores("deletion", {"a": 0.7, "b": 0.6, "random": 0.0}, "sweep:steps=5"),
        ]
    )
    settings = {
        ("deletion", "configured"): {"baseline": 0.0, "steps": 20},
        ("deletion", "sweep:baseline=mean"): {"baseline": "mean"},
        ("deletion", "sweep:steps=5"): {"steps": 5},
    }

    def recommended(pair):
        own = pair[(pair.metric == "deletion") & ~pair.control]
        return [own.groupby("method")["score"].mean().idxmax()]  # one recommended

    table = sweep_table(configured, variants, settings, recommended)
    assert list(table.columns) == COLUMNS
    assert table["variant"].tolist() == ["configured", "sweep:baseline=mean", "sweep:steps=5"]
    assert table["kendall_tau"].tolist() == pytest.approx([1.0, -1 / 3, 1.0])
    assert table["top_method"].tolist() == ["a", "b", "a"]
    assert table["recommended_holds"].tolist() == [True, False, True]
    assert table["control_last"].tolist() == [True, False, True]
    assert json.loads(table["settings"].iloc[1]) == {"baseline": "mean"}
    assert (table[["dataset", "model", "metric"]] == ["d", "m", "deletion"]).all().all()


def test_without_random_or_a_verdict_those_columns_are_empty():
    configured = _scores("deletion", {"a": 0.9, "b": 0.5})
    variants = _scores("deletion", {"a": 0.2, "b": 0.8}, "sweep:baseline=mean")
    table = sweep_table(configured, variants, {})
    assert table["control_last"].isna().all() and table["recommended_holds"].isna().all()
    assert table["settings"].tolist() == ["{}", "{}"]
    assert sweep_table(configured, variants.iloc[:0], {}).empty


def test_verdict_recommended_is_the_verdicts_recommendation():
    """verdict.recommended (what recommended_holds asks) gives the verdict's recommended methods
    of one (dataset, model), best first, without computing the rest of the verdict."""
    from xaibench.results import verdict

    rng = np.random.default_rng(3)
    rows = []
    for metric, higher in (("deletion", False), ("sparseness", True), ("runtime", False)):
        for shift, method in enumerate(("a", "b", "c", "random")):
            for sample in range(20):
                rows.append(
                    dict(
                        dataset="d",
                        model="m",
                        method=method,
                        metric=metric,
                        category={"runtime": "cost", "sparseness": "complexity"}.get(
                            metric, "faithfulness"
                        ),
                        higher_is_better=higher,
                        control=method == "random",
                        sample=sample,
                        score=rng.normal(shift * (1 if higher else -1) * 0.3, 1.0),
                    )
                )
    scores = pd.DataFrame(rows)
    v = verdict.verdict(scores)
    expected = v[(v.dataset == "d") & v.recommended].sort_values(["overall_rank", "method"])
    assert verdict.recommended(scores) == expected["method"].tolist() != []
