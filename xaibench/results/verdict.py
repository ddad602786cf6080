"""The verdict: which explanation method to trust, per (dataset, model) and across the run.

The rule, applied to the per-sample scores of a run (``verdict(scores)``):

1. **Overall rank.** A method's rank on each metric (1 = best; ties within round-off share the
   best rank, ``leaderboard.ROUNDOFF``), averaged per category, then over the quality categories
   (``stats.aggregate_ranks``: every category weighs the same; ``cost`` and ``model_property``
   are left out: ``_categories.UNRANKED``). Lower is better. A metric on which every method of
   the (dataset, model) scores the same within round-off cannot tell them apart: it is left
   out (``not_ranked``, ``leaderboard.discriminates``). A method that ran on a metric but has
   no finite score there (every map constant: NaN by rule) ranks last on it.
2. **Its interval.** The test samples are resampled with replacement ``n_boot`` times, jointly for
   all methods and metrics (a sample keeps its scores), and the overall rank recomputed each time:
   ``rank_ci_low``/``rank_ci_high`` are the 2.5 and 97.5 percentiles.
3. **Recommended.** The method with the best overall rank among those that are not controls
   (``Method.control``: ``random``, ``sobel``), and every other non-control method *tied* with
   it: the 95% bootstrap interval of the paired difference of their overall ranks contains 0.
4. **Beats a control.** On every faithfulness metric of the run, a paired two-sided Wilcoxon
   signed-rank test of the method against the control on the same samples (round-off
   differences count as zero), Holm-corrected over those metrics: the method beats the control
   when it is significantly better on at least one, significantly worse on none, and has
   scores on every one where the control has (constant maps score NaN). Empty where
   the control or faithfulness metrics are missing. ``beats_<control>_why`` says on which
   metrics it was better or worse, with both means.
5. **Ties** (``separated_by``, ``samples_needed``, for a recommended method tied with the best
   one): the quality metric whose paired per-sample differences between the two have the
   largest standardised effect, and about how many samples a Wilcoxon test at ``ALPHA`` needs
   to find that difference with 80% power (``stats.samples_needed``); ``inf`` when the two score
   the same on every metric.
6. **Caution** (``note``, for the recommended methods): the quality metrics on which it ranks in
   the bottom half ("ranks in the bottom half on deletion (7th of 10 methods)"), and whether the
   quality metrics disagree (their method rankings correlate with a mean Spearman rho below
   0.3, the "disagreement problem" of Krishna et al. 2022). ``model_caution``: the model's test
   accuracy is near chance (``near_chance``), so its explanations say little.

Across the run (``dataset = model = "*"``): the overall rank is the mean over the (dataset,
model) pairs the method ran on, its interval from the same bootstrap replicates, recommended by
the same tie rule, and a method beats a control when it does in every pair where both ran.
"""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from xaibench.results.leaderboard import _group_seed, discriminates, roundoff, tolerant_ranks
from xaibench.results.stats import (
    EXCLUDED_FROM_OVERALL,
    _wilcoxon,
    holm,
    metric_agreement_long,
    samples_needed,
)
from xaibench.results.tables import csv_name

COLUMNS = [
    "dataset",
    "model",
    "method",
    "overall_rank",
    "rank_ci_low",
    "rank_ci_high",
    "position",
    "recommended",
    "beats_random",
    "beats_sobel",
    "control",
    "note",
    "n",
    "beats_random_why",
    "beats_sobel_why",
    "separated_by",
    "samples_needed",
    "not_ranked",
    "model_caution",
]
TEXTS = ["dataset", "model", "method", "note", "beats_random_why", "beats_sobel_why"]
TEXTS += ["separated_by", "not_ranked", "model_caution"]
CONTROLS = {"beats_random": "random", "beats_sobel": "sobel"}  # the verdict.csv columns
ALL = "*"
DISAGREEMENT = 0.3  # mean Spearman rho of the quality metrics below which they disagree
ALPHA = 0.05
#: A model is near chance when its test accuracy covers less than this share of the way from
#: chance (1 / classes) to perfect: below 0.44 with 4 classes, 0.625 with 2, 0.325 with 10.
NEAR_CHANCE = 0.25


