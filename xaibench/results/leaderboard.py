"""Leaderboards: mean, seeded bootstrap confidence interval, n and rank per method."""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd

GROUP_KEYS = ("dataset", "model")
#: Scores that differ by round-off are ties, before any ranking and before any test: two values of
#: one metric are equal when they differ by at most ``ROUNDOFF`` times the metric's scale, its
#: largest |score| in the (dataset, model). 2**-15 is 256 float32 ulps: scores come from float32
#: model outputs, and the same score computed in other batch shapes, thread counts or CPUs moves
#: by up to ~40 ulps (README, Conventions); real differences between methods are far larger.
ROUNDOFF = 2.0**-15
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


def roundoff(scores) -> float:
    """The absolute difference below which scores of one metric are equal: ``ROUNDOFF`` times
    the largest finite |score| (0 when there is none)."""
    s = np.abs(np.asarray(scores, dtype=float))
    s = s[np.isfinite(s)]
    return float(ROUNDOFF * s.max()) if len(s) else 0.0


def tolerant_ranks(values, higher_is_better: bool, tol: float) -> np.ndarray:
    """Rank 1 = best: one plus the number of values better by more than ``tol`` (so values
    within ``tol`` of each other share a rank, the best one), along the last axis; NaN values
    get NaN and do not count. Works on (..., n) arrays, e.g. bootstrap replicates x methods.

    >>> tolerant_ranks([0.5, 0.5 + 1e-9, 0.2], True, 1e-6).tolist()
    [1.0, 1.0, 3.0]
    """
    v = np.asarray(values, dtype=float)
    v = v if higher_is_better else -v
    with np.errstate(invalid="ignore"):
        better = v[..., None, :] > v[..., :, None] + tol  # [..., i, j]: j beats i
    ranks = 1.0 + better.sum(axis=-1)
    return np.where(np.isnan(v), np.nan, ranks)


def discriminates(ranks) -> bool:
    """Whether one metric's ranks of the methods of a (dataset, model) order anything: at least
    two methods are ranked and not all share rank 1. A metric on which every method scores the
    same within round-off cannot tell them apart; the overall ranks leave it out (not ranked).

    >>> discriminates([1.0, 1.0, np.nan]), discriminates([1.0, 2.0]), discriminates([1.0])
    (False, True, False)
    """
    r = np.asarray(ranks, dtype=float)
    r = r[np.isfinite(r)]
    return len(r) >= 2 and bool((r > 1).any())


def _group_seed(seed: int, key: tuple) -> int:
    return zlib.crc32(repr((seed,) + tuple(map(str, key))).encode())


def leaderboard(
    df: pd.DataFrame, *, confidence: float = 0.95, n_boot: int = 1000, seed: int = 0
) -> pd.DataFrame:
    """Rank the methods of a long score table (``xb.evaluate`` output or a run's scores).

    Per (dataset, model, metric) where those columns exist, and per method: the mean of the finite
    scores, a percentile bootstrap ``confidence`` interval (``n_boot`` resamples, seeded per group
    so that it does not depend on the other groups), ``n`` finite scores, and ``rank`` (1 = best,
    by ``higher_is_better``; NaN when no finite score). Means that differ by round-off
    (``ROUNDOFF``) are ties and share the best rank.

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
    tolerance = df.groupby(keys + ["metric"])["score"].agg(roundoff)
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
    for key, g in board.groupby(keys + ["metric"], sort=False):
        tol = tolerance[key if isinstance(key, tuple) and len(key) > 1 else key[0]]
        higher = bool(g["higher_is_better"].iloc[0])
        ranks.append(pd.Series(tolerant_ranks(g["mean"], higher, tol), index=g.index))
    board["rank"] = pd.concat(ranks).astype("Int64")
    board = board[[c for c in COLUMNS if c in board.columns]]
    return board.sort_values(keys + ["metric", "rank", "method"]).reset_index(drop=True)
