"""Setting sweeps: does the ranking of the methods hold when a metric's settings change?

From a run's scores as configured and its sweep variants' (``xaibench.benchmark.sweep``: the
store's ``variant`` is ``sweep:<label>``), per (dataset, model, metric, variant), the configured
settings first (``variant`` = "configured"):

- ``settings``: the variant's values of the swept settings (JSON);
- ``kendall_tau``: Kendall's tau-b between the methods' ranking by their mean score under the
  variant and under the configured metric (means within round-off tied, ``leaderboard.ROUNDOFF``;
  the methods with a mean under both; NaN with fewer than two, or when one ranking ties them
  all);
- ``top_method``: the method with the best mean under the variant (ties: the first by name);
- ``recommended_holds``: whether the run's recommended method of the (dataset, model) (the best
  recommended by the verdict) stays recommended when the variant's scores replace the metric's
  in the verdict (empty without a verdict);
- ``control_last``: whether the ``random`` control ranks below every method that is not a
  control (empty when ``random`` is not in the run).
"""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
import pandas as pd
from scipy import stats

from xaibench.results.leaderboard import roundoff, tolerant_ranks

COLUMNS = [
    "dataset",
    "model",
    "metric",
    "variant",
    "settings",
    "kendall_tau",
    "top_method",
    "recommended_holds",
    "control_last",
]
CONFIGURED = "configured"
CONTROL = "random"


def ranks(means: pd.Series, higher_is_better: bool, tol: float) -> pd.Series:
    """Rank 1 = best of ``means`` (by method), values within ``tol`` tied (the best rank)."""
    return pd.Series(tolerant_ranks(means.to_numpy(float), higher_is_better, tol), means.index)


def kendall_tau(a: pd.Series, b: pd.Series) -> float:
    """Kendall's tau-b of two rankings (by method) over the methods ranked in both."""
    both = pd.concat([a, b], axis=1, join="inner").dropna()
    if len(both) < 2 or both.iloc[:, 0].nunique() < 2 or both.iloc[:, 1].nunique() < 2:
        return np.nan
    return float(stats.kendalltau(both.iloc[:, 0], both.iloc[:, 1]).statistic)


def _top(r: pd.Series) -> str | None:
    r = r.dropna()
    return None if r.empty else sorted(r.index[r == r.min()])[0]


def _control_last(r: pd.Series, control: pd.Series):
    """Whether ``CONTROL`` ranks below (a larger rank than) every non-control method."""
    r = r.dropna()
    if CONTROL not in r.index:
        return None
    others = r[[m for m in r.index if not control.get(m, False)]]
    return bool(len(others)) and bool((r[CONTROL] > others).all())


def sweep_table(
    scores: pd.DataFrame,
    variants: pd.DataFrame,
    settings: dict,
    recommended: Callable[[pd.DataFrame], list[str]] | None = None,
) -> pd.DataFrame:
    """The sweep table (module docstring) of a run: ``scores`` its per-sample scores as
    configured, ``variants`` its sweep variants' (the same columns and ``variant``),
    ``settings`` ``{(metric, variant): {setting: value}}`` of the swept settings (the
    configured values under ``"configured"``), ``recommended(scores of one (dataset, model))``
    the verdict's recommended methods, the best first (None: no verdict, ``recommended_holds``
    empty)."""
    if variants.empty:
        return pd.DataFrame(columns=COLUMNS)
    rows = []
    for (dataset, model), pair in scores.groupby(["dataset", "model"], sort=True):
        here = variants[(variants["dataset"] == dataset) & (variants["model"] == model)]
        if here.empty:
            continue
        chosen = recommended(pair) if recommended is not None else []
        best = chosen[0] if chosen else None
        control = pair.groupby("method")["control"].first().astype(bool)
        for metric, swept in here.groupby("metric", sort=True):
            own = pair[pair["metric"] == metric]
            higher = bool(own["higher_is_better"].iloc[0]) if len(own) else True
            base = ranks(own.groupby("method")["score"].mean(), higher, roundoff(own["score"]))
            cases = [(CONFIGURED, own)] + list(swept.groupby("variant", sort=True))
            for variant, g in cases:
                r = ranks(g.groupby("method")["score"].mean(), higher, roundoff(g["score"]))
                holds = None
                if best is not None and variant == CONFIGURED:
                    holds = True
                elif best is not None:
                    g = g.drop(columns="variant")
                    holds = best in recommended(pd.concat([pair[pair["metric"] != metric], g]))
                rows.append(
                    {
                        "dataset": dataset,
                        "model": model,
                        "metric": metric,
                        "variant": variant,
                        "settings": json.dumps(settings.get((metric, variant), {}), default=str),
                        "kendall_tau": kendall_tau(base, r),
                        "top_method": _top(r),
                        "recommended_holds": holds,
                        "control_last": _control_last(r, control),
                    }
                )
    return pd.DataFrame(rows, columns=COLUMNS)
