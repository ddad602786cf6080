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
    (so the metric names must be registered)."""
    from xaibench import metrics
    from xaibench.results.leaderboard import leaderboard as rank

    if "metric" in df.columns:
        known = {"category", "higher_is_better", "tradeoff"}
        if not known <= set(df.columns):
            info = {m: metrics.cls(m) for m in df["metric"].unique()}
            df = df.copy()
            for column in sorted(known - set(df.columns)):
                df[column] = df["metric"].map(lambda m, c=column: getattr(info[m], c))
    return rank(df, confidence=confidence, n_boot=n_boot, seed=seed)