def verdict(
    scores: pd.DataFrame, models: pd.DataFrame | None = None, *, n_boot: int = 1000, seed: int = 0
) -> pd.DataFrame:
    """One row per (dataset, model, method) and per method across the run (``dataset = model =
    "*"``), columns ``COLUMNS``, by the rule of this module's docstring.

    ``scores`` is the long per-sample table of a run or of ``xb.evaluate`` (``method, metric,
    category, higher_is_better, sample, score``, optional ``dataset, model, control``);
    ``models`` (optional: ``dataset, model, accuracy, classes``) adds the near-chance caution.
    """
    needed = {"method", "metric", "category", "higher_is_better", "sample", "score"}
    missing = needed - set(scores.columns)
    if missing:
        raise ValueError(f"verdict needs columns {sorted(needed)}; missing {sorted(missing)}")
    scores = scores.assign(
        dataset=scores["dataset"] if "dataset" in scores else "",
        model=scores["model"] if "model" in scores else "",
        control=scores["control"].astype(bool) if "control" in scores else False,
    )
    quality = scores[~scores["category"].isin(EXCLUDED_FROM_OVERALL)]
    pairs, replicates = [], {}
    for (dataset, model), g in quality.groupby(["dataset", "model"], sort=True):
        rng = np.random.default_rng(_group_seed(seed, (dataset, model)))
        rows, boot = _pair(g, n_boot, rng)
        if rows.empty:
            continue
        caution = near_chance(models, dataset, model)
        pairs.append(rows.assign(dataset=dataset, model=model, model_caution=caution))
        replicates[(dataset, model)] = boot
    if not pairs:
        return pd.DataFrame(columns=COLUMNS)
    per_pair = pd.concat(pairs, ignore_index=True)
    return pd.concat([per_pair, _across(per_pair, replicates)], ignore_index=True)[COLUMNS]


def near_chance(models: pd.DataFrame | None, dataset, model) -> str:
    """The caution for a (dataset, model) whose test accuracy is near chance (``NEAR_CHANCE``;
    chance = 1 / classes), or "" (also without the accuracy or the number of classes)."""
    if models is None or not {"accuracy", "classes"} <= set(models.columns):
        return ""
    row = models[(models["dataset"] == dataset) & (models["model"] == model)]
    if row.empty:
        return ""
    accuracy, classes = pd.to_numeric(row.iloc[0][["accuracy", "classes"]], errors="coerce")
    if not (np.isfinite(accuracy) and np.isfinite(classes) and classes >= 2):
        return ""
    chance = 1.0 / classes
    if accuracy >= chance + NEAR_CHANCE * (1.0 - chance):
        return ""
    return (
        f"The model is near chance (test accuracy {accuracy:.3f}; chance {chance:.3g} with "
        f"{int(classes)} classes): it has learned little, so its explanations say little"
    )


@dataclass
class _Metric:
    """One metric of a (dataset, model): samples x methods scores and its point ranks."""

    name: str
    category: str
    higher_is_better: bool
    scores: np.ndarray
    ranks: np.ndarray  # the methods' ranks on the samples as they are (NaN: no score)

    @property
    def ranked(self) -> bool:
        """Whether the metric tells the methods apart (else it is left out of the ranks)."""
        return discriminates(self.ranks)

    def oriented(self, i: int) -> np.ndarray:
        """Method ``i``'s scores, negated where lower is better (higher = better)."""
        return self.scores[:, i] if self.higher_is_better else -self.scores[:, i]

    def label(self) -> str:
        return f"{self.name} {'↑' if self.higher_is_better else '↓'}"


def _pair(g: pd.DataFrame, n_boot: int, rng: np.random.Generator):
    """The verdict rows of one (dataset, model) and its bootstrap replicates of the overall rank
    (a DataFrame n_boot x methods)."""
    rows, boot, metrics, methods = _ranked(g, n_boot, rng)
    index = {m: i for i, m in enumerate(methods)}
    faithfulness = [m for m in metrics if m.category == "faithfulness"]
    for column, name in CONTROLS.items():
        versus = [_versus(faithfulness, index, method, name) for method in rows["method"]]
        rows[column] = [beats for beats, _ in versus]
        rows[f"{column}_why"] = [why for _, why in versus]
    ranked = [m for m in metrics if m.ranked]
    rows["separated_by"], rows["samples_needed"] = _ties(rows, ranked, index)
    rows["not_ranked"] = ", ".join(m.name for m in metrics if not m.ranked)
    rows["note"] = _notes(ranked, index, rows)
    return rows, boot


