"""Which metrics can be trusted: the statistics of the meta-evaluation (Hedström, Bommer,
Wickstrøm, Samek, Lapuschkin & Höhne 2023, "The Meta-Evaluation Problem in Explainable AI:
Identifying Reliable Estimators with MetaQuantus", TMLR), from the scores of a run's
meta-evaluation cells (``xaibench.benchmark.meta``: ``meta:reference`` holds each method's scores
q on the perturbed samples, ``meta:<test>:<nr|ar>:<l>:<k>`` the scores q' under perturbation
(l, k), NaN on the samples the test does not keep).

Per (dataset, model, metric, test), every function pure and deterministic:

- **IAC_NR** (intra-consistency, noise resilience): the mean, over the methods and the NR
  perturbations, of the p-value of a two-sided Wilcoxon signed-rank test of q against q' on the
  kept samples (zero differences split between the signs, ``zero_method="zsplit"``; differences
  within round-off, ``leaderboard.ROUNDOFF`` of the metric's scale, are zeros; a method with
  fewer than two such samples has nothing to test and is left out). 1 = the scores do not move
  when the prediction does not.
- **IAC_AR** (adversary reactivity): the mean of 1 - p over the AR perturbations. 1 = they move
  when it changes. With n kept samples a two-sided p is at least 2^(1-n) (no ties): 0.0078 for
  n = 8, so IAC_AR is at most ~0.99 on the built-in suites' 8-sample budget.
- **IEC_NR** (inter-consistency): the share of (sample, rank position) where the method at that
  position of the ranking of the methods by the metric is the same before and after an NR
  perturbation (methods within round-off tied, ties in the order of the methods' names); on
  each sample the methods ranked are those it has both scores of (two or more). Chance is
  about 1 / (number of methods).
- **IEC_AR**: the share of (method, sample) whose perturbed score is worse than the
  unperturbed one in the metric's own direction (lower for higher-is-better metrics, higher
  for lower-is-better ones; by more than round-off), as the paper defines it (MetaQuantus's code
  tests ``if score_direction:``, true for either direction, which counts "lower" for both).
- **MC** (meta-consistency) = the mean of the four, in [0, 1]; each criterion is computed per
  iteration l (averaged over its perturbations k) and averaged over the iterations; ``mc_std``
  is the standard deviation (ddof 0) of the per-iteration MC (NaN with fewer than two
  iterations). MC is NaN when a criterion is (e.g. no AR perturbation changed any prediction).
- ``n_nr``, ``n_ar``: the samples kept per NR / AR perturbation, on average.
- ``test = "both"``: the mean of the "model" and "input" rows (criteria, MC, n), its
  ``mc_std`` over the iterations of the two tests' mean MC.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from xaibench.results.leaderboard import roundoff, tolerant_ranks
from xaibench.results.stats import MIN_PAIRS, signed_rank_test

COLUMNS = [
    "dataset",
    "model",
    "metric",
    "test",
    "iac_nr",
    "iac_ar",
    "iec_nr",
    "iec_ar",
    "mc",
    "mc_std",
    "n_nr",
    "n_ar",
]
CRITERIA = ("iac_nr", "iac_ar", "iec_nr", "iec_ar")
REFERENCE = "meta:reference"
TESTS = ("model", "input")
BOTH = "both"


# One perturbation ---------------------------------------------------------------------------


def iac_pvalues(q: np.ndarray, perturbed: np.ndarray, tol: float = 0.0) -> np.ndarray:
    """Per method (column of the samples x methods ``q`` and ``perturbed``): the two-sided
    Wilcoxon signed-rank p-value of q - q' (zsplit) on the samples where both are finite,
    differences within ``tol`` counted as zero; NaN for a method with fewer than ``MIN_PAIRS``
    such samples (nothing to test)."""
    out = np.full(q.shape[1], np.nan)
    for j in range(q.shape[1]):
        both = np.isfinite(q[:, j]) & np.isfinite(perturbed[:, j])
        d = q[both, j] - perturbed[both, j]
        if len(d) >= MIN_PAIRS:
            d[np.abs(d) <= tol] = 0.0
            out[j] = signed_rank_test(d, "two-sided", "zsplit")[1]
    return out


def iec_nr(q: np.ndarray, perturbed: np.ndarray, higher_is_better: bool, tol: float = 0.0) -> float:
    """The share of (sample, rank position) holding the same method in the ranking of the
    methods (columns) by ``q`` and by ``perturbed``. On each sample (row) the methods ranked are
    those with both scores finite (a method that scores NaN there, e.g. for constant
    attributions, is left out of both rankings), and only samples with two or more of them
    count; NaN without such a sample."""
    both = np.isfinite(q) & np.isfinite(perturbed)
    counts = both.sum(axis=1)
    rows = counts >= 2
    if not rows.any():
        return np.nan

    def order(values: np.ndarray) -> np.ndarray:
        ranks = tolerant_ranks(np.where(both[rows], values[rows], np.nan), higher_is_better, tol)
        return np.argsort(np.where(np.isnan(ranks), np.inf, ranks), axis=1, kind="stable")

    ranked = np.arange(q.shape[1])[None, :] < counts[rows][:, None]  # the finite positions
    same = (order(q) == order(perturbed)) & ranked
    return float(same.sum() / ranked.sum())


def iec_ar(q: np.ndarray, perturbed: np.ndarray, higher_is_better: bool, tol: float = 0.0) -> float:
    """The share of (sample, method) with both scores finite where the perturbed score is worse
    by more than ``tol`` in the metric's direction; NaN without such a pair."""
    both = np.isfinite(q) & np.isfinite(perturbed)
    if not both.any():
        return np.nan
    worse = perturbed < q - tol if higher_is_better else perturbed > q + tol
    return float(np.mean(worse[both]))


