"""Statistics over a leaderboard: significance of rank gaps, ties, aggregate ranks, stability, agreement.

Every function is pure (it never changes its inputs) and deterministic; the bootstrap is seeded per
(dataset, model, metric) group so that a group's result does not depend on the other groups.

Inputs are the two tables of :mod:`xaibench.results.leaderboard`: ``scores``, the long per-sample
table (``dataset, model, method, metric, category, higher_is_better, sample, score``) and ``board``,
``leaderboard(scores)``. ``dataset`` and ``model`` are optional, as in the leaderboard.

References
----------
- Wilcoxon, F. (1945). Individual comparisons by ranking methods. *Biometrics Bulletin* 1(6).
- Holm, S. (1979). A simple sequentially rejective multiple test procedure. *Scand. J. Statist.* 6(2).
- Krishna, S. et al. (2022). The disagreement problem in explainable machine learning: a
  practitioner's perspective. arXiv:2202.01602.
"""

from __future__ import annotations

import itertools
import string

import numpy as np
import pandas as pd
from scipy import stats

from xaibench._categories import CATEGORIES, UNRANKED
from xaibench.results.leaderboard import GROUP_KEYS, _group_seed, discriminates, roundoff

#: Categories left out of ``rank_overall``: they measure what a method costs, not how good it is.
EXCLUDED_FROM_OVERALL = UNRANKED  # cost, model_property (xaibench._categories)
#: Fewer paired samples than this and two methods are reported as not distinguishable (p = 1).
MIN_PAIRS = 2
_SIG_COLUMNS = [
    *GROUP_KEYS,
    "metric",
    "method_a",
    "method_b",
    "n_pairs",
    "statistic",
    "p_value",
    "p_holm",
    "significant",
]


def holm(pvalues) -> np.ndarray:
    """Holm-Bonferroni step-down adjusted p-values (Holm 1979).

    With the ``m`` finite p-values sorted ascending, ``p_(1) <= ... <= p_(m)``, the adjusted value
    is ``max_{j <= i} min(1, (m - j + 1) p_(j))``: monotone in ``p`` and at most 1. NaN entries
    pass through as NaN and do not count toward ``m``. Rejecting where ``holm(p) < alpha``
    controls the family-wise error rate at ``alpha``.

    Example: ``holm([0.01, 0.04, 0.03, 0.005])`` -> ``[0.03, 0.06, 0.06, 0.02]``.
    """
    p = np.asarray(pvalues, dtype=float)
    flat = p.ravel()
    known = np.flatnonzero(~np.isnan(flat))
    if np.any((flat[known] < 0) | (flat[known] > 1)):
        raise ValueError(f"pvalues must lie in [0, 1] or be NaN, got {flat[known].tolist()}")
    order = known[np.argsort(flat[known], kind="stable")]
    m = len(order)
    adjusted = np.maximum.accumulate((m - np.arange(m)) * flat[order])
    out = np.full(flat.shape, np.nan)
    out[order] = np.minimum(adjusted, 1.0)
    return out.reshape(p.shape)


