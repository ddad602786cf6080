"""Writing a run directory's outputs from its store alone.

``write_outputs`` turns the scores, curves and artifacts of one run in ``results.sqlite`` into the
tables (CSV, Markdown, LaTeX), the statistics, the tradeoffs, the plots and ``report.html``;
``xaibench report DIR`` calls it again on an existing run directory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from xaibench._checks import file_stem
from xaibench.results import html, plots, stats, tradeoffs
from xaibench.results.latex import leaderboard_latex
from xaibench.results.leaderboard import leaderboard
from xaibench.results.tables import leaderboard_markdown, wide
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
        "**pareto** marks the points no other point beats on both axes."
    )


@dataclass
class Outputs:
    """What ``write_outputs`` computed and wrote."""

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
    }


def _tables(store: Store, run_id: int, out: Path, tables: dict) -> list[Path]:
    board, models = tables["leaderboard"], tables["models"]
    files = [
        _write_text(out / "leaderboard.csv", board.to_csv(index=False)),
        _write_text(out / "leaderboard.md", leaderboard_markdown(board, models)),
        _write_text(out / "leaderboard.tex", leaderboard_latex(board, models)),
        _write_text(out / "tradeoffs.csv", tables["tradeoffs"].to_csv(index=False)),
    ]
    for name in ("ranks", "significance", "rank_stability", "tradeoff_summary"):
        files.append(_write_text(out / f"{name}.csv", tables[name].to_csv(index=False)))
    files.append(_write_text(out / "metric_agreement.csv", tables["metric_agreement"].to_csv()))
    return files


def _plots(store: Store, run_id: int, out: Path, tables: dict) -> dict[str, list[Path]]:
    """Every plot of the run, grouped for the report: {group: [paths]}."""
    board, d = tables["leaderboard"], out / "plots"
    made: dict[str, list] = {
        "leaderboard": [plots.leaderboard_plot(board, d / "leaderboard.png")],
        "ranks": [plots.rank_heatmap(board, d / "ranks.png")],
        "agreement": [plots.agreement_heatmap(tables["metric_agreement"], d / "agreement.png")],
        "curves": [
            plots.curves_plot(store.metric_curves(m, run_id), m, d / f"curves_{file_stem(m)}.png")
            for m in store.curve_metrics(run_id)
        ],
        "tradeoffs": tradeoffs.tradeoff_plots(board, tables["models"], d),
        "gallery": _galleries(store, run_id, d),
        "inspection": [
            plots.inspection_plot(
                d / f"inspection_{file_stem(v['dataset'], v['model'])}.png",
                input=v["x"],
                filters=v["filters"],
                activations=v["activations"],
                title=f"{v['dataset']} / {v['model']}: first layer ({v['layer']}) and its "
                "response to one sample",
            )
            for v in store.artifacts("inspection", run_id)
        ],
    }
    return {k: [p for p in v if p is not None] for k, v in made.items()}


def _galleries(store: Store, run_id: int, d: Path) -> list[Path | None]:
    maps: dict[tuple, dict] = {}
    for a in store.artifacts("gallery", run_id):
        maps.setdefault((a["dataset"], a["model"]), {})[a["method"]] = a["attributions"]
    paths = []
    for inputs in store.artifacts("inputs", run_id):
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
            )
        )
    return paths


def write_outputs(store: Store, out: str | Path, run_id: int | None = None) -> pd.DataFrame:
    """Write every output of run ``run_id`` (default: the latest run in the store) into ``out``
    and return its leaderboard (with the tie markers of ``stats.add_ties``)."""
    return build(store, out, run_id).board


def build(store: Store, out: str | Path, run_id: int | None = None) -> Outputs:
    """Compute and write the tables, statistics, tradeoffs, plots and ``report.html`` of a run."""
    out = Path(out)
    run = store.run(run_id)
    if run is None:
        raise ValueError(
            f"{store.path} holds no run yet"
            if run_id is None
            else f"{store.path} holds no run {run_id}"
        )
    scores = store.scores(run["id"])
    board = leaderboard(scores)
    if board.empty:
        _write_text(out / "leaderboard.csv", board.to_csv(index=False))
        tables = {"leaderboard": board}
        path = html.write_report(
            out / "report.html",
            title=f"xaibench report: {out.name}",
            run=run,
            sections=[html.failures_section(store.cells(run["id"]))],
        )
        return Outputs(board, tables, [out / "leaderboard.csv", path])
    tables = _statistics(scores, board)
    models = store.models(run["id"])
    tables["models"] = models
    tables["tradeoffs"] = tradeoffs.tradeoffs_table(board, models)
    tables["tradeoff_summary"] = tradeoffs.tradeoff_summary(board, models)
    files = _tables(store, run["id"], out, tables)
    made = _plots(store, run["id"], out, tables)
    files += [p for group in made.values() for p in group]
    files.append(_report(store, run, out, tables, made))
    return Outputs(tables["leaderboard"], tables, files)


def _report(store: Store, run: dict, out: Path, tables: dict, made: dict) -> Path:
    board = tables["leaderboard"]
    Image, Section, Table, Text = html.Image, html.Section, html.Table, html.Text
    images = lambda group, caption: [Image(p, caption(p)) for p in made.get(group, [])]  # noqa: E731
    boards = []
    models = tables["models"].set_index(["dataset", "model"])
    for (dataset, model), g in board.groupby(["dataset", "model"], sort=True):
        header, rows = wide(g)
        info = ""
        if (dataset, model) in models.index:
            m = models.loc[(dataset, model)]
            info = f" (test accuracy {m['accuracy']:.3f}, {int(m['params']):,} parameters)"
        boards.append(Table(pd.DataFrame(rows, columns=header), f"{dataset} / {model}{info}"))
    sections = [
        Section(
            "Leaderboard",
            [
                Text(
                    "Mean score over the explained samples with its bootstrap 95% confidence "
                    "interval; ↑ higher is better, ↓ lower is better; **bold** is rank 1. "
                    "Methods that share a letter are not significantly different from their "
                    "rank neighbours (paired Wilcoxon signed-rank tests of adjacent ranks, "
                    "Holm-corrected, α = 0.05)."
                ),
                *boards,
                *images("leaderboard", lambda p: "Each method's mean and 95% CI per metric"),
            ],
        ),
        Section(
            "Rankings",
            [
                Text(
                    "Mean rank per category and overall (the mean of the category ranks; "
                    "cost is reported but not part of the overall rank)."
                ),
                Table(tables["ranks"], "Aggregate ranks"),
                *images("ranks", lambda p: "Rank of every method per metric"),
                Table(
                    tables["rank_stability"],
                    "Rank stability: bootstrap probability that the top method stays top",
                ),
                Table(tables["significance"], "Adjacent-rank tests (Wilcoxon, Holm)"),
            ],
        ),
        Section(
            "Metric agreement",
            [
                Text(
                    "Spearman correlation between the method rankings of each pair of metrics, "
                    "averaged over datasets and models (the disagreement problem)."
                ),
                Table(tables["metric_agreement"].reset_index(names="metric"), "Spearman rho"),
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
                Table(tables["tradeoff_summary"], "How strong each relationship is (Spearman)"),
                *images("tradeoffs", lambda p: p.stem.replace("_", " ")),
                Table(tables["tradeoffs"], "tradeoffs.csv"),
            ],
        ),
        Section("Saliency gallery", images("gallery", lambda p: p.stem.replace("_", " "))),
        Section("Model inspection", images("inspection", lambda p: p.stem.replace("_", " "))),
        Section("Models", [Table(tables["models"].drop(columns="key", errors="ignore"))]),
        html.failures_section(store.cells(run["id"])),
    ]
    return html.write_report(
        out / "report.html", title=f"xaibench report: {out.name}", run=run, sections=sections
    )


def rebuild(out: str | Path, run_id: int | None = None) -> Outputs:
    """Rebuild the outputs of run ``run_id`` (default: the latest) of run directory ``out`` from
    its ``results.sqlite``, opened read-only."""
    path = Path(out) / "results.sqlite"
    if not path.exists():
        raise ValueError(f"{out} has no results.sqlite: not a run directory")
    with Store(path, readonly=True) as store:
        return build(store, out, run_id)