def recommended(scores: pd.DataFrame, *, n_boot: int = 1000, seed: int = 0) -> list[str]:
    """The methods ``verdict`` recommends on the scores of one (dataset, model), the best
    first (rules 1-3 alone: for what-if questions, such as a sweep variant of a metric in place
    of the metric, ``results/sweep.py``)."""
    scores = scores[~scores["category"].isin(EXCLUDED_FROM_OVERALL)]
    if scores.empty:
        return []
    key = tuple(scores[c].iloc[0] if c in scores else "" for c in ("dataset", "model"))
    control = scores["control"].astype(bool) if "control" in scores else False
    rng = np.random.default_rng(_group_seed(seed, key))
    rows = _ranked(scores.assign(control=control), n_boot, rng)[0]
    chosen = rows[rows["recommended"]].sort_values(["overall_rank", "method"])
    return chosen["method"].tolist()


def _ranked(g: pd.DataFrame, n_boot: int, rng: np.random.Generator):
    """Rules 1-3 on one (dataset, model): ``(rows, boot, metrics, methods)``, the rows with
    their overall rank, interval, position and ``recommended``."""
    methods = sorted(g["method"].unique())
    samples = np.sort(g["sample"].unique())
    control = g.groupby("method")["control"].first().reindex(methods).fillna(False).astype(bool)
    draws = rng.multinomial(len(samples), np.full(len(samples), 1 / len(samples)), size=n_boot)
    weights = np.vstack([np.ones(len(samples)), draws])  # row 0: the samples as they are
    metrics, by_category, everything = [], {}, {}
    for name, m in g.groupby("metric", sort=True):
        matrix = m.pivot(index="sample", columns="method", values="score")
        matrix = matrix.reindex(index=samples, columns=methods).to_numpy(float)
        finite = np.isfinite(matrix)
        with _quiet():
            means = (weights @ np.where(finite, matrix, 0.0)) / (weights @ finite)
        higher = bool(m["higher_is_better"].iloc[0])
        ranks = _last_if_unscored(tolerant_ranks(means, higher, roundoff(matrix)), m, methods)
        metric = _Metric(name, m["category"].iloc[0], higher, matrix, ranks[0])
        metrics.append(metric)
        everything.setdefault(metric.category, []).append(ranks)
        if metric.ranked:
            by_category.setdefault(metric.category, []).append(ranks)
    by_category = by_category or everything  # no metric orders anything: all share a rank
    with _quiet():
        category_ranks = [np.nanmean(np.stack(r), axis=0) for r in by_category.values()]
        overall = np.nanmean(np.stack(category_ranks), axis=0)  # (1 + n_boot, methods)
    point, boot = overall[0], overall[1:]
    rows = pd.DataFrame({"method": methods, "overall_rank": point, "control": control.to_numpy()})
    rows["rank_ci_low"] = _percentile(boot, 2.5)
    rows["rank_ci_high"] = _percentile(boot, 97.5)
    keep = np.isfinite(point)
    rows = rows[keep].reset_index(drop=True)
    boot = pd.DataFrame(boot[:, keep], columns=rows["method"])
    rows["position"] = tolerant_ranks(rows["overall_rank"], False, 0.0).astype(int)
    rows["recommended"] = _recommended(rows, boot)
    rows["n"] = len(samples)
    return rows, boot, metrics, methods


def _last_if_unscored(ranks: np.ndarray, m: pd.DataFrame, methods: list[str]) -> np.ndarray:
    """``ranks`` (replicates x methods) with the methods that ran on the metric but have no
    finite score (their maps said nothing: constant maps score NaN) ranked last, behind every
    scored method, instead of being left out of its average (a method whose every map is
    constant would otherwise be ranked by the few metrics that score constant maps)."""
    ran = np.isin(methods, m["method"].unique())
    unscored = np.isnan(ranks) & ran
    if not unscored.any():
        return ranks
    last = np.isfinite(ranks).sum(axis=1, keepdims=True) + 1.0
    return np.where(unscored, last, ranks)


def _percentile(boot: np.ndarray, q: float) -> np.ndarray:
    with _quiet():
        return np.nanpercentile(boot, q, axis=0) if len(boot) else np.full(boot.shape[1], np.nan)


def _best(rows: pd.DataFrame) -> str | None:
    """The best non-control method by overall rank (ties by name)."""
    candidates = rows[~rows["control"]]
    if candidates.empty:
        return None
    return candidates.sort_values(["overall_rank", "method"])["method"].iloc[0]