def significance(scores: pd.DataFrame, board: pd.DataFrame, *, alpha: float = 0.05) -> pd.DataFrame:
    """Paired Wilcoxon signed-rank tests between methods adjacent in rank (Wilcoxon 1945).

    Per (dataset, model, metric), the ranked methods of ``board`` are ordered by (rank, method);
    each method is tested against the next one, two-sided, on the samples where both have a
    finite score (paired on ``sample``). The p-values of these adjacent-pair tests are
    Holm-adjusted within the (dataset, model, metric) (Holm 1979); ``significant`` is
    ``p_holm < alpha``. Paired differences within round-off (``leaderboard.ROUNDOFF`` of the
    metric's scale) are zero before the test. With fewer than ``MIN_PAIRS`` paired samples, or
    when every paired difference is zero, the two methods are not distinguishable:
    ``statistic`` is NaN and ``p_value`` is 1.0 (such pairs still count toward Holm's ``m``).

    Returns one row per adjacent pair: ``dataset, model, metric, method_a`` (the better ranked),
    ``method_b, n_pairs, statistic, p_value, p_holm, significant``.

    Example: ``significance(scores, leaderboard(scores))``.
    """
    _require(scores, {"method", "metric", "sample", "score"}, "scores")
    _require(board, {"method", "metric", "rank"}, "board")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha!r}")
    keys = _keys(board)
    _require(scores, set(keys), "scores")
    matrices = {k: _score_matrix(g) for k, g in scores.groupby(keys + ["metric"], sort=False)}
    rows = []
    for key, g in board.dropna(subset=["rank"]).groupby(keys + ["metric"], sort=True):
        order = g.sort_values(["rank", "method"])["method"].tolist()
        matrix = matrices.get(key, pd.DataFrame())
        tol = roundoff(matrix.to_numpy())
        tests = [
            {
                **dict(zip(keys + ["metric"], key, strict=True)),
                "method_a": a,
                "method_b": b,
                **_wilcoxon(_column(matrix, a), _column(matrix, b), tol),
            }
            for a, b in itertools.pairwise(order)
        ]
        adjusted = holm([t["p_value"] for t in tests])
        rows += [
            {**t, "p_holm": p, "significant": bool(p < alpha)}
            for t, p in zip(tests, adjusted, strict=True)
        ]
    columns = [c for c in _SIG_COLUMNS if c not in GROUP_KEYS or c in keys]
    return pd.DataFrame(rows, columns=columns).astype({"n_pairs": int, "significant": bool})


