"""Writing a run directory's outputs from its store alone, or from an ``xb.evaluate`` table.

``build`` turns the scores, curves and artifacts of one run (a :class:`RunData`, read from
``results.sqlite`` or made from a DataFrame) into the verdict, the tables (CSV, Markdown,
LaTeX), the statistics, the tradeoffs, the plots and ``report.html``; ``xaibench report DIR``
calls it again on an existing run directory.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from xaibench._categories import CATEGORIES
from xaibench._checks import file_stem
from xaibench.results import html, plots, stats, tradeoffs, trust, verdict
from xaibench.results.latex import leaderboard_latex
from xaibench.results.leaderboard import leaderboard
from xaibench.results.tables import leaderboard_markdown, markdown_table, md_escape, select, wide
from xaibench.store import Store


def _tradeoffs_text(board: pd.DataFrame) -> str:
    def listed(axis: str) -> str:
        return ", ".join(tradeoffs.axis_metrics(board, axis)) or "(none in this run)"

    return (
        f"Faithfulness of a method is the mean of its normalised scores on {listed('faithfulness')}"
        ": each metric's mean is min-max normalised across the methods of one (dataset, model) to "
        "[0, 1], 1 = the most faithful (0.5 when all are equal). Simplicity is built the same way "
        f"from {listed('simplicity')}. For interpretability vs performance each metric is "
        "normalised over all (model, method) rows of a dataset instead, so that the models of a "
        "dataset share one scale. The scores are relative to the methods and models of the run. "
        "**pareto** marks the points no other point beats on both axes; the controls are never "
        "on a front."
    )


@dataclass
class RunData:
    """What the outputs are made from: the run's record, per-sample scores, cells, models, and
    accessors for its curves and artifacts (both empty for an ``xb.evaluate`` table) and for its
    meta-evaluation and sweeps (``trust_data(recommended)``, a ``trust.Trust``; empty without)."""

    run: dict
    scores: pd.DataFrame
    cells: pd.DataFrame
    models: pd.DataFrame
    curve_metrics: list[str] = field(default_factory=list)
    curves: Callable[[str], dict] = lambda metric: {}
    artifacts: Callable[[str], list[dict]] = lambda kind: []
    trust_data: Callable[[Callable], trust.Trust] = lambda recommended: trust.Trust.none()

    @classmethod
    def from_store(cls, store: Store, run_id: int | None = None) -> RunData:
        run = store.run(run_id)
        if run is None:
            raise ValueError(
                f"{store.path} holds no run yet"
                if run_id is None
                else f"{store.path} holds no run {run_id}"
            )
        rid = run["id"]
        scores = store.scores(rid)
        return cls(
            run=run,
            scores=scores,
            cells=_with_failed_variants(store, rid),
            models=store.models(rid),
            curve_metrics=store.curve_metrics(rid),
            curves=lambda metric: store.metric_curves(metric, rid),
            artifacts=lambda kind: store.artifacts(kind, rid),
            trust_data=lambda recommended: trust.from_store(store, rid, scores, recommended),
        )

    @classmethod
    def from_scores(cls, scores: pd.DataFrame, *, dataset: str = "data", model: str = "model"):
        """A run made of an ``xb.evaluate`` table (one dataset and model unless it has the
        columns), its failed cells from ``scores.attrs["failed"]``."""
        needed = {"method", "metric", "category", "higher_is_better", "sample", "score"}
        missing = needed - set(scores.columns)
        if missing:
            raise ValueError(
                f"report needs the scores of xb.evaluate (columns {sorted(needed)}); "
                f"missing {sorted(missing)}"
            )
        scores = scores.assign(
            dataset=scores["dataset"] if "dataset" in scores else dataset,
            model=scores["model"] if "model" in scores else model,
        )
        ids = ["dataset", "model", "method", "metric"]
        cells = scores[ids].drop_duplicates().assign(status="ok", error=None)
        failed = [
            {
                "dataset": dataset,
                "model": model,
                "method": key.split("/", 1)[0],
                "metric": key.split("/", 1)[-1],
                "status": "error",
                "error": str(err),
            }
            for key, err in scores.attrs.get("failed", {}).items()
        ]
        cells = pd.concat([cells, pd.DataFrame(failed, columns=cells.columns)], ignore_index=True)
        models = pd.DataFrame(columns=["dataset", "model", "accuracy", "params"])
        run = {"id": 1, "status": "from xb.evaluate", "config": {}, "versions": {}}
        return cls(run=run, scores=scores, cells=cells, models=models)


def _with_failed_variants(store: Store, run_id: int) -> pd.DataFrame:
    """The run's cells as configured, and its sweep variants and meta-evaluation cells that
    failed (their metric named with the variant: "deletion [sweep:baseline=mean]"), so that the
    report lists every failure; variants that do not apply are not listed one by one."""
    cells = store.cells(run_id, variants=True)
    variant = cells["variant"].astype(object)
    failed = variant.notna() & (cells["status"] == "error")
    cells.loc[failed, "metric"] = cells.loc[failed, "metric"] + " [" + variant[failed] + "]"
    return cells[variant.isna() | failed].reset_index(drop=True)


@dataclass
class Outputs:
    """What ``build`` computed and wrote."""

    board: pd.DataFrame
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)


def _write_text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


def _statistics(scores: pd.DataFrame, board: pd.DataFrame) -> dict[str, pd.DataFrame]:
    sig = stats.significance(scores, board)
    return {
        "leaderboard": stats.add_ties(board, sig),
        "significance": sig,
        "ranks": stats.aggregate_ranks(board),
        "rank_stability": stats.rank_stability(scores),
        "metric_agreement": stats.metric_agreement(board),
        "verdict": verdict.verdict(scores),
    }


def verdict_markdown(v: pd.DataFrame) -> str:
    """The verdict as the first section of ``leaderboard.md``."""
    table = verdict.summary(v)
    header = list(table.columns)
    rows = [[md_escape(x) for x in row] for row in table.itertuples(index=False)]
    return "\n".join(["# Verdict", "", verdict.RULE, "", markdown_table(header, rows), "", ""])


def _tables(out: Path, tables: dict, latex: dict) -> list[Path]:
    board, models, trusted = tables["leaderboard"], tables["models"], tables["trust"]
    markdown = verdict_markdown(tables["verdict"]) + trust.markdown(trusted)
    markdown += leaderboard_markdown(board, models)
    files = [
        _write_text(out / "verdict.csv", tables["verdict"].to_csv(index=False)),
        _write_text(out / "leaderboard.csv", board.to_csv(index=False)),
        _write_text(out / "leaderboard.md", markdown),
        _write_text(out / "leaderboard.tex", leaderboard_latex(board, models, **latex)),
        _write_text(out / "tradeoffs.csv", tables["tradeoffs"].to_csv(index=False)),
    ]
    for name in ("ranks", "significance", "rank_stability", "tradeoff_summary"):
        files.append(_write_text(out / f"{name}.csv", tables[name].to_csv(index=False)))
    files.append(_write_text(out / "metric_agreement.csv", tables["metric_agreement"].to_csv()))
    for name, table in (("meta", trusted.meta), ("sweep", trusted.sweep)):
        if not table.empty:
            files.append(_write_text(out / f"{name}.csv", table.to_csv(index=False)))
        else:  # an earlier run's into this directory would be taken for this one's
            (out / f"{name}.csv").unlink(missing_ok=True)
    return files


def _plots(data: RunData, out: Path, tables: dict) -> dict[str, list[Path]]:
    """Every plot of the run, grouped for the report: {group: [paths]}."""
    board, d = tables["leaderboard"], out / "plots"
    controls = set(board.loc[tradeoffs.control_mask(board), "method"])
    made: dict[str, list] = {
        "leaderboard": plots.leaderboard_plots(board, d),
        "ranks": plots.rank_heatmaps(board, d),
        "agreement": [plots.agreement_heatmap(tables["metric_agreement"], d / "agreement.png")],
        "curves": [
            plots.curves_plot(
                data.curves(m), m, d / f"curves_{file_stem(m)}.png", controls=controls
            )
            for m in data.curve_metrics
        ],
        "tradeoffs": tradeoffs.tradeoff_plots(board, tables["models"], d),
        "gallery": _galleries(data, d, controls),
        "inspection": [
            plots.inspection_plot(
                d / f"inspection_{file_stem(v['dataset'], v['model'])}.png",
                input=v["x"],
                filters=v["filters"],
                activations=v["activations"],
                title=f"{v['dataset']} / {v['model']}: first layer ({v['layer']}) and its "
                "response to one sample",
            )
            for v in data.artifacts("inspection")
        ],
    }
    return {k: [p for p in v if p is not None] for k, v in made.items()}


def _galleries(data: RunData, d: Path, controls: set[str]) -> list[Path | None]:
    maps: dict[tuple, dict] = {}
    for a in data.artifacts("gallery"):
        maps.setdefault((a["dataset"], a["model"]), {})[a["method"]] = a["attributions"]
    paths = []
    for inputs in data.artifacts("inputs"):
        key = (inputs["dataset"], inputs["model"])
        if key not in maps:
            continue
        paths.append(
            plots.gallery_plot(
                inputs["x"],
                maps[key],
                d / f"gallery_{file_stem(*key)}.png",
                title=f"{key[0]} / {key[1]}: attributions of {len(inputs['x'])} test samples",
                targets=inputs["y"],
                class_names=list(inputs["class_names"]),
                feature_names=list(inputs["feature_names"]) if "feature_names" in inputs else None,
                controls=controls,
            )
        )
    return paths


def write_outputs(store: Store, out: str | Path, run_id: int | None = None) -> pd.DataFrame:
    """Write every output of run ``run_id`` (default: the latest run in the store) into ``out``
    and return its leaderboard (with the tie markers of ``stats.add_ties``)."""
    return build(store, out, run_id).board


def build(store: Store, out: str | Path, run_id: int | None = None, **latex) -> Outputs:
    """Compute and write the verdict, tables, statistics, tradeoffs, plots and ``report.html``
    of a run of ``store`` (``latex``: the paper tables' options, as in :func:`build_from`)."""
    return build_from(RunData.from_store(store, run_id), out, **latex)


def build_from(
    data: RunData,
    out: str | Path,
    *,
    ci: bool = True,
    methods: list[str] | None = None,
    metrics: list[str] | None = None,
) -> Outputs:
    """Compute and write every output of ``data`` into ``out``. ``ci``, ``methods`` and
    ``metrics`` choose what ``leaderboard.tex`` shows (intervals; a subset of methods and
    metrics, checked before anything is written); the other outputs hold everything."""
    select(data.scores, methods=methods, metrics=metrics)  # ValueError before any work
    latex = {"ci": ci, "methods": methods, "metrics": metrics}
    out = Path(out)
    board = leaderboard(data.scores)
    if board.empty:
        _write_text(out / "leaderboard.csv", board.to_csv(index=False))
        path = html.write_report(
            out / "report.html",
            title=f"xaibench report: {out.name}",
            run=data.run,
            sections=[html.failures_section(data.cells)],
        )
        return Outputs(board, {"leaderboard": board}, [out / "leaderboard.csv", path])
    tables = _statistics(data.scores, board)
    tables["trust"] = data.trust_data(verdict.recommended)  # meta-evaluation, sweeps: if any
    tables["verdict"] = trust.annotate(tables["verdict"], board, tables["trust"])
    tables["models"] = data.models
    tables["tradeoffs"] = tradeoffs.tradeoffs_table(board, data.models)
    tables["tradeoff_summary"] = tradeoffs.tradeoff_summary(board, data.models)
    files = _tables(out, tables, latex)
    made = _plots(data, out, tables)
    trusted, made["trust"] = trust.section(tables["trust"], out / "plots")
    files += [p for group in made.values() for p in group]
    files.append(_report(data, out, tables, made, trusted))
    return Outputs(tables["leaderboard"], tables, files)


# the report ---------------------------------------------------------------------------------
LEADERBOARD_TEXT = (
    "Mean score over the explained samples with its bootstrap 95% confidence interval (under "
    "it); ↑ higher is better, ↓ lower is better; **bold** is rank 1 (means within round-off "
    "are ties). Methods that share a letter are not significantly different from their rank "
    "neighbours (paired Wilcoxon signed-rank tests of adjacent ranks, Holm-corrected, α = 0.05)."
)


def _headline(v: pd.DataFrame) -> str:
    """One sentence: what to trust across the run."""
    table = verdict.summary(v)
    if table.empty or not table.iloc[0]["overall rank [95% CI]"]:
        return "No method ranks above the controls."
    top = table.iloc[0]
    facts = "; ".join(
        f"beats {c}: {top[f'beats {c}']}" for c in ("random", "sobel") if top[f"beats {c}"] != "–"
    )
    return (
        f"**{top['where'].capitalize()}: {top['recommended']}**, overall rank "
        f"{top['overall rank [95% CI]']}"
        + (f" ({facts} on faithfulness)" if facts else "")
        + (f". Controls: {top['controls']}." if top["controls"] else ".")
    )


def _verdict_section(v: pd.DataFrame) -> html.Section:
    return html.Section(
        "Verdict: which method to trust",
        [
            html.Text(_headline(v)),
            html.Table(verdict.summary(v)),
            html.Text(verdict.RULE + " All rows: `verdict.csv`; the rule: README, The verdict."),
        ],
        css_class="verdict",
    )


def _pair_table(v: pd.DataFrame) -> pd.DataFrame:
    """Every method of one (dataset, model) by overall rank, for its section of the report."""
    g = v.sort_values(["position", "method"])
    return pd.DataFrame(
        {
            "#": g["position"].to_numpy(),
            "method": [
                m + (" (control)" if c else "")
                for m, c in zip(g["method"], g["control"], strict=True)
            ],
            "overall rank [95% CI]": [
                f"{r:.2f} [{lo:.2f}, {hi:.2f}]"
                for r, lo, hi in zip(
                    g["overall_rank"], g["rank_ci_low"], g["rank_ci_high"], strict=True
                )
            ],
            "recommended": ["yes" if r else "" for r in g["recommended"]],
            "beats random": [verdict._yes_no(b) for b in g["beats_random"]],
            "beats sobel": [verdict._yes_no(b) for b in g["beats_sobel"]],
            "note": g["note"].to_numpy(),
        }
    )


def _by_category(g: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """The leaderboard of one (dataset, model) split by metric category (tables that fit)."""
    order = {c: i for i, c in enumerate(CATEGORIES)}
    cats = sorted(g["category"].unique(), key=lambda c: (order.get(c, len(order)), c))
    return [(c, g[g["category"] == c]) for c in cats]


def _report(data: RunData, out: Path, tables: dict, made: dict, trusted=None) -> Path:
    board, v = tables["leaderboard"], tables["verdict"]
    Image, Section, Table, Text = html.Image, html.Section, html.Table, html.Text
    images = lambda group, caption: [Image(p, caption(p)) for p in made.get(group, [])]  # noqa: E731
    by_name = {p.name: p for group in made.values() for p in group}
    models = tables["models"].set_index(["dataset", "model"])
    pairs = []
    for (dataset, model), g in board.groupby(["dataset", "model"], sort=True):
        info = ""
        if (dataset, model) in models.index:
            m = models.loc[(dataset, model)]
            info = f" (test accuracy {m['accuracy']:.3f}, {int(m['params']):,} parameters)"
        blocks: list = [
            Table(
                _pair_table(v[(v.dataset == dataset) & (v.model == model)]),
                f"Methods by overall rank{info}",
            ),
            Text(LEADERBOARD_TEXT),
        ]
        for category, c in _by_category(g):
            header, rows = wide(c)
            blocks.append(Table(pd.DataFrame(rows, columns=header), category))
        stem = file_stem(dataset, model)
        for name, caption in (
            (f"ranks_{stem}.png", "Rank of every method per metric"),
            (f"gallery_{stem}.png", "Attributions of test samples"),
            (f"inspection_{stem}.png", "The first layer and its response to one sample"),
        ):
            if name in by_name:
                blocks.append(Image(by_name[name], caption))
        pairs.append(Section(f"{dataset} / {model}", blocks))
    across = Section(
        "Across the run",
        [
            *images(
                "leaderboard",
                lambda p: f"{p.stem.split('_', 1)[1]}: each method's mean and 95% CI per metric",
            ),
            *[
                Image(p, "Mean rank of every method per metric over the datasets and models")
                for p in made.get("ranks", [])
                if p.name == "ranks_all.png"
            ],
            Section(
                "Metric agreement",
                [
                    Text(
                        "Spearman correlation between the method rankings of each pair of "
                        "metrics, averaged over datasets and models (the disagreement problem)."
                    ),
                    *images("agreement", lambda p: "Metric agreement"),
                ],
            ),
            Section(
                "Curves",
                images("curves", lambda p: f"Mean {p.stem.split('_', 1)[1]} curve with 95% band"),
            ),
            Section(
                "Tradeoffs",
                [
                    Text(_tradeoffs_text(board)),
                    *images("tradeoffs", lambda p: p.stem.replace("_", " ")),
                    *_tradeoff_tables(tables),
                ],
            ),
        ],
    )
    details = Section(
        "Details",
        [
            Section("Aggregate ranks", [Table(tables["ranks"])], collapsed=True),
            Section(
                "Rank stability",
                [
                    Text("Bootstrap probability that the top method of a metric stays on top."),
                    Table(tables["rank_stability"]),
                ],
                collapsed=True,
            ),
            Section(
                "Significance tests",
                [
                    Text("Paired Wilcoxon signed-rank tests of adjacent ranks, Holm-corrected."),
                    Table(tables["significance"]),
                ],
                collapsed=True,
            ),
            Section(
                "Metric agreement table",
                [Table(tables["metric_agreement"].reset_index(names="metric"), "Spearman rho")],
                collapsed=True,
            ),
            Section(
                "Models",
                [Table(tables["models"].drop(columns="key", errors="ignore"))],
                collapsed=True,
            ),
            _collapsed(html.failures_section(data.cells)),
        ],
    )
    return html.write_report(
        out / "report.html",
        title=f"xaibench report: {out.name}",
        run=data.run,
        lead=_verdict_section(v),
        sections=[*([trusted] if trusted is not None else []), *pairs, across, details],
    )


def _collapsed(section: html.Section) -> html.Section:
    section.collapsed = True
    return section


def _tradeoff_tables(tables: dict) -> list:
    """The tradeoffs as two readable tables and the strength of each relationship."""
    t = tables["tradeoffs"]
    out = [html.Table(tables["tradeoff_summary"], "How strong each relationship is (Spearman)")]
    perf = t[t["tradeoff"] == "interpretability_vs_performance"]
    if not perf.empty:
        columns = ["dataset", "model", "accuracy", "params", "faithfulness_best", "best_method"]
        out.append(
            html.Table(
                perf[[c for c in columns + ["pareto"] if c in perf]],
                "Interpretability vs performance: the best faithfulness per model",
            )
        )
    simple = t[t["tradeoff"] != "interpretability_vs_performance"]
    if not simple.empty:
        columns = ["dataset", "model", "method", "faithfulness", "simplicity", "runtime", "pareto"]
        out.append(
            html.Table(
                simple[[c for c in columns if c in simple]],
                "Accuracy vs simplicity: faithfulness and simplicity per method (runtime in s)",
            )
        )
    return out


def rebuild(out: str | Path, run_id: int | None = None, **latex) -> Outputs:
    """Rebuild the outputs of run ``run_id`` (default: the latest) of run directory ``out`` from
    its ``results.sqlite``, opened read-only (``latex``: as in :func:`build_from`)."""
    path = Path(out) / "results.sqlite"
    if not path.exists():
        raise ValueError(f"{out} has no results.sqlite: not a run directory")
    with Store(path, readonly=True) as store:
        return build(store, out, run_id, **latex)
