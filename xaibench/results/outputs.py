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

from xaibench._checks import file_stem
from xaibench.results import (
    html,
    paper_figures,
    plots,
    report,
    stats,
    tradeoffs,
    trust,
    verdict,
    verdict_text,
)
from xaibench.results._figures import pdf_of
from xaibench.results.drawing import Drawing, Job, workers_for
from xaibench.results.latex import leaderboard_latex
from xaibench.results.latex_cells import LINE_WIDTH, parse_width
from xaibench.results.leaderboard import leaderboard
from xaibench.results.tables import (
    csv_text,
    leaderboard_markdown,
    markdown_table,
    md_escape,
    select,
)
from xaibench.store import Store


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


def _with_classes(data: RunData) -> pd.DataFrame:
    """The run's models with their number of ``classes`` (from the gallery's inputs, which
    hold the dataset's class names; NaN where there are none)."""
    classes = {(a["dataset"], a["model"]): len(a["class_names"]) for a in data.artifacts("inputs")}
    keys = zip(data.models["dataset"], data.models["model"], strict=True)
    return data.models.assign(classes=[classes.get(k, float("nan")) for k in keys])


def _write_text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


def _statistics(scores: pd.DataFrame, board: pd.DataFrame, models) -> dict[str, pd.DataFrame]:
    sig = stats.significance(scores, board)
    return {
        "leaderboard": stats.add_ties(board, sig),
        "significance": sig,
        "ranks": stats.aggregate_ranks(board),
        "rank_stability": stats.rank_stability(scores),
        "metric_agreement": stats.metric_agreement(board),
        "verdict": verdict.verdict(scores, models),
    }


def verdict_markdown(v: pd.DataFrame) -> str:
    """The verdict as the first section of ``leaderboard.md``."""
    table = verdict_text.summary(v)
    header = list(table.columns)
    rows = [[md_escape(x) for x in row] for row in table.itertuples(index=False)]
    meanings = [md_escape(m) + "\n" for m in verdict_text.meanings(v)]
    return "\n".join(
        ["# Verdict", "", verdict_text.RULE, "", markdown_table(header, rows), "", *meanings, ""]
    )


def _tables(out: Path, tables: dict, latex: dict) -> list[Path]:
    board, models, trusted = tables["leaderboard"], tables["models"], tables["trust"]
    markdown = verdict_markdown(tables["verdict"]) + trust.markdown(trusted)
    markdown += leaderboard_markdown(board, models)
    files = [
        _write_text(out / "verdict.csv", csv_text(tables["verdict"])),
        _write_text(out / "leaderboard.csv", csv_text(board)),
        _write_text(out / "leaderboard.md", markdown),
        _write_text(out / "leaderboard.tex", leaderboard_latex(board, models, **latex)),
        _write_text(out / "tradeoffs.csv", csv_text(tables["tradeoffs"])),
    ]
    for name in ("ranks", "significance", "rank_stability", "tradeoff_summary"):
        files.append(_write_text(out / f"{name}.csv", csv_text(tables[name])))
    agreement = csv_text(tables["metric_agreement"], index=True)
    files.append(_write_text(out / "metric_agreement.csv", agreement))
    for name, table in (("meta", trusted.meta), ("sweep", trusted.sweep)):
        if not table.empty:
            files.append(_write_text(out / f"{name}.csv", csv_text(table)))
        else:  # an earlier run's into this directory would be taken for this one's
            (out / f"{name}.csv").unlink(missing_ok=True)
    return files


# The figure groups of the report, in its order; the column figures (vector PDFs) last.
GROUPS = ["leaderboard", "ranks", "agreement", "curves", "tradeoffs", "gallery", "inspection"]


def _figure_jobs(data: RunData, board: pd.DataFrame, models: pd.DataFrame, d: Path) -> dict:
    """The figures drawn from the leaderboard alone (before the statistics): {group: jobs},
    the groups of the most costly figures first (the workers take the jobs from the front)."""
    controls = set(board.loc[tradeoffs.control_mask(board), "method"])
    return {
        "curves": [
            Job(
                plots.curves_plot,
                (data.curves(m), m, d / f"curves_{file_stem(m)}.png"),
                {"controls": controls, "order": _best_first(board, m)},
            )
            for m in data.curve_metrics
        ],
        "tradeoffs": tradeoffs.tradeoff_jobs(board, models, d),
        "leaderboard": plots.leaderboard_jobs(board, d),
        "ranks": plots.rank_heatmap_jobs(board, d),
        "gallery": _gallery_jobs(data, d, controls),
        "inspection": [
            Job(
                plots.inspection_plot,
                (d / f"inspection_{file_stem(v['dataset'], v['model'])}.png",),
                {
                    "input": v["x"],
                    "filters": v["filters"],
                    "activations": v["activations"],
                    "title": f"{v['dataset']} / {v['model']}: first layer ({v['layer']}) and "
                    "its response to one sample",
                },
            )
            for v in data.artifacts("inspection")
        ],
        "columns": paper_figures.tradeoff_column_jobs(board, models, d),
    }


def _agreement_jobs(matrix: pd.DataFrame, d: Path) -> dict:
    """The figures of the metric agreement (a statistic): {group: jobs}."""
    return {
        "agreement": [Job(plots.agreement_heatmap, (matrix, d / "agreement.png"))],
        "agreement_column": [
            Job(paper_figures.agreement_column, (matrix, d / "agreement_column.pdf"))
        ],
    }


