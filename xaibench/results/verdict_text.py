"""The verdict for a reader: the summary of ``report.html`` and ``leaderboard.md`` (one row per
(dataset, model), the run first) and the text printed at the end of ``xaibench run``, both
from a verdict table (``verdict.verdict`` or ``verdict.read``)."""

from __future__ import annotations

import math
import textwrap

import numpy as np
import pandas as pd

from xaibench.results.stats import POWER
from xaibench.results.verdict import ALL, ALPHA, CONTROLS, _ordinal

RULE = (
    "Overall rank: a method's rank on each metric (1 = best, round-off ties share a rank), "
    "averaged per category, then over the quality categories (cost and model_property left out; a metric on which "
    "every method scores the same is not ranked); 95% bootstrap interval over the test samples. "
    "Recommended: the best non-control method and those whose paired bootstrap difference with "
    "it includes 0. Beats a control: significantly better on at least one faithfulness metric "
    "and worse on none (paired Wilcoxon, Holm-corrected)."
)
#: What failing to beat each control of the verdict means.
MEANING = {
    "random": "random attributes noise that ignores the model and the input: a method that does "
    "not beat it shows no measurable faithfulness to the model.",
    "sobel": "sobel is an edge detector that never looks at the model: a method that does not "
    "beat it is, on these faithfulness metrics, no more faithful to the model than the "
    "image's edges are.",
}
COLUMNS = [
    "where",
    "recommended",
    "overall rank [95% CI]",
    "beats random",
    "beats sobel",
    "controls",
    "caution",
]


def yes_no(value) -> str:
    """'yes' / 'no' for a ``beats_<control>`` value, '–' where the control did not run."""
    if value is None or pd.isna(value):
        return "–"
    return "yes" if bool(value) else "no"


def _no(value) -> bool:
    """Whether a ``beats_<control>`` value is a known "no"."""
    return yes_no(value) == "no"


