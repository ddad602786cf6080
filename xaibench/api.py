"""The top-level functions that join layers: ``xb.leaderboard`` ranks a score table with the
metrics' metadata from the registry (the results layer never looks metrics up)."""

from __future__ import annotations

import pandas as pd


def leaderboard(
    df: pd.DataFrame, *, confidence: float = 0.95, n_boot: int = 1000, seed: int = 0
) -> pd.DataFrame:
    """Rank the methods of a long score table (``xb.evaluate`` output or a run's scores): mean,
    seeded bootstrap ``confidence`` interval, ``n`` and ``rank`` per (dataset, model, metric,
    method), as :func:`xaibench.results.leaderboard.leaderboard`. A table without the metrics'
    ``category`` / ``higher_is_better`` / ``tradeoff`` columns gets them from the metric registry
    (so the metric names must be registered), and ``control`` from the method registry."""
    from xaibench import methods, metrics
    from xaibench.results.leaderboard import leaderboard as rank

    df = df.copy()
    if "metric" in df.columns:
        known = {"category", "higher_is_better", "tradeoff"}
        if not known <= set(df.columns):
            info = {m: metrics.cls(m) for m in df["metric"].unique()}
            for column in sorted(known - set(df.columns)):
                df[column] = df["metric"].map(lambda m, c=column: getattr(info[m], c))
    if "method" in df.columns and "control" not in df.columns:
        df["control"] = df["method"].map(  # a user's method not registered is no control
            lambda m: m in methods.names() and bool(methods.cls(m).control)
        )
    return rank(df, confidence=confidence, n_boot=n_boot, seed=seed)