def add_ties(board: pd.DataFrame, sig: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``board`` with the columns ``p_next`` and ``tie``.

    ``p_next`` is the Holm-adjusted p-value of the test against the next-ranked method (from
    ``sig = significance(scores, board)``); NaN for the last ranked method and unranked ones.

    ``tie`` marks methods that are not significantly different from their rank neighbours.
    Within a (dataset, model, metric), walking the methods in (rank, method) order, a chain of
    adjacent pairs that are *not* significant joins its methods into one group. Groups of two or
    more methods get the letters ``"a"``, ``"b"``, ... in rank order (``"aa"``, ``"bb"``, ... after
    ``"z"``); a method that differs significantly from both neighbours, or has no rank, gets
    ``""``. Letters restart in every (dataset, model, metric). A chain is not transitive: the two
    ends of a long chain may differ significantly; the marker only says that no adjacent gap
    inside the group is significant. A pair missing from ``sig`` breaks the chain.

    Example: ``add_ties(board, significance(scores, board))``.
    """
    _require(board, {"method", "metric", "rank"}, "board")
    _require(sig, {"metric", "method_a", "p_holm", "significant"}, "sig")
    on = _keys(board) + ["metric", "method"]
    link = sig.rename(columns={"method_a": "method", "p_holm": "p_next"})[
        on + ["p_next", "significant"]
    ]
    merged = board[on + ["rank"]].merge(link, how="left", on=on, validate="one_to_one")
    linked = merged["significant"].eq(False).to_numpy()
    tie = np.full(len(merged), "", dtype=object)
    ranked = merged[merged["rank"].notna()].sort_values(on[:-1] + ["rank", "method"])
    for _, g in ranked.groupby(on[:-1], sort=False):
        tie[g.index] = _chain_letters(linked[g.index])
    out = board.copy()
    out["p_next"] = merged["p_next"].to_numpy(dtype=float)
    out["tie"] = tie
    return out


def aggregate_ranks(board: pd.DataFrame) -> pd.DataFrame:
    """Mean ranks per category and an overall position per (dataset, model, method).

    ``rank_<category>`` is the mean of the method's per-metric ranks over the metrics of that
    category (only categories present in ``board``, in ``CATEGORIES`` order; unranked metrics are
    skipped, and so are the metrics that cannot tell the methods of a (dataset, model) apart:
    every method shares rank 1, ``leaderboard.discriminates``). ``rank_overall`` is the mean of the category ranks, so that every category weighs
    the same whatever its number of metrics (a suite with five faithfulness metrics and one
    complexity metric would otherwise be a faithfulness ranking). Categories in
    ``EXCLUDED_FROM_OVERALL`` (``cost``: runtime; ``model_property``: the same for every
    method) keep their own column but are left out of ``rank_overall``: they do not measure the
    quality of a method's explanations. A method with no finite score on a metric (``n`` = 0:
    its maps all constant) ranks last on it, as in the verdict.
    ``overall`` is the position by ``rank_overall`` within (dataset, model): 1 = best, ties share
    the best position, NA when the method has no quality rank. Ranks already follow
    ``higher_is_better`` (they come from the leaderboard).

    Returns ``dataset, model, method, rank_<category>..., rank_overall, overall``, sorted by
    (dataset, model, overall, method).

    Example: ``aggregate_ranks(leaderboard(scores))``.
    """
    _require(board, {"method", "metric", "category", "rank"}, "board")
    keys = _keys(board)
    ranks = board.assign(rank=board["rank"].astype(float))
    # a method with no finite score on a metric (its maps all constant) ranks last there
    last = ranks.groupby(keys + ["metric"])["rank"].transform(lambda r: r.notna().sum() + 1)
    ranks["rank"] = ranks["rank"].fillna(last)
    ordering = ranks.groupby(keys + ["metric"])["rank"].transform(discriminates).astype(bool)
    ranks = ranks.assign(rank=ranks["rank"].where(ordering))
    per_category = ranks.groupby(keys + ["method", "category"])["rank"].mean().unstack("category")
    categories = _ordered(per_category.columns, CATEGORIES)
    quality = [c for c in categories if c not in EXCLUDED_FROM_OVERALL]
    out = per_category[categories].add_prefix("rank_")
    out["rank_overall"] = per_category[quality].mean(axis=1) if quality else np.nan
    out = out.reset_index()
    out.columns.name = None
    by = out.groupby(keys)["rank_overall"] if keys else out["rank_overall"]
    out["overall"] = by.rank(method="min").astype("Int64")
    return out.sort_values(keys + ["overall", "method"]).reset_index(drop=True)


def rank_stability(scores: pd.DataFrame, *, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Bootstrap probability that the top method stays on top when the samples are resampled.

    Per (dataset, model, metric): ``top_method`` has the best mean finite score (by
    ``higher_is_better``; equal means go to the first method name, as in the leaderboard). Each
    of ``n_boot`` replicates draws the sample ids with replacement *jointly* for all methods,
    which keeps the pairing of scores on a sample, and recomputes every method's mean over its
    finite scores among the drawn samples. ``p_top`` is the fraction of replicates in which
    ``top_method`` has the best mean (up to round-off, ``leaderboard.ROUNDOFF``), where a
    replicate with ``k`` methods tied for best counts
    ``1/k`` (ties broken uniformly at random, so two methods with identical scores get 0.5
    each). Replicates are vectorised as a (n_boot, n_samples) matrix of draw counts. The
    generator is seeded from ``seed`` and the group, so results do not depend on other groups.

    Returns ``dataset, model, metric, top_method, p_top`` (``None``/NaN for a group without any
    finite score).

    Example: ``rank_stability(scores, n_boot=1000, seed=0)``.
    """
    _require(scores, {"method", "metric", "sample", "score"}, "scores")
    if int(n_boot) < 1:
        raise ValueError(f"n_boot must be a positive integer, got {n_boot!r}")
    keys = _keys(scores)
    higher = _directions(scores)
    rows = []
    for key, g in scores.groupby(keys + ["metric"], sort=True):
        matrix = _score_matrix(g)
        sign = 1.0 if higher[key[-1]] else -1.0
        rng = np.random.default_rng(_group_seed(seed, key))
        top, p_top = _p_top(sign * matrix.to_numpy(), int(n_boot), rng)
        rows.append(
            {
                **dict(zip(keys + ["metric"], key, strict=True)),
                "top_method": None if top is None else matrix.columns[top],
                "p_top": p_top,
            }
        )
    return pd.DataFrame(rows, columns=keys + ["metric", "top_method", "p_top"])


