"""``report.html`` of a run: what a reader needs first, the rest collapsed.

The page opens with the verdict (:mod:`xaibench.results.verdict_text`), then one section per
(dataset, model): its methods by overall rank, the rank of each method per metric (a heatmap)
and its gallery, with the mean scores per metric category and the model inspection collapsed
under them; then the figures across the run (the leaderboard plots per category collapsed) and
the tradeoffs (their tables collapsed); the details (aggregate ranks, rank stability,
significance tests, models, failed and not-applicable cells) collapsed at the end.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from xaibench._categories import CATEGORIES
from xaibench._checks import file_stem
from xaibench.results import html, tradeoffs, verdict_text
from xaibench.results.tables import wide

LEADERBOARD_TEXT = (
    "Mean score over the explained samples with its bootstrap 95% confidence interval (under "
    "it); ↑ higher is better, ↓ lower is better; **bold** is the best method (the controls, "
    "last and marked, are never bold; means within round-off are ties). Methods that share a "
    "letter are not significantly different from their rank neighbours (paired Wilcoxon "
    "signed-rank tests of adjacent ranks, Holm-corrected, α = 0.05)."
)


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
        "**pareto** marks the points no other point beats on both axes (values within round-off "
        "are equal); the controls are never on a front."
    )


def _headline(v: pd.DataFrame) -> str:
    """What to trust across the run, and what its "no" on a control means."""
    table = verdict_text.summary(v)
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
    """The headline, the summary table and, under it, each (dataset, model)'s cautions."""
    meaning = " ".join(verdict_text.meanings(v))
    table = verdict_text.summary(v)
    cautions = "\n".join(
        f"- **{where}**: {caution}"
        for where, caution in zip(table["where"], table["caution"], strict=True)
        if caution
    )
    return html.Section(
        "Verdict: which method to trust",
        [
            html.Text(_headline(v) + (f" {meaning}" if meaning else "")),
            html.Table(table.drop(columns="caution")),
            html.Text(cautions),
            html.Text(
                verdict_text.RULE + " All rows: `verdict.csv`; the rule: README, The verdict."
            ),
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
            "beats random": [verdict_text.yes_no(b) for b in g["beats_random"]],
            "beats sobel": [verdict_text.yes_no(b) for b in g["beats_sobel"]],
        }
    )