def kept(perturbed: np.ndarray) -> int:
    """The samples a perturbation kept: those with a perturbed score for some method."""
    return int(np.isfinite(perturbed).any(axis=1).sum())


# Per metric ---------------------------------------------------------------------------------


def parse(variants: pd.Series) -> pd.DataFrame:
    """``meta:<test>:<strength>:<l>:<k>`` as columns test, strength, l, k (ints)."""
    parts = variants.str.split(":", expand=True)
    return pd.DataFrame(
        {
            "test": parts[1],
            "strength": parts[2],
            "l": parts[3].astype(int),
            "k": parts[4].astype(int),
        },
        index=variants.index,
    )


def _iterations(reference: pd.DataFrame, perturbed: pd.DataFrame, higher: bool, tol: float):
    """Per (strength, l): the criterion's per-perturbation values and the kept counts, for one
    test of one metric; ``reference`` is samples x methods."""
    out: dict = {}
    q = reference.to_numpy(float)
    for (strength, it, _), g in perturbed.groupby(["strength", "l", "k"], sort=True):
        matrix = g.pivot(index="sample", columns="method", values="score")
        p = matrix.reindex(index=reference.index, columns=reference.columns).to_numpy(float)
        entry = out.setdefault((strength, it), {"iac": [], "iec": [], "kept": []})
        pvalues = iac_pvalues(q, p, tol)
        entry["iac"].append(pvalues if strength == "nr" else 1.0 - pvalues)
        entry["iec"].append(
            iec_nr(q, p, higher, tol) if strength == "nr" else iec_ar(q, p, higher, tol)
        )
        entry["kept"].append(kept(p))
    return out


def _mean(values) -> float:
    values = np.asarray(values, dtype=float)
    return float(np.nanmean(values)) if np.isfinite(values).any() else np.nan


def criteria_row(
    reference: pd.DataFrame, perturbed: pd.DataFrame, higher: bool, tol: float
) -> dict:
    """The criteria, MC, its spread over the iterations (``per_l``: each iteration's MC) and
    the kept samples of one test of one metric (module docstring)."""
    entries = _iterations(reference, perturbed, higher, tol)
    iterations = sorted({it for _, it in entries})
    per_l = {c: [] for c in CRITERIA}
    for it in iterations:
        for strength in ("nr", "ar"):
            entry = entries.get((strength, it))
            iac = _mean(np.concatenate(entry["iac"])) if entry else np.nan
            iec = _mean(entry["iec"]) if entry else np.nan
            per_l[f"iac_{strength}"].append(iac)
            per_l[f"iec_{strength}"].append(iec)
    row = {c: _mean(per_l[c]) for c in CRITERIA}
    row["mc"] = float(np.mean([row[c] for c in CRITERIA]))
    row["per_l"] = np.mean([per_l[c] for c in CRITERIA], axis=0) if iterations else np.array([])
    row["mc_std"] = _spread(row["per_l"])
    for strength in ("nr", "ar"):
        counts = [n for (s, _), e in entries.items() if s == strength for n in e["kept"]]
        row[f"n_{strength}"] = float(np.mean(counts)) if counts else np.nan
    return row