def metric_agreement_long(board: pd.DataFrame) -> pd.DataFrame:
    """Spearman correlation of the method rankings of every pair of metrics, per (dataset, model).

    Mean scores are oriented so that higher is better (negated where ``higher_is_better`` is
    false), so a positive ``rho`` means the two metrics order the methods alike; the methods
    compared are those with a finite mean under both metrics. ``rho`` is NaN with fewer than 3
    common methods or when one metric gives all of them the same score. This measures the
    "disagreement problem" between evaluation metrics (Krishna et al. 2022).

    Returns ``dataset, model, metric_a, metric_b, rho, n_methods``, one row per unordered pair
    (``metric_a`` before ``metric_b`` in category, then name, order).

    Example: ``metric_agreement_long(leaderboard(scores))``.
    """
    _require(board, {"method", "metric", "mean", "higher_is_better"}, "board")
    keys = _keys(board)
    oriented = board["mean"].where(board["higher_is_better"].astype(bool), -board["mean"])
    board = board.assign(oriented=oriented)
    metrics = _metric_order(board)
    groups = board.groupby(keys, sort=True) if keys else [((), board)]
    rows = []
    for key, g in groups:
        table = g.pivot(index="method", columns="metric", values="oriented")
        present = [m for m in metrics if m in table.columns]
        values = table[present].to_numpy(dtype=float)
        for (i, a), (j, b) in itertools.combinations(enumerate(present), 2):
            both = ~np.isnan(values[:, i]) & ~np.isnan(values[:, j])  # as dropna
            rows.append(
                {
                    **dict(zip(keys, key, strict=True)),
                    "metric_a": a,
                    "metric_b": b,
                    "rho": _spearman(values[both, i], values[both, j]),
                    "n_methods": int(both.sum()),
                }
            )
    return pd.DataFrame(rows, columns=keys + ["metric_a", "metric_b", "rho", "n_methods"])


def metric_agreement(board: pd.DataFrame) -> pd.DataFrame:
    """Square metrics x metrics table of the mean Spearman rho between method rankings.

    The per-(dataset, model) ``rho`` of :func:`metric_agreement_long` averaged (plain mean,
    skipping NaN) over the (dataset, model) groups; symmetric, diagonal 1, NaN where no group has
    3 or more methods ranked by both metrics. Metrics are in category, then name, order.
    Krishna et al. (2022) call low or negative values the disagreement problem.

    Example: ``metric_agreement(leaderboard(scores)).round(2)``.
    """
    long = metric_agreement_long(board)
    metrics = _metric_order(board)
    mean = long.groupby(["metric_a", "metric_b"])["rho"].mean()
    position = {m: i for i, m in enumerate(metrics)}
    matrix = np.eye(len(metrics))
    matrix[matrix == 0] = np.nan
    for (a, b), rho in mean.items():
        matrix[position[a], position[b]] = matrix[position[b], position[a]] = rho
    return pd.DataFrame(matrix, index=pd.Index(metrics, name="metric"), columns=metrics)


def _require(df: pd.DataFrame, columns: set, name: str) -> None:
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"{name} must be a pandas DataFrame, got {type(df).__name__}")
    missing = columns - set(df.columns)
    if missing:
        raise ValueError(f"{name} needs columns {sorted(columns)}; missing {sorted(missing)}")


def _keys(df: pd.DataFrame) -> list[str]:
    return [k for k in GROUP_KEYS if k in df.columns]


def _ordered(names, first) -> list:
    """``names`` in the order of ``first``, then the others sorted."""
    names = list(names)
    return [n for n in first if n in names] + sorted(n for n in names if n not in first)