def _recommended(rows: pd.DataFrame, boot: pd.DataFrame) -> list[bool]:
    """The best non-control method by overall rank, and the non-controls tied with it (the 95%
    bootstrap interval of the paired difference of overall ranks contains 0)."""
    best = _best(rows)
    out = []
    for method, is_control in zip(rows["method"], rows["control"], strict=True):
        if is_control or best is None:
            out.append(False)
        elif method == best:
            out.append(True)
        else:
            diff = (boot[method] - boot[best]).dropna().to_numpy()
            out.append(bool(len(diff)) and _percentile(diff[:, None], 2.5)[0] <= 0)
    return out


def _versus(faithfulness: list[_Metric], index: dict, method: str, control: str):
    """Whether ``method`` beats ``control`` on the faithfulness metrics (module docstring, rule
    4), and why: the metrics where it is significantly better or worse, with both means, and
    those without a significant difference. (None, "") for the control itself and where the
    control, faithfulness metrics or paired scores are missing."""
    if method == control or control not in index:
        return None, ""
    i, j = index[method], index[control]
    tests, unscored = [], []
    for m in faithfulness:
        a, b = m.oriented(i), m.oriented(j)
        if not np.isfinite(a).any() and np.isfinite(b).any():
            unscored.append(m.label())  # no score where the control has: it cannot beat it
            continue
        if not np.isfinite(a - b).any():
            continue
        p = _wilcoxon(a, b, roundoff(m.scores))["p_value"]
        tests.append((m, p, float(np.nanmedian(a - b))))
    if not tests and not unscored:
        return None, ""
    found: dict[str, list[str]] = {"worse": [], "better": [], "same": [], "unscored": unscored}
    for (m, _, median), p in zip(tests, holm([t[1] for t in tests]), strict=True):
        side = "same" if p >= ALPHA or median == 0 else "better" if median > 0 else "worse"
        means = f" ({_digits(_mean(m.scores[:, i]))} vs {_digits(_mean(m.scores[:, j]))})"
        found[side].append(m.label() + ("" if side == "same" else means))
    words = {
        "worse": "worse on ",
        "better": "better on ",
        "same": "no significant difference on ",
        "unscored": "no score (constant maps) on ",
    }
    why = "; ".join(words[k] + ", ".join(v) for k, v in found.items() if v)
    return bool(found["better"] and not found["worse"] and not unscored), why


def _digits(x: float) -> str:
    """``x`` with 3 significant digits, trailing zeros kept: 0.270, 60.0, 101."""
    return f"{x:#.3g}".rstrip(".")


def _mean(values: np.ndarray) -> float:
    with _quiet():
        return float(np.nanmean(values))


def _ties(rows: pd.DataFrame, ranked: list[_Metric], index: dict) -> tuple[list, list]:
    """Per row: for a recommended method tied with the best one, the ranked metric that
    separates the two best (the fewest samples needed) and that number (module docstring,
    rule 5); "" and NaN for the others."""
    best = _best(rows)
    metric, needed = [], []
    for method, recommended in zip(rows["method"], rows["recommended"], strict=True):
        if not recommended or method == best:
            metric.append("")
            needed.append(np.nan)
            continue
        i, j = index[method], index[best]
        found = [
            (samples_needed(m.oriented(i) - m.oriented(j), alpha=ALPHA, tol=roundoff(m.scores)), m)
            for m in ranked
        ]
        found = [(n, m.name) for n, m in found if not np.isnan(n)]
        n, name = min(found, default=(np.nan, ""))
        metric.append(name if np.isfinite(n) else "")
        needed.append(n)
    return metric, needed


def _notes(ranked: list[_Metric], index: dict, rows: pd.DataFrame, most: int = 3) -> list[str]:
    """Cautions for the recommended methods: the ranked quality metrics on which they rank in
    the bottom half (the ``most`` lowest), and whether the metrics disagree."""
    board = pd.DataFrame(
        [
            {"metric": m.name, "method": method, "higher_is_better": True, "mean": -m.ranks[i]}
            for m in ranked
            for method, i in index.items()
        ],
        columns=["metric", "method", "higher_is_better", "mean"],
    )
    rho = metric_agreement_long(board)["rho"].dropna()
    disagree = len(rho) and rho.mean() < DISAGREEMENT
    notes = []
    for method, recommended in zip(rows["method"], rows["recommended"], strict=True):
        parts = []
        if recommended:
            low = []
            for m in ranked:
                rank, n = m.ranks[index[method]], int(np.isfinite(m.ranks).sum())
                if np.isfinite(rank) and rank > (n + 1) / 2:
                    low.append((rank / n, f"{m.name} ({_ordinal(int(rank))} of {n} methods)"))
            low = [text for _, text in sorted(low, reverse=True)]
            if low:
                more = f" and {len(low) - most} more" if len(low) > most else ""
                parts.append("ranks in the bottom half on " + ", ".join(low[:most]) + more)
            if disagree:
                parts.append(
                    "the metrics disagree on the order of the methods (mean Spearman rho "
                    f"{rho.mean():.2f} between their rankings)"
                )
        notes.append("; ".join(parts))
    return notes