def _by_category(g: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """The leaderboard of one (dataset, model) split by metric category (tables that fit)."""
    order = {c: i for i, c in enumerate(CATEGORIES)}
    cats = sorted(g["category"].unique(), key=lambda c: (order.get(c, len(order)), c))
    return [(c, g[g["category"] == c]) for c in cats]


def _pair_section(key, g, v, models, by_name) -> html.Section:
    """One (dataset, model): its methods by overall rank, its rank heatmap and gallery, and,
    collapsed, its mean scores per category and its model inspection."""
    dataset, model = key
    info = ""
    if (dataset, model) in models.index:
        m = models.loc[(dataset, model)]
        info = f" (test accuracy {m['accuracy']:.3f}, {int(m['params']):,} parameters)"
    rows = v[(v.dataset == dataset) & (v.model == model)]
    blocks: list = [html.Table(_pair_table(rows), f"Methods by overall rank{info}")]
    blocks += [html.Text(c) for c in verdict_text.cautions(rows)]
    stem = file_stem(dataset, model)
    for name, caption in (
        (f"ranks_{stem}.png", "Rank of every method per metric, methods in the verdict's order"),
        (f"gallery_{stem}.png", "Attributions of test samples"),
    ):
        if name in by_name:
            blocks.append(html.Image(by_name[name], caption))
    scores = [html.Text(LEADERBOARD_TEXT)]
    for category, c in _by_category(g):
        header, table = wide(c)
        scores.append(html.Table(pd.DataFrame(table, columns=header), category))
    blocks.append(html.Section("Mean scores per metric", scores, collapsed=True, in_toc=False))
    name = f"inspection_{stem}.png"
    if name in by_name:
        figure = html.Image(by_name[name], "The first layer and its response to one sample")
        blocks.append(html.Section("Model inspection", [figure], collapsed=True, in_toc=False))
    return html.Section(f"{dataset} / {model}", blocks)


def _across(board: pd.DataFrame, tables: dict, made: dict) -> html.Section:
    """The figures across the run: ranks, agreement, curves, tradeoffs (tables collapsed)."""

    def images(group, caption):
        return [html.Image(p, caption(p)) for p in made.get(group, [])]

    return html.Section(
        "Across the run",
        [
            *[
                html.Image(p, "Mean rank of every method per metric over the datasets and models")
                for p in made.get("ranks", [])
                if p.name == "ranks_all.png"
            ],
            html.Section(
                "Means and intervals per metric category",
                images(
                    "leaderboard",
                    lambda p: (
                        f"{p.stem.split('_', 1)[1]}: each method's mean and 95% CI per metric"
                    ),
                ),
                collapsed=True,
            ),
            html.Section(
                "Metric agreement",
                [
                    html.Text(
                        "Spearman correlation between the method rankings of each pair of "
                        "metrics, averaged over datasets and models (the disagreement problem)."
                    ),
                    *images("agreement", lambda p: "Metric agreement"),
                ],
            ),
            html.Section(
                "Curves",
                images("curves", lambda p: f"Mean {p.stem.split('_', 1)[1]} curve with 95% band"),
            ),
            html.Section(
                "Tradeoffs",
                [
                    html.Text(_tradeoffs_text(board)),
                    *images("tradeoffs", lambda p: p.stem.replace("_", " ")),
                    html.Section("Tradeoff tables", _tradeoff_tables(tables), collapsed=True),
                ],
            ),
        ],
    )


def _details(tables: dict, cells: pd.DataFrame) -> html.Section:
    """The tables few read, each collapsed."""
    failures = html.failures_section(cells)
    failures.collapsed = True
    return html.Section(
        "Details",
        [
            html.Section("Aggregate ranks", [html.Table(tables["ranks"])], collapsed=True),
            html.Section(
                "Rank stability",
                [
                    html.Text(
                        "Bootstrap probability that the top method of a metric stays on top."
                    ),
                    html.Table(tables["rank_stability"]),
                ],
                collapsed=True,
            ),
            html.Section(
                "Significance tests",
                [
                    html.Text(
                        "Paired Wilcoxon signed-rank tests of adjacent ranks, Holm-corrected."
                    ),
                    html.Table(tables["significance"]),
                ],
                collapsed=True,
            ),
            html.Section(
                "Metric agreement table",
                [
                    html.Table(
                        tables["metric_agreement"].reset_index(names="metric"), "Spearman rho"
                    )
                ],
                collapsed=True,
            ),
            html.Section(
                "Models",
                [html.Table(tables["models"].drop(columns="key", errors="ignore"))],
                collapsed=True,
            ),
            failures,
        ],
    )


def write(out: Path, *, run: dict, cells: pd.DataFrame, tables: dict, made: dict) -> Path:
    """Write ``out/report.html`` from the run's record, its cells, the computed ``tables`` and
    the plots ``made`` ({group: [paths]})."""
    board, v = tables["leaderboard"], tables["verdict"]
    by_name = {p.name: p for group in made.values() for p in group}
    models = tables["models"].set_index(["dataset", "model"])
    pairs = [
        _pair_section(key, g, v, models, by_name)
        for key, g in board.groupby(["dataset", "model"], sort=True)
    ]
    return html.write_report(
        out / "report.html",
        title=f"xaibench report: {out.name}",
        run=run,
        lead=_verdict_section(v),
        sections=[
            *[t for t in [tables.get("trust_section")] if t is not None],  # results/trust.py
            *pairs,
            _across(board, tables, made),
            _details(tables, cells),
        ],
    )


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
