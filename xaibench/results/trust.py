"""Which metrics to trust: the meta-evaluation (``results/meta.py``) and the setting sweeps
(``results/sweep.py``) of a run, read from its store, summarised per metric and fed into the
verdict.

The verdict (``annotate``): for every recommended method, ``decided_by`` lists the quality
metrics that put it where it is, those on which it ranks in the top half, each with its MC
("deletion (MC 0.62)"); the note gains a caution when one of them is unreliable: its MC is
below ``UNRELIABLE`` (0.5) or in the bottom half of the run's metrics of that (dataset, model)
by MC (the ``MOST`` least reliable named); and when the recommendation does not hold under
some settings of a swept metric
("holds under 7 of 9 settings of deletion"). Across the run (``dataset = model = "*"``) the MC
of a metric is its mean over the pairs and the deciding metrics are those on which the method's
mean rank is in the top half; sweeps are judged per (dataset, model) only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from xaibench.results import html
from xaibench.results._figures import NORMAL, _axes, _figure, _save, _text_inches, plain_text
from xaibench.results.meta import COLUMNS as META_COLUMNS
from xaibench.results.meta import meta_table, reliability
from xaibench.results.stats import EXCLUDED_FROM_OVERALL
from xaibench.results.sweep import COLUMNS as SWEEP_COLUMNS
from xaibench.results.sweep import CONFIGURED, sweep_table
from xaibench.results.tables import fmt, markdown_table, md_escape

UNRELIABLE = 0.5
ALL = "*"
MOST = 3  # unreliable deciding metrics named in a caution (the least reliable first)


@dataclass
class Trust:
    """A run's meta-evaluation table (``meta.csv``) and sweep table (``sweep.csv``), either
    empty when the run has none."""

    meta: pd.DataFrame
    sweep: pd.DataFrame

    @property
    def empty(self) -> bool:
        return self.meta.empty and self.sweep.empty

    @classmethod
    def none(cls) -> Trust:
        """No meta-evaluation nor sweep."""
        return cls(pd.DataFrame(columns=META_COLUMNS), pd.DataFrame(columns=SWEEP_COLUMNS))


def swept_settings(cells: pd.DataFrame) -> dict:
    """``{(metric, variant): {setting: value}}`` from a run's cells (``Store.cells(variants=
    True)``): a sweep variant's settings that differ from its configured metric's, and under
    ``"configured"`` the configured values of every setting some variant of the metric changes."""
    if "variant" not in cells or cells.empty:
        return {}
    metric_of = {}
    for c in cells.itertuples():
        variant = c.variant if isinstance(c.variant, str) else None
        if variant is None or variant.startswith("sweep:"):
            config = json.loads(c.settings)["metric"]
            metric_of.setdefault((c.metric, variant or CONFIGURED), config)
    out, swept = {}, {}
    for (metric, variant), config in metric_of.items():
        base = metric_of.get((metric, CONFIGURED), {})
        if variant != CONFIGURED:
            changed = {k: v for k, v in config.items() if base.get(k) != v}
            out[(metric, variant)] = changed
            swept.setdefault(metric, set()).update(changed)
    for metric, keys in swept.items():
        base = metric_of.get((metric, CONFIGURED), {})
        out[(metric, CONFIGURED)] = {k: base.get(k) for k in sorted(keys)}
    return out


def from_store(store, run_id, scores: pd.DataFrame, recommended=None) -> Trust:
    """The ``Trust`` of run ``run_id`` of ``store`` (``scores``: its scores as configured;
    ``recommended``: the verdict's recommended methods of one (dataset, model)'s scores, best
    first, for ``recommended_holds``)."""
    meta = meta_table(store.variant_scores("meta:", run_id))
    variants = store.variant_scores("sweep:", run_id)
    settings = swept_settings(store.cells(run_id, variants=True)) if len(variants) else {}
    return Trust(meta, sweep_table(scores, variants, settings, recommended))


def metric_summary(trust: Trust) -> pd.DataFrame:
    """One row per metric: its MC (test "both" where the run made both tests) averaged over the
    (dataset, model) pairs with ``mc_std`` (the mean spread over iterations), ``mc_min`` and
    ``mc_max`` over the pairs; from the sweeps, the mean Kendall tau of its variants
    (``sweep_tau``) and in how many (pair, setting) the recommendation held (``holds``)."""
    rows = {}
    overall = reliability(trust.meta)
    for metric, g in overall.groupby("metric", sort=True):
        rows[metric] = {
            "metric": metric,
            "mc": g["mc"].mean(),
            "mc_std": g["mc_std"].mean(),
            "mc_min": g["mc"].min(),
            "mc_max": g["mc"].max(),
            "pairs": len(g),
        }
    for metric, g in trust.sweep.groupby("metric", sort=True):
        variants = g[g["variant"] != CONFIGURED]
        held = g["recommended_holds"].dropna()
        row = rows.setdefault(metric, {"metric": metric})
        row["sweep_tau"] = variants["kendall_tau"].mean()
        row["holds"] = f"{int(held.astype(bool).sum())} of {len(held)}" if len(held) else ""
    columns = ["metric", "mc", "mc_std", "mc_min", "mc_max", "pairs", "sweep_tau", "holds"]
    table = pd.DataFrame(list(rows.values()), columns=columns)
    return table.sort_values(["mc", "metric"], ascending=[False, True], na_position="last")


# The verdict ----------------------------------------------------------------------------------


def _mc_by_pair(meta: pd.DataFrame) -> dict:
    """``{(dataset, model): {metric: mc}}`` with the run's mean under ``(ALL, ALL)``."""
    r = reliability(meta)
    out: dict = {}
    for row in r.itertuples():
        out.setdefault((row.dataset, row.model), {})[row.metric] = row.mc
    out[(ALL, ALL)] = r.groupby("metric")["mc"].mean().to_dict()
    return out