def _metric_order(board: pd.DataFrame) -> list[str]:
    if "category" not in board:
        return sorted(board["metric"].unique())
    category = board.groupby("metric")["category"].first()
    rank = {c: i for i, c in enumerate(_ordered(category.unique(), CATEGORIES))}
    return sorted(category.index, key=lambda m: (rank[category[m]], m))


def _directions(scores: pd.DataFrame) -> dict[str, bool]:
    """``higher_is_better`` per metric, from the table (xb.evaluate and a run's store give it)."""
    if "higher_is_better" not in scores:
        raise ValueError(
            "scores need a higher_is_better column (xb.evaluate and a run's store give it)"
        )
    return scores.groupby("metric")["higher_is_better"].first().astype(bool).to_dict()


def _score_matrix(g: pd.DataFrame) -> pd.DataFrame:
    """Samples x methods scores of one (dataset, model, metric); NaN where a score is missing."""
    if g.duplicated(["method", "sample"]).any():
        raise ValueError(
            "scores must hold one score per (dataset, model, metric, method, sample); "
            "found duplicates"
        )
    return g.pivot(index="sample", columns="method", values="score").astype(float)


def _column(matrix: pd.DataFrame, method: str) -> np.ndarray:
    return matrix[method].to_numpy() if method in matrix else np.empty(0)


def _wilcoxon(a: np.ndarray, b: np.ndarray, tol: float = 0.0, alternative="two-sided") -> dict:
    """Paired Wilcoxon test of ``a - b`` on the finite pairs, differences within ``tol`` (round-off)
    counted as zero; p = 1 when not distinguishable."""
    both = np.isfinite(a) & np.isfinite(b)
    d = a[both] - b[both]
    d[np.abs(d) <= tol] = 0.0
    if len(d) < MIN_PAIRS or np.all(d == 0):
        return {"n_pairs": len(d), "statistic": np.nan, "p_value": 1.0}
    statistic, p = signed_rank_test(d, alternative)
    return {
        "n_pairs": len(d),
        "statistic": statistic,
        "p_value": p if np.isfinite(p) else 1.0,
    }


#: The power at which :func:`samples_needed` estimates a sample size.
POWER = 0.8


def samples_needed(d, *, alpha: float = 0.05, power: float = POWER, tol: float = 0.0) -> float:
    """About how many paired samples a two-sided Wilcoxon signed-rank test at ``alpha`` needs to
    find the difference ``d`` (per-sample paired differences; within ``tol`` count as zero) with
    probability ``power``; ``inf`` when every difference is zero (no sample size separates the
    two), NaN with fewer than two finite differences.

    The estimate (Noether 1987; Lehmann 1975): the normal-approximation sample size of a paired
    t-test at the standardised effect size ``d_z = mean(d) / sd(d)``,
    ``((z_{1-alpha/2} + z_{power}) / d_z) ** 2``, divided by the signed-rank test's asymptotic
    relative efficiency against it, 3/pi; and never fewer than the smallest ``n`` at which the
    exact test can reach ``alpha`` at all (``2 / 2**n < alpha``: 6 at 0.05). Simulated with
    normal differences, the test at the estimated ``n`` has power 0.80 at ``d_z`` = 0.3 (n = 92)
    and 0.5 (n = 34), 0.69 at ``d_z`` = 1 (n = 9): small samples need a few more.

    >>> round(samples_needed(np.tile([1.5, -0.5], 10)), 1)  # mean 0.5, sd 1.03
    34.6
    """
    d = np.asarray(d, dtype=float)
    d = d[np.isfinite(d)]
    if len(d) < MIN_PAIRS:
        return np.nan
    d = np.where(np.abs(d) <= tol, 0.0, d)
    if not d.any():
        return np.inf
    floor = float(np.ceil(np.log2(2 / alpha)))
    spread = d.std(ddof=1)
    if spread == 0:
        return floor
    if d.mean() == 0:  # differences that cancel out: no number of samples shows a shift
        return np.inf
    z = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)
    return max(floor, float((z * spread / d.mean()) ** 2 * np.pi / 3))