def _best_first(board: pd.DataFrame, metric: str) -> dict[tuple, list[str]]:
    """Per (dataset, model): the methods by their rank on ``metric`` (unranked last), then name."""
    rows = board[board["metric"] == metric].assign(
        rank=lambda b: pd.to_numeric(b["rank"], errors="coerce")
    )
    rows = rows.sort_values(["rank", "method"], na_position="last")
    return {key: list(g["method"]) for key, g in rows.groupby(["dataset", "model"], sort=False)}


def _gallery_jobs(data: RunData, d: Path, controls: set[str]) -> list[Job]:
    maps: dict[tuple, dict] = {}
    for a in data.artifacts("gallery"):
        maps.setdefault((a["dataset"], a["model"]), {})[a["method"]] = a["attributions"]
    jobs = []
    for inputs in data.artifacts("inputs"):
        key = (inputs["dataset"], inputs["model"])
        if key not in maps:
            continue
        names = list(inputs["feature_names"]) if "feature_names" in inputs else None
        kwargs = {
            "title": f"{key[0]} / {key[1]}: attributions of {len(inputs['x'])} test samples",
            "targets": inputs["y"],
            "class_names": list(inputs["class_names"]),
            "feature_names": names,
            "controls": controls,
        }
        path = d / f"gallery_{file_stem(*key)}.png"
        jobs.append(Job(plots.gallery_plot, (inputs["x"], maps[key], path), kwargs))
    return jobs


def write_outputs(store: Store, out: str | Path, run_id: int | None = None) -> pd.DataFrame:
    """Write every output of run ``run_id`` (default: the latest run in the store) into ``out``
    and return its leaderboard (with the tie markers of ``stats.add_ties``)."""
    return build(store, out, run_id).board


def build(store: Store, out: str | Path, run_id: int | None = None, **options) -> Outputs:
    """Compute and write the verdict, tables, statistics, tradeoffs, plots and ``report.html``
    of a run of ``store`` (``options``: the paper tables' and ``workers``, as in
    :func:`build_from`)."""
    return build_from(RunData.from_store(store, run_id), out, **options)


def build_from(
    data: RunData,
    out: str | Path,
    *,
    ci: bool = True,
    methods: list[str] | None = None,
    metrics: list[str] | None = None,
    width: float | str = LINE_WIDTH,
    workers: int | None = None,
) -> Outputs:
    """Compute and write every output of ``data`` into ``out``. ``ci``, ``methods``,
    ``metrics`` and ``width`` choose what ``leaderboard.tex`` shows (intervals; a subset of
    methods and metrics; the line its tables fit: ``latex.parse_width``), checked before
    anything is written; the other outputs hold everything. The figures are drawn by this
    process and ``workers`` worker processes at the same time (default: as many as pay,
    ``drawing.workers_for``; 0: here only), the same files either way."""
    select(data.scores, methods=methods, metrics=metrics)  # ValueError before any work
    latex = {"ci": ci, "methods": methods, "metrics": metrics, "width": parse_width(width)}
    out = Path(out)
    board = leaderboard(data.scores)
    if board.empty:
        _write_text(out / "leaderboard.csv", csv_text(board))
        path = html.write_report(
            out / "report.html",
            title=f"xaibench report: {out.name}",
            run=data.run,
            sections=[html.failures_section(data.cells)],
        )
        return Outputs(board, {"leaderboard": board}, [out / "leaderboard.csv", path])
    models, d = _with_classes(data), out / "plots"
    early = _figure_jobs(data, board, models, d)
    jobs = sum(len(group) for group in early.values()) + 2  # and the agreement's two
    with Drawing(workers_for(jobs) if workers is None else workers) as drawing:
        drawing.submit(early)  # drawn while the statistics are computed
        tables = _statistics(data.scores, board, models)
        tables["trust"] = data.trust_data(verdict.recommended)  # meta-evaluation, sweeps: if any
        tables["verdict"] = trust.annotate(tables["verdict"], board, tables["trust"])
        tables["models"] = models
        tables["tradeoffs"] = tradeoffs.tradeoffs_table(board, data.models)
        tables["tradeoff_summary"] = tradeoffs.tradeoff_summary(board, data.models)
        files = _tables(out, tables, latex)
        drawing.submit(_agreement_jobs(tables["metric_agreement"], d))
        tables["trust_section"], trusted = trust.section(tables["trust"], d)
        drawn = drawing.drawn()
    made = {group: drawn.get(group, []) for group in GROUPS} | {"trust": trusted}
    files += [p for group in made.values() for p in group]
    files += [pdf_of(p) for group in made.values() for p in group]  # each figure for print
    files += drawn.get("agreement_column", []) + drawn.get("columns", [])
    files.append(report.write(out, run=data.run, cells=data.cells, tables=tables, made=made))
    return Outputs(tables["leaderboard"], tables, files)


def rebuild(
    out: str | Path, run_id: int | None = None, *, to: str | Path | None = None, **options
) -> Outputs:
    """Rebuild the outputs of run ``run_id`` (default: the latest) of run directory ``out`` from
    its ``results.sqlite``, opened read-only, into ``to`` (default: ``out`` itself; another
    folder leaves ``out`` untouched) (``options``: as in :func:`build_from`)."""
    path = Path(out) / "results.sqlite"
    if not path.exists():
        raise ValueError(f"{out} has no results.sqlite: not a run directory")
    with Store(path, readonly=True) as store:
        return build(store, out if to is None else to, run_id, **options)