def _groups(v: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """(where, rows) per (dataset, model) of ``v``, the run first."""
    groups = list(v.groupby(["dataset", "model"], sort=True))
    groups.sort(key=lambda item: item[0] != (ALL, ALL))
    return [
        ("across the run" if dataset == ALL else f"{dataset} / {model}", g)
        for (dataset, model), g in groups
    ]


def _recommended(g: pd.DataFrame) -> pd.DataFrame:
    return g[g["recommended"]].sort_values(["overall_rank", "method"])


def cautions(g: pd.DataFrame) -> list[str]:
    """What a reader should know about the verdict of one (dataset, model) (or of the run),
    one sentence each: a model near chance, the recommended methods that do not beat a
    control and why, what would separate the tied ones, the metrics that were not ranked,
    and the best method's own note."""
    best = _recommended(g)
    out = [_sentence(c) for c in g["model_caution"].iloc[:1] if c]
    for column, control in CONTROLS.items():
        for r in best.itertuples():
            if _no(getattr(r, column)):
                why = getattr(r, f"{column}_why")
                out.append(_sentence(f"{r.method} does not beat {control}: {why}"))
    if len(best) > 1:
        out += _ties(best.iloc[1:], best.iloc[0]["method"])
    not_ranked = g["not_ranked"].iloc[0]
    if not_ranked:
        out.append(
            f"Not ranked: {not_ranked} (every method scores the same within round-off, so it "
            "cannot tell them apart)."
        )
    if not best.empty and best.iloc[0]["note"]:
        out.append(_sentence(f"{best.iloc[0]['method']} {best.iloc[0]['note']}"))
    return out


def _sentence(text: str) -> str:
    return text if text.endswith(".") else text + "."


def _ties(tied: pd.DataFrame, best: str) -> list[str]:
    """What would separate each method of ``tied`` from the ``best`` one: nothing (the same
    scores), nothing but a choice of metric (they already differ clearly on one and trade places
    on others), or more samples on the metric that tells them apart best."""
    same, clear, more = [], [], []
    for r in tied.itertuples():
        needed, n = r.samples_needed, r.n
        if pd.isna(needed):
            continue
        n = int(n)
        if np.isinf(needed):
            same.append(r.method)
        elif math.ceil(needed) <= n:
            clear.append(f"{r.method} ({r.separated_by})")
        else:
            more.append(f"about {math.ceil(needed)} samples on {r.separated_by} for {r.method}")
    out = []
    if same:
        out.append(
            f"{_listed([best, *same])} score the same on every ranked metric (within "
            "round-off): no number of samples separates them."
        )
    if clear:
        out.append(
            f"{_listed(clear)} already differ{'s' * (len(clear) == 1)} clearly from {best} on "
            f"the metric named (this run's {n} samples suffice there) but rank better on "
            "others: more samples will not break the tie; choose by the metric that matters "
            "to you."
        )
    if more:
        out.append(
            f"To separate them from {best}: {_listed(more)}, the metric that tells each apart "
            f"best (this run: {n}; Wilcoxon test, α = {ALPHA:g}, power {POWER:g})."
        )
    return out


def _listed(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def summary(v: pd.DataFrame) -> pd.DataFrame:
    """The verdict for a reader: one row per (dataset, model), the run's first: ``where``, the
    ``recommended`` method(s) (the best first; "(tied)" when several), the best one's ``overall
    rank [95% CI]``, whether they beat the controls ("yes"/"no"; for tied methods "all", "none"
    or "k of n"; "–" without the control), where the ``controls`` stand (e.g. "random 11th,
    sobel 10th of 11") and the ``caution`` (:func:`cautions`); with a meta-evaluation or sweeps
    (``decided_by``, ``results/trust.py``), the metrics that decided the best one with their MC
    (``decided by``, the first four)."""
    rows = []
    for where, g in _groups(v):
        placed = [f"{c.method} {_ordinal(int(c.position))}" for c in g[g["control"]].itertuples()]
        controls = f"{', '.join(placed)} of {len(g)}" if placed else ""
        best = _recommended(g)
        caution = " ".join(cautions(g))
        if best.empty:
            rows.append([where, "(none: only controls ranked)", "", "–", "–", controls, caution])
            continue
        top = best.iloc[0]
        rows.append(
            [
                where,
                ", ".join(best["method"]) + (" (tied)" if len(best) > 1 else ""),
                f"{top.overall_rank:.2f} [{top.rank_ci_low:.2f}, {top.rank_ci_high:.2f}]",
                _share([yes_no(b) for b in best["beats_random"]]),
                _share([yes_no(b) for b in best["beats_sobel"]]),
                controls,
                caution,
            ]
        )
    table = pd.DataFrame(rows, columns=COLUMNS)
    if "decided_by" in v:
        table["decided by"] = [decided_by(g) for _, g in _groups(v)]
    return table


def decided_by(g: pd.DataFrame, most: int = 4) -> str:
    """The first ``most`` metrics that decided the best recommended method of ``g`` (its
    ``decided_by``: ``results/trust.py``), "+k more" for the rest; "" without."""
    best = _recommended(g)
    if best.empty or "decided_by" not in best:
        return ""
    items = [item for item in str(best.iloc[0]["decided_by"]).split(", ") if item]
    more = f" +{len(items) - most} more" if len(items) > most else ""
    return ", ".join(items[:most]) + more


def meanings(v: pd.DataFrame) -> list[str]:
    """What failing to beat a control means, for each control a recommended method of ``v``
    does not beat."""
    best = v[v["recommended"]]
    return [MEANING[control] for column, control in CONTROLS.items() if best[column].map(_no).any()]


def text(v: pd.DataFrame, width: int = 100) -> str:
    """The verdict as plain text for the terminal (the end of ``xaibench run``): per (dataset,
    model), the run first, the recommended methods with the best one's overall rank, whether
    they beat the controls and where the controls stand, and every caution, wrapped (never
    cut) to ``width`` columns."""
    table = summary(v)
    if table.empty:
        return "Verdict: no scores to rank."
    pad = max(len(w) for w in table["where"]) + 4
    lines = textwrap.wrap(
        "Verdict (overall rank: 1 = best, 95% bootstrap interval; verdict.csv):", width
    )
    indent = " " * pad

    def wrap(line: str, first: str = indent) -> list[str]:
        return textwrap.wrap(line, width, initial_indent=first, subsequent_indent=indent + "  ")

    for (where, g), r in zip(_groups(v), table.itertuples(index=False), strict=True):
        lines += wrap(f"{r[2]}  {r.recommended}".strip(), f"  {where}".ljust(pad))
        beats = [f"{c}: {b}" for c, b in (("random", r[3]), ("sobel", r[4])) if b != "–"]
        facts = ["beats " + ", ".join(beats)] if beats else []
        if r.controls:
            facts.append(f"controls: {r.controls}")
        if facts:
            lines += wrap(" · ".join(facts))
        if decided_by(g):
            lines += wrap(f"decided by {decided_by(g)}")
        for caution in cautions(g):
            lines += wrap(caution)
    for meaning in meanings(v):
        lines += [""] + textwrap.wrap(meaning, width)
    return "\n".join(lines)


def _share(answers: list[str]) -> str:
    """'yes' / 'no' for one method; for tied methods 'all', 'none' or 'k of n'."""
    known = [a for a in answers if a != "–"]
    if len(answers) == 1 or not known:
        return answers[0]
    yes = sum(a == "yes" for a in known)
    return "all" if yes == len(known) else "none" if yes == 0 else f"{yes} of {len(known)}"