EXACT_FLIPS = 13  # scipy enumerates all 2**n sign flips up to n = 13 (under its 9,999 resamples)


def signed_rank_test(
    d: np.ndarray, alternative: str, zero_method: str = "wilcox"
) -> tuple[float, float]:
    """``scipy.stats.wilcoxon(d, alternative=alternative, zero_method=zero_method)``'s statistic
    and p-value. Up to 13 differences its exact tests (the permutation test with ties or zeros,
    the exact null distribution without) are computed at once over every sign flip (~100x
    faster than scipy's permutation test; the same numbers: without ties or zeros the sign
    flips give the exact distribution's counts). ``zero_method``: "wilcox" drops the zero
    differences; "zsplit" ranks them with the others and gives half of their ranks to each sign
    (the meta-evaluation's IAC)."""
    if zero_method not in ("wilcox", "zsplit"):
        raise ValueError(f"zero_method must be 'wilcox' or 'zsplit', got {zero_method!r}")
    nonzero = d[d != 0]
    if zero_method == "zsplit":
        everything = stats.rankdata(np.abs(d))
        ranks, half_zeros = everything[d != 0], float(everything[d == 0].sum()) / 2
    else:
        ranks, half_zeros = stats.rankdata(np.abs(nonzero)), 0.0
    if len(d) > EXACT_FLIPS:
        result = stats.wilcoxon(d, alternative=alternative, zero_method=zero_method)
        return float(result.statistic), float(result.pvalue)
    r_plus = float(ranks[nonzero > 0].sum()) + half_zeros
    r_minus = float(ranks.sum()) + 2 * half_zeros - r_plus
    # every sign pattern of the non-zero differences (a zero's flip changes nothing, and scipy
    # counts each pattern 2**zeros times: the same proportions)
    signs = (np.arange(2 ** len(nonzero))[:, None] >> np.arange(len(nonzero))) & 1
    null = signs @ ranks + half_zeros
    gamma = abs(r_plus) * 100 * np.finfo(float).eps  # scipy's tolerance for equal statistics
    less = np.mean(null <= r_plus + gamma)
    greater = np.mean(null >= r_plus - gamma)
    if alternative == "less":
        return r_plus, float(less)
    if alternative == "greater":
        return r_plus, float(greater)
    return min(r_plus, r_minus), float(min(1.0, 2 * min(less, greater)))


def _chain_letters(linked: np.ndarray) -> list[str]:
    """Group letters for methods in rank order; ``linked[i]``: method i ties with method i+1."""
    chain = np.cumsum(np.r_[True, ~linked[:-1]]) - 1
    sizes = np.bincount(chain)
    letters: dict[int, str] = {}
    for c in chain:
        if sizes[c] > 1 and c not in letters:
            i = len(letters)
            letters[c] = string.ascii_lowercase[i % 26] * (i // 26 + 1)
    return [letters.get(c, "") for c in chain]


def _p_top(s: np.ndarray, n_boot: int, rng: np.random.Generator) -> tuple[int | None, float]:
    """Top column of ``s`` (samples x methods, higher = better) and its bootstrap top share."""
    finite = np.isfinite(s)
    if not finite.any():
        return None, np.nan
    values = np.where(finite, s, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        top = int(np.nanargmax(values.sum(axis=0) / finite.sum(axis=0)))
        n = len(s)
        draws = rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot).astype(float)
        means = (draws @ values) / (draws @ finite)
    means = np.where(np.isnan(means), -np.inf, means)
    best = np.isfinite(means) & (means >= means.max(axis=1, keepdims=True) - roundoff(s))
    share = best[:, top] / np.maximum(best.sum(axis=1), 1)
    return top, float(share.mean())


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    if len(x) < 3 or np.all(x == x[0]) or np.all(y == y[0]):
        return np.nan
    return float(stats.spearmanr(x, y).statistic)
