"""The verdict: which explanation method to trust, per (dataset, model) and across the run.

The rule, applied to the per-sample scores of a run (``verdict(scores)``):

1. **Overall rank.** A method's rank on each metric (1 = best; ties within round-off share the
   best rank, ``leaderboard.ROUNDOFF``), averaged per category, then over the quality categories
   (``stats.aggregate_ranks``: every category weighs the same; ``cost`` is left out). Lower is
   better.
2. **Its interval.** The test samples are resampled with replacement ``n_boot`` times, jointly for
   all methods and metrics (a sample keeps its scores), and the overall rank recomputed each time:
   ``rank_ci_low``/``rank_ci_high`` are the 2.5 and 97.5 percentiles.
3. **Recommended.** The method with the best overall rank among those that are not controls
   (``Method.control``: ``random``, ``sobel``), and every other non-control method *tied* with
   it: the 95% bootstrap interval of the paired difference of their overall ranks contains 0.
4. **Beats a control.** On every faithfulness metric of the run, a paired two-sided Wilcoxon
   signed-rank test of the method against the control on the same samples (round-off
   differences count as zero), Holm-corrected over those metrics: the method beats the control
   when it is significantly better on at least one and significantly worse on none. Empty where
   the control or faithfulness metrics are missing.
5. **Caution** (``note``, for the recommended methods): the quality metrics on which it ranks in
   the bottom half ("low on deletion 7/10": 7th of 10), and whether the quality metrics disagree (their method rankings correlate with a mean
   Spearman rho below 0.3, the "disagreement problem" of Krishna et al. 2022).

Across the run (``dataset = model = "*"``): the overall rank is the mean over the (dataset,
model) pairs the method ran on, its interval from the same bootstrap replicates, recommended by
the same tie rule, and a method beats a control when it does in every pair where both ran.
"""

from __future__ import annotations

import contextlib
import textwrap
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from xaibench.results.leaderboard import _group_seed, roundoff, tolerant_ranks
from xaibench.results.stats import EXCLUDED_FROM_OVERALL, _wilcoxon, holm, metric_agreement_long

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
]
CONTROLS = {"beats_random": "random", "beats_sobel": "sobel"}  # the verdict.csv columns
ALL = "*"
DISAGREEMENT = 0.3  # mean Spearman rho of the quality metrics below which they disagree
ALPHA = 0.05