def unreliable(mc: dict[str, float]) -> set[str]:
    """The metrics of ``mc`` (metric -> MC) that are not to be trusted: MC below
    ``UNRELIABLE``, or in the bottom half of ``mc`` (below its median)."""
    known = {m: v for m, v in mc.items() if np.isfinite(v)}
    if not known:
        return set()
    median = float(np.median(list(known.values())))
    return {m for m, v in known.items() if v < UNRELIABLE or (len(known) > 1 and v < median)}


def deciding(board: pd.DataFrame, dataset, model, method: str) -> list[str]:
    """The quality metrics (not cost) on which ``method`` ranks in the top half of its
    (dataset, model) (across the run: by its mean rank over the pairs), best rank first."""
    quality = board[~board["category"].isin(EXCLUDED_FROM_OVERALL)].dropna(subset=["rank"])
    if dataset != ALL:
        quality = quality[(quality["dataset"] == dataset) & (quality["model"] == model)]
    ranks = quality.groupby(["metric", "method"])["rank"].mean().unstack("method")
    if method not in ranks:
        return []
    worst = ranks.max(axis=1)
    mine = ranks[method]
    top = mine[(mine <= (worst + 1) / 2) & mine.notna()]
    return sorted(top.index, key=lambda m: (mine[m] / worst[m], m))


def annotate(v: pd.DataFrame, board: pd.DataFrame, trust: Trust) -> pd.DataFrame:
    """A copy of the verdict ``v`` with ``decided_by`` (the recommended methods' deciding
    metrics with their MC) and the cautions of this module's docstring appended to ``note``.
    ``v`` unchanged when the run has no meta-evaluation nor sweep."""
    if trust.empty:
        return v
    mc = _mc_by_pair(trust.meta) if not trust.meta.empty else {}
    out = v.copy()
    decided, notes = [], []
    for row in out.itertuples():
        if not row.recommended:
            decided.append("")
            notes.append(row.note)
            continue
        here = mc.get((row.dataset, row.model), {})
        metrics = deciding(board, row.dataset, row.model, row.method)
        decided.append(", ".join(f"{m} ({_mc_text(here.get(m))})" for m in metrics))
        parts = [row.note] if row.note else []
        weak = sorted((here[m], m) for m in metrics if m in unreliable(here))
        if weak:
            shown = ", ".join(f"{m} ({_mc_text(mc)})" for mc, m in weak[:MOST])
            more = f" +{len(weak) - MOST} more" if len(weak) > MOST else ""
            parts.append(f"rests on unreliable metrics: {shown}{more}")
        parts += _sweep_cautions(trust.sweep, row.dataset, row.model)
        notes.append("; ".join(parts))
    out["decided_by"] = decided
    out["note"] = notes
    return out


def _mc_text(mc) -> str:
    return "MC –" if mc is None or not np.isfinite(mc) else f"MC {mc:.2f}"


def _sweep_cautions(sweep: pd.DataFrame, dataset, model) -> list[str]:
    """ "holds under k of n settings of <metric>" where it does not hold under all."""
    if sweep.empty or dataset == ALL:
        return []
    here = sweep[(sweep["dataset"] == dataset) & (sweep["model"] == model)]
    out = []
    for metric, g in here.groupby("metric", sort=True):
        held = g["recommended_holds"].dropna().astype(bool)
        if len(held) and not held.all():
            out.append(f"holds under {int(held.sum())} of {len(held)} settings of {metric}")
    return out


# The report -----------------------------------------------------------------------------------

