"""Leaderboards: mean, seeded bootstrap confidence interval, n and rank per method."""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd

GROUP_KEYS = ("dataset", "model")
COLUMNS = [
    "dataset",
    "model",
    "method",
    "metric",
    "category",
    "higher_is_better",
    "mean",
    "ci_low",
    "ci_high",
    "n",
    "rank",
    "tradeoff",  # where the scores carry it: the metric's tradeoff axis (or empty)
    "control",  # where the scores carry it: the method is a control (random, sobel)
]


def bootstrap_ci(
    scores: np.ndarray, *, confidence: float = 0.95, n_boot: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of the finite ``scores`` (seeded)."""
    s = np.asarray(scores, dtype=float)
    s = s[np.isfinite(s)]
    if len(s) == 0:
        return np.nan, np.nan
    if len(s) == 1:
        return float(s[0]), float(s[0])
    rng = np.random.default_rng(seed)
    means = s[rng.integers(0, len(s), size=(n_boot, len(s)))].mean(axis=1)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)


def _group_seed(seed: int, key: tuple) -> int:
    return zlib.crc32(repr((seed,) + tuple(map(str, key))).encode())


def leaderboard(
    df: pd.DataFrame, *, confidence: float = 0.95, n_boot: int = 1000, seed: int = 0
) -> pd.DataFrame:
    """Rank the methods of a long score table (``xb.evaluate`` output or a run's scores).

    Per (dataset, model, metric) where those columns exist, and per method: the mean of the finite
    scores, a percentile bootstrap ``confidence`` interval (``n_boot`` resamples, seeded per group
    so that it does not depend on the other groups), ``n`` finite scores, and ``rank`` (1 = best,
    by ``higher_is_better``; ties share the best rank; NaN when no finite score).

    The metrics' metadata comes from the table: ``category`` and ``higher_is_better`` columns
    (and ``tradeoff``, ``control`` where present), as ``xb.evaluate`` and a run's store give them;
    ``xb.leaderboard`` fills them in from the metric registry when they are missing.
    """
    needed = ["method", "metric", "score", "category", "higher_is_better"]
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise ValueError(
            f"leaderboard needs columns {', '.join(needed)}; missing {', '.join(missing)} "
            "(xb.leaderboard adds the metrics' category and higher_is_better)"
        )
    carried = [c for c in ("tradeoff", "control") if c in df.columns]
    keys = [k for k in GROUP_KEYS if k in df.columns]
    rows = []
    for key, g in df.groupby(keys + ["metric", "method"], sort=True):
        s = g["score"].to_numpy(dtype=float)
        finite = s[np.isfinite(s)]
        low, high = bootstrap_ci(
            finite, confidence=confidence, n_boot=n_boot, seed=_group_seed(seed, key)
        )
        rows.append(
            {
                **dict(zip(keys + ["metric", "method"], key, strict=True)),
                "category": g["category"].iloc[0],
                "higher_is_better": bool(g["higher_is_better"].iloc[0]),
                **{c: g[c].iloc[0] for c in carried},
                "mean": float(finite.mean()) if len(finite) else np.nan,
                "ci_low": low,
                "ci_high": high,
                "n": len(finite),
            }
        )
    board = pd.DataFrame(rows)
    if board.empty:
        return pd.DataFrame(columns=[c for c in COLUMNS if c not in GROUP_KEYS or c in keys])
    ranks = []
    for _, g in board.groupby(keys + ["metric"], sort=False):
        ranks.append(g["mean"].rank(ascending=not g["higher_is_better"].iloc[0], method="min"))
    board["rank"] = pd.concat(ranks).astype("Int64")
    board = board[[c for c in COLUMNS if c in board.columns]]
    return board.sort_values(keys + ["metric", "rank", "method"]).reset_index(drop=True)