def verdict(scores: pd.DataFrame, *, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """One row per (dataset, model, method) and per method across the run (``dataset = model =
    "*"``), columns ``COLUMNS``, by the rule of this module's docstring.

    ``scores`` is the long per-sample table of a run or of ``xb.evaluate`` (``method, metric,
    category, higher_is_better, sample, score``, optional ``dataset, model, control``).
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
        pairs.append(rows.assign(dataset=dataset, model=model))
        replicates[(dataset, model)] = boot
    if not pairs:
        return pd.DataFrame(columns=COLUMNS)
    per_pair = pd.concat(pairs, ignore_index=True)
    return pd.concat([per_pair, _across(per_pair, replicates)], ignore_index=True)[COLUMNS]


@dataclass
class _Metric:
    """One metric of a (dataset, model): samples x methods scores and its point ranks."""

    name: str
    category: str
    higher_is_better: bool
    scores: np.ndarray
    ranks: np.ndarray  # the methods' ranks on the samples as they are (NaN: no score)


def _pair(g: pd.DataFrame, n_boot: int, rng: np.random.Generator):
    """The verdict rows of one (dataset, model) and its bootstrap replicates of the overall rank
    (a DataFrame n_boot x methods)."""
    rows, boot, metrics, methods = _ranked(g, n_boot, rng)
    index = {m: i for i, m in enumerate(methods)}
    faithfulness = [m for m in metrics if m.category == "faithfulness"]
    for column, name in CONTROLS.items():
        rows[column] = [_beats(faithfulness, index, method, name) for method in rows["method"]]
    rows["note"] = _notes(metrics, index, rows)
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
    metrics, by_category = [], {}
    for name, m in g.groupby("metric", sort=True):
        matrix = m.pivot(index="sample", columns="method", values="score")
        matrix = matrix.reindex(index=samples, columns=methods).to_numpy(float)
        finite = np.isfinite(matrix)
        with _quiet():
            means = (weights @ np.where(finite, matrix, 0.0)) / (weights @ finite)
        higher = bool(m["higher_is_better"].iloc[0])
        ranks = tolerant_ranks(means, higher, roundoff(matrix))
        by_category.setdefault(m["category"].iloc[0], []).append(ranks)
        metrics.append(_Metric(name, m["category"].iloc[0], higher, matrix, ranks[0]))
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
    return rows, boot, metrics, methods


def _percentile(boot: np.ndarray, q: float) -> np.ndarray:
    with _quiet():
        return np.nanpercentile(boot, q, axis=0) if len(boot) else np.full(boot.shape[1], np.nan)


def _recommended(rows: pd.DataFrame, boot: pd.DataFrame) -> list[bool]:
    """The best non-control method by overall rank, and the non-controls tied with it (the 95%
    bootstrap interval of the paired difference of overall ranks contains 0)."""
    candidates = rows[~rows["control"]]
    if candidates.empty:
        return [False] * len(rows)
    best = candidates.sort_values(["overall_rank", "method"])["method"].iloc[0]
    out = []
    for method, is_control in zip(rows["method"], rows["control"], strict=True):
        if is_control:
            out.append(False)
        elif method == best:
            out.append(True)
        else:
            diff = (boot[method] - boot[best]).dropna().to_numpy()
            out.append(bool(len(diff)) and _percentile(diff[:, None], 2.5)[0] <= 0)
    return out


def _beats(faithfulness: list[_Metric], index: dict, method: str, control: str):
    """True / False whether ``method`` beats ``control`` on the faithfulness metrics (module
    docstring, rule 4); None for the control itself and where the control, faithfulness metrics
    or paired scores are missing."""
    if method == control or control not in index:
        return None
    tests = []
    for m in faithfulness:
        sign = 1.0 if m.higher_is_better else -1.0
        a, b = sign * m.scores[:, index[method]], sign * m.scores[:, index[control]]
        d = a - b
        if not np.isfinite(d).any():
            continue
        result = _wilcoxon(a, b, roundoff(m.scores))
        tests.append((result["p_value"], float(np.nanmedian(d))))
    if not tests:
        return None
    p = holm([t[0] for t in tests])
    better = any(pi < ALPHA and t[1] > 0 for pi, t in zip(p, tests, strict=True))
    worse = any(pi < ALPHA and t[1] < 0 for pi, t in zip(p, tests, strict=True))
    return bool(better and not worse)


def _notes(metrics: list[_Metric], index: dict, rows: pd.DataFrame, most: int = 3) -> list[str]:
    """Cautions for the recommended methods: the quality metrics on which they rank in the bottom
    half (the ``most`` lowest), and whether the metrics disagree."""
    board = pd.DataFrame(
        [
            {"metric": m.name, "method": method, "higher_is_better": True, "mean": -m.ranks[i]}
            for m in metrics
            for method, i in index.items()
        ]
    )
    rho = metric_agreement_long(board)["rho"].dropna()
    disagree = len(rho) and rho.mean() < DISAGREEMENT
    notes = []
    for method, recommended in zip(rows["method"], rows["recommended"], strict=True):
        parts = []
        if recommended:
            i = index[method]
            low = []
            for m in metrics:
                worst = np.nanmax(m.ranks) if np.isfinite(m.ranks).any() else np.nan
                if np.isfinite(m.ranks[i]) and m.ranks[i] > (worst + 1) / 2:
                    low.append((m.ranks[i] / worst, f"{m.name} {int(m.ranks[i])}/{int(worst)}"))
            low = [text for _, text in sorted(low, reverse=True)]
            if low:
                more = f" +{len(low) - most} more" if len(low) > most else ""
                parts.append("low on " + ", ".join(low[:most]) + more)
            if disagree:
                parts.append(f"metrics disagree (mean Spearman rho {rho.mean():.2f})")
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
        known = {
            m: [v for v in values if v is not None and not pd.isna(v)] for m, values in g[column]
        }
        rows[column] = [all(known[m]) if known.get(m) else None for m in methods]
    notes = []
    for method in methods:
        ran = int((per_pair["method"] == method).sum())
        notes.append(f"ran on {ran} of {n_pairs} (dataset, model) pairs" if ran < n_pairs else "")
    rows["note"] = notes
    return rows.assign(dataset=ALL, model=ALL)


@contextlib.contextmanager
def _quiet():
    """No warnings for means of all-NaN slices (a method without scores): they are NaN."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def read(path) -> pd.DataFrame:
    """A ``verdict.csv`` as ``verdict()`` returns it (booleans, empty notes as "")."""
    v = pd.read_csv(path, keep_default_na=False, na_values={"overall_rank": [""]})
    for column in ("recommended", "control"):
        v[column] = v[column].astype(str).str.lower().eq("true")
    for column in CONTROLS:
        v[column] = v[column].map({"True": True, "False": False, True: True, False: False})
    v["note"] = v["note"].fillna("").astype(str)
    for column in ("dataset", "model", "method"):
        v[column] = v[column].astype(str)
    return v


def _yes_no(value) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "–"
    return "yes" if bool(value) else "no"


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def summary(v: pd.DataFrame) -> pd.DataFrame:
    """The verdict for a reader: one row per (dataset, model), the run's first: ``where``, the
    ``recommended`` method(s) (the best first; "(tied)" when several), the best one's ``overall
    rank [95% CI]``, whether they beat the controls ("yes"/"no"; for tied methods "all", "none"
    or "k of n"; "–" without the control), where the ``controls`` stand (e.g. "random 11th,
    sobel 10th of 11") and the best one's ``caution``; with a meta-evaluation or sweeps, the
    metrics that decided the best one with their MC (``decided by``, ``results/trust.py``)."""
    columns = [
        "where",
        "recommended",
        "overall rank [95% CI]",
        "beats random",
        "beats sobel",
        "controls",
        "caution",
    ]
    rows = []
    groups = list(v.groupby(["dataset", "model"], sort=True))
    groups.sort(key=lambda item: item[0] != (ALL, ALL))  # the run first
    for (dataset, model), g in groups:
        where = "across the run" if dataset == ALL else f"{dataset} / {model}"
        placed = [f"{c.method} {_ordinal(int(c.position))}" for c in g[g["control"]].itertuples()]
        controls = f"{', '.join(placed)} of {len(g)}" if placed else ""
        best = g[g["recommended"]].sort_values(["overall_rank", "method"])
        if best.empty:
            rows.append([where, "(none: only controls ranked)", "", "–", "–", controls, ""])
            continue
        top = best.iloc[0]
        rows.append(
            [
                where,
                ", ".join(best["method"]) + (" (tied)" if len(best) > 1 else ""),
                f"{top.overall_rank:.2f} [{top.rank_ci_low:.2f}, {top.rank_ci_high:.2f}]",
                _share([_yes_no(b) for b in best["beats_random"]]),
                _share([_yes_no(b) for b in best["beats_sobel"]]),
                controls,
                top.note,
                _first(getattr(top, "decided_by", ""), 4),
            ]
        )
    columns.append("decided by")
    table = pd.DataFrame([r + [""] * (len(columns) - len(r)) for r in rows], columns=columns)
    return table if "decided_by" in v else table.drop(columns="decided by")


RULE = (
    "Overall rank: a method's rank on each metric (1 = best, round-off ties share a rank), "
    "averaged per category, then over the quality categories (cost left out); 95% bootstrap "
    "interval over the test samples. Recommended: the best non-control method and those whose "
    "paired bootstrap difference with it includes 0. Beats a control: significantly better on "
    "at least one faithfulness metric and worse on none (paired Wilcoxon, Holm-corrected)."
)


def text(v: pd.DataFrame, width: int = 100) -> str:
    """The verdict as plain text for the terminal (the end of ``xaibench run``): per (dataset,
    model), the run first, the recommended methods with the best one's overall rank, whether
    they beat the controls and where the controls stand, and the caution."""
    table = summary(v)
    if table.empty:
        return "Verdict: no scores to rank."
    pad = max(len(w) for w in table["where"]) + 4
    lines = [_clip("Verdict (overall rank: 1 = best, 95% bootstrap interval; verdict.csv):", width)]
    for r in table.itertuples(index=False):
        lines += textwrap.wrap(
            f"{r[2]}  {r.recommended}".strip(),
            width,
            initial_indent=f"  {r.where}".ljust(pad),
            subsequent_indent=" " * pad,
        )
        beats = [f"{c}: {b}" for c, b in (("random", r[3]), ("sobel", r[4])) if b != "–"]
        facts = ["beats " + ", ".join(beats)] if beats else []
        if r.controls:
            facts.append(f"controls: {r.controls}")
        if facts:
            lines.append(_clip(" " * pad + " · ".join(facts), width))
        if r.caution:
            lines.append(_clip(" " * pad + r.caution, width))
    return "\n".join(lines)


def _first(listed: str, most: int) -> str:
    """The first ``most`` items of a ", "-separated list, "+k more" for the rest."""
    items = [item for item in listed.split(", ") if item]
    more = f" +{len(items) - most} more" if len(items) > most else ""
    return ", ".join(items[:most]) + more


def _share(answers: list[str]) -> str:
    """'yes' / 'no' for one method; for tied methods 'all', 'none' or 'k of n'."""
    known = [a for a in answers if a != "–"]
    if len(answers) == 1 or not known:
        return answers[0]
    yes = sum(a == "yes" for a in known)
    return "all" if yes == len(known) else "none" if yes == 0 else f"{yes} of {len(known)}"


def _clip(line: str, width: int) -> str:
    return line if len(line) <= width else line[: width - 1] + "…"