def _spread(per_l: np.ndarray) -> float:
    finite = per_l[np.isfinite(per_l)]
    return float(np.std(finite)) if len(finite) >= 2 else np.nan


def _both(rows: dict) -> dict:
    """The mean of the model and input tests' rows (module docstring)."""
    model, inputs = rows["model"], rows["input"]
    out = {c: (model[c] + inputs[c]) / 2 for c in (*CRITERIA, "mc", "n_nr", "n_ar")}
    per_l = (
        (model["per_l"] + inputs["per_l"]) / 2
        if len(model["per_l"]) == len(inputs["per_l"])
        else np.array([])
    )
    return {**out, "per_l": per_l, "mc_std": _spread(per_l)}


def meta_table(scores: pd.DataFrame) -> pd.DataFrame:
    """The meta-evaluation of every metric: one row per (dataset, model, metric, test), columns
    ``COLUMNS`` (module docstring), from the long table of meta-evaluation scores
    (``dataset, model, method, metric, higher_is_better, variant, sample, score``, as
    ``Store.variant_scores("meta:")`` gives them). Empty without such scores."""
    needed = {"method", "metric", "higher_is_better", "variant", "sample", "score"}
    missing = needed - set(scores.columns)
    if missing:
        raise ValueError(f"meta_table needs columns {sorted(needed)}; missing {sorted(missing)}")
    scores = scores[scores["variant"].astype(str).str.startswith("meta:")]
    if scores.empty:
        return pd.DataFrame(columns=COLUMNS)
    scores = scores.assign(
        dataset=scores["dataset"] if "dataset" in scores else "",
        model=scores["model"] if "model" in scores else "",
    )
    out = []
    for (dataset, model, metric), g in scores.groupby(["dataset", "model", "metric"], sort=True):
        for test, row in _metric_rows(g).items():
            out.append({"dataset": dataset, "model": model, "metric": metric, "test": test, **row})
    return pd.DataFrame(out, columns=COLUMNS)


def _metric_rows(g: pd.DataFrame) -> dict[str, dict]:
    """``{test: row}`` of one (dataset, model, metric), "both" when it has the two tests."""
    higher = bool(g["higher_is_better"].iloc[0])
    reference = g[g["variant"] == REFERENCE].pivot(index="sample", columns="method", values="score")
    perturbed = g[g["variant"] != REFERENCE]
    if reference.empty or perturbed.empty:
        return {}
    reference = reference.sort_index(axis=0).sort_index(axis=1)
    tol = roundoff(reference.to_numpy(float))
    perturbed = pd.concat([perturbed, parse(perturbed["variant"])], axis=1)
    perturbed = perturbed[perturbed["method"].isin(reference.columns)]
    rows = {
        test: criteria_row(reference, t, higher, tol)
        for test, t in perturbed.groupby("test", sort=False)
    }
    rows = {test: rows[test] for test in TESTS if test in rows}
    if len(rows) == len(TESTS):
        rows[BOTH] = _both(rows)
    return rows


def reliability(meta: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, model, metric): ``mc``, ``mc_std`` and the ``test`` they are of: "both"
    where its MC is known, else the one test whose MC is (a model test without two samples
    whose prediction its AR perturbations changed leaves "input"); NaN when none is."""
    columns = ["dataset", "model", "metric", "test", "mc", "mc_std"]
    if meta.empty:
        return pd.DataFrame(columns=columns)
    order = {BOTH: 0, "model": 1, "input": 2}
    ranked = meta.assign(order=meta["test"].map(order), unknown=meta["mc"].isna())
    best = ranked.sort_values(["unknown", "order"]).drop_duplicates(["dataset", "model", "metric"])
    return best[columns].sort_values(["dataset", "model", "metric"]).reset_index(drop=True)