def _across(per_pair: pd.DataFrame, replicates: dict) -> pd.DataFrame:
    """The run-wide rows: mean overall rank over the pairs a method ran on (module docstring)."""
    methods = sorted(per_pair["method"].unique())
    n_pairs = len(replicates)
    stacked = []
    for boot in replicates.values():
        stacked.append(boot.reindex(columns=methods).to_numpy(float))
    with _quiet():
        boot = pd.DataFrame(np.nanmean(np.stack(stacked), axis=0), columns=methods)
    g = per_pair.groupby("method")
    rows = pd.DataFrame(
        {
            "method": methods,
            "overall_rank": g["overall_rank"].mean().reindex(methods).to_numpy(),
            "control": g["control"].first().reindex(methods).astype(bool).to_numpy(),
        }
    )
    rows["rank_ci_low"] = _percentile(boot.to_numpy(), 2.5)
    rows["rank_ci_high"] = _percentile(boot.to_numpy(), 97.5)
    rows["position"] = tolerant_ranks(rows["overall_rank"], False, 0.0).astype(int)
    rows["recommended"] = _recommended(rows, boot)
    for column in CONTROLS:
        answers = [_across_control(m, per_pair[per_pair["method"] == m], column) for m in methods]
        rows[column] = [beats for beats, _ in answers]
        rows[f"{column}_why"] = [why for _, why in answers]
    notes = []
    for method in methods:
        ran = int((per_pair["method"] == method).sum())
        notes.append(f"ran on {ran} of {n_pairs} (dataset, model) pairs" if ran < n_pairs else "")
    rows["note"] = notes
    near = per_pair.drop_duplicates(["dataset", "model"])
    near = _pairs(near[near["model_caution"] != ""])
    rows["model_caution"] = (
        f"Models near chance, their explanations say little: {near}" if near else ""
    )
    return rows.assign(dataset=ALL, model=ALL, n=np.nan, not_ranked="", separated_by="")


def _across_control(method: str, rows: pd.DataFrame, column: str, most: int = 2):
    """Whether ``method`` beats the control of ``column`` in every pair where both ran, and
    the pairs where it does not (why, for the first ``most`` of them)."""
    known = rows[rows[column].map(lambda b: b is not None and not pd.isna(b))]
    if known.empty:
        return None, ""
    losing = known[~known[column].astype(bool)]
    if losing.empty:
        return True, f"in all {len(known)} (dataset, model) pairs where both ran"
    why = "; ".join(
        f"in {d} / {m}: {text}"
        for d, m, text in zip(losing.dataset, losing.model, losing[f"{column}_why"], strict=True)
    )
    if len(losing) > most:
        why = f"not in {_pairs(losing)}"
    return False, f"{why} ({len(losing)} of {len(known)} pairs where both ran)"


def _pairs(rows: pd.DataFrame) -> str:
    """The (dataset, model) pairs of ``rows`` as "d / m, d2 / m2"."""
    return ", ".join(f"{d} / {m}" for d, m in zip(rows["dataset"], rows["model"], strict=True))


@contextlib.contextmanager
def _quiet():
    """No warnings for means of all-NaN slices (a method without scores): they are NaN."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def read(path) -> pd.DataFrame:
    """A ``verdict.csv`` as ``verdict()`` returns it (booleans, empty texts as "", names as
    written: ``tables.csv_name``)."""
    numbers = ["overall_rank", "rank_ci_low", "rank_ci_high", "n", "samples_needed"]
    v = pd.read_csv(path, keep_default_na=False, na_values={c: [""] for c in numbers})
    for column in ("dataset", "model", "method"):  # as written, not as a spreadsheet's
        v[column] = v[column].map(csv_name)
    for column in ("recommended", "control"):
        v[column] = v[column].astype(str).str.lower().eq("true")
    for column in CONTROLS:
        v[column] = v[column].map({"True": True, "False": False, True: True, False: False})
    for column in TEXTS:
        v[column] = v[column].astype(str) if column in v else ""
    return v


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"
