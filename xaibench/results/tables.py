"""Report tables as Markdown."""

from __future__ import annotations

import numpy as np
import pandas as pd


def fmt(value: float) -> str:
    """A compact number: 4 significant digits, scientific notation when very small or large."""
    if value is None or not np.isfinite(value):
        return "–"
    if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e5):
        return f"{value:.2e}"
    return f"{value:.4g}"


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def wide(board: pd.DataFrame, tie: str = "<sup>{}</sup>") -> tuple[list[str], list[list[str]]]:
    """Methods as rows, metrics as columns (with direction arrows) for one (dataset, model).

    Each entry is ``mean [ci_low, ci_high]``, bold for rank 1, followed by the method's tie
    marker formatted with ``tie`` where the board has a ``tie`` column (``xaibench.results.stats``).
    """
    metrics = list(dict.fromkeys(board["metric"]))
    arrows = {
        m: "↑" if board.loc[board.metric == m, "higher_is_better"].iloc[0] else "↓" for m in metrics
    }
    header = ["method"] + [f"{m} {arrows[m]}" for m in metrics]
    rows = []
    for method in sorted(board["method"].unique()):
        row = [method]
        for m in metrics:
            r = board[(board.method == method) & (board.metric == m)]
            if r.empty:
                row.append("")
                continue
            r = r.iloc[0]
            text = f"{fmt(r['mean'])} [{fmt(r['ci_low'])}, {fmt(r['ci_high'])}]"
            text = f"**{text}**" if pd.notna(r["rank"]) and r["rank"] == 1 else text
            marker = r.get("tie", "")
            row.append(text + tie.format(marker) if isinstance(marker, str) and marker else text)
        rows.append(row)
    return header, rows


def leaderboard_markdown(board: pd.DataFrame, models: pd.DataFrame | None = None) -> str:
    """The leaderboard as Markdown: one section per (dataset, model)."""
    parts = [
        "# Leaderboard",
        "",
        "Mean score over the explained samples with its bootstrap 95% confidence interval; "
        "↑ higher is better, ↓ lower is better; **bold** is rank 1. Methods of a metric that share "
        "a letter are not significantly different from their rank neighbours (paired Wilcoxon "
        "signed-rank tests of adjacent ranks, Holm-corrected, α = 0.05).",
    ]
    for (dataset, model), g in board.groupby(["dataset", "model"], sort=True):
        title = f"## {dataset} / {model}"
        if models is not None:
            info = models[(models.dataset == dataset) & (models.model == model)]
            if not info.empty:
                acc, params = info.iloc[0]["accuracy"], info.iloc[0]["params"]
                title += f" (test accuracy {acc:.3f}, {int(params):,} parameters)"
        header, rows = wide(g)
        parts += ["", title, "", markdown_table(header, rows)]
    return "\n".join(parts) + "\n"