TEXT = (
    "How far each metric can be trusted, by MetaQuantus's meta-evaluation (Hedström et al. "
    "2023): its scores should stay put when the model or the input is perturbed without "
    "changing the prediction (noise resilience: IAC_NR, IEC_NR) and move when the prediction "
    "changes (adversary reactivity: IAC_AR, IEC_AR); MC, their mean, is 1 for a perfect metric, "
    "about 0.5 for one that never reacts or that is noise. A metric whose MC is below 0.5 or in "
    "the bottom half of the run's is flagged where it decided a recommendation. Sweeps: Kendall "
    "tau of the methods' ranking under other settings of a metric against the configured one, "
    "and how often the recommendation held. All rows: meta.csv, sweep.csv; README, Which "
    "metrics to trust."
)


HEADERS = {
    "mc": "MC",
    "mc_std": "± over iterations",
    "mc_min": "lowest pair",
    "mc_max": "highest pair",
    "sweep_tau": "sweep tau",
    "holds": "recommendation holds",
}


@plain_text
def trust_plot(summary: pd.DataFrame, path) -> Path | None:
    """MC per metric (its mean over the pairs, the spread over iterations as an error bar and
    the range over the pairs as a thin line; 0.5 dashed) and, when the run swept settings, the
    mean Kendall tau of each metric's variants against its configured ranking (0 dashed); one
    panel when the run has only one of them. None without a row (``metric_summary``)."""
    rows = summary[summary["mc"].notna() | summary["sweep_tau"].notna()].iloc[::-1]
    panels = [c for c in ("mc", "sweep_tau") if rows[c].notna().any()]
    if rows.empty:
        return None
    metrics = rows["metric"].tolist()
    left, panel, gap = _text_inches(metrics, NORMAL) + 0.3, 3.6, 0.5
    width = left + len(panels) * panel + (len(panels) - 1) * gap + 0.3
    height = 1.0 + 0.28 * len(metrics)
    fig = _figure(width, height, "Which metrics to trust")
    y = np.arange(len(metrics))
    for i, column in enumerate(panels):
        ax = _axes(fig, left + i * (panel + gap), 0.55, panel, height - 1.0)
        if column == "mc":
            ax.hlines(y, rows["mc_min"], rows["mc_max"], color="0.6", lw=1)
            ax.errorbar(rows["mc"], y, xerr=rows["mc_std"].fillna(0), fmt="o", ms=5)
            ax.axvline(UNRELIABLE, color="0.45", ls=(0, (4, 2)), lw=1)
            ax.set(xlim=(0, 1), xlabel="MC (meta-consistency; bar: spread over iterations)")
        else:
            ax.barh(y, rows["sweep_tau"].fillna(0), color="tab:green", height=0.5)
            ax.axvline(0, color="0.45", ls=(0, (4, 2)), lw=1)
            ax.set(xlim=(-1, 1), xlabel="sweeps: Kendall tau against the configured ranking")
        ax.set_ylim(-0.6, len(metrics) - 0.4)
        ax.set_yticks(y, metrics if i == 0 else [""] * len(y))
    return _save(fig, path)


def markdown(trust: Trust) -> str:
    """The "Which metrics to trust" section of leaderboard.md ("" without meta or sweeps)."""
    if trust.empty:
        return ""
    summary = metric_summary(trust)
    header = ["metric", "MC", "± (iterations)", "range over pairs", "sweep tau", "holds"]
    rows = [
        [
            md_escape(r.metric),
            fmt(r.mc),
            fmt(r.mc_std),
            f"{fmt(r.mc_min)}–{fmt(r.mc_max)}" if np.isfinite(r.mc_min) else "",
            fmt(r.sweep_tau),
            md_escape(r.holds) if isinstance(r.holds, str) else "",
        ]
        for r in summary.itertuples()
    ]
    return "\n".join(
        ["# Which metrics to trust", "", TEXT, "", markdown_table(header, rows), "", ""]
    )


def section(trust: Trust, plots_dir) -> tuple[html.Section | None, list[Path]]:
    """The "Which metrics to trust" section of report.html and the figure it shows (written
    into ``plots_dir``); ``(None, [])`` without meta or sweeps (an earlier run's figure there is
    removed)."""
    if trust.empty:
        for suffix in (".png", ".pdf"):
            (Path(plots_dir) / f"trust{suffix}").unlink(missing_ok=True)
        return None, []
    summary = metric_summary(trust)
    figure = trust_plot(summary, Path(plots_dir) / "trust.png")
    shown = summary.rename(columns=HEADERS)
    blocks: list = [
        html.Text(TEXT),
        html.Table(shown, "Per metric, over the (dataset, model) pairs"),
    ]
    if figure is not None:
        blocks.append(html.Image(figure, "MC per metric; sweep tau per metric"))
    details = []
    if not trust.meta.empty:
        details.append(html.Section("meta.csv", [html.Table(trust.meta)], collapsed=True))
    if not trust.sweep.empty:
        details.append(html.Section("sweep.csv", [html.Table(trust.sweep)], collapsed=True))
    return html.Section("Which metrics to trust", blocks + details), [p for p in [figure] if p]
