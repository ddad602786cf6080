"""Report tables as Markdown."""

from __future__ import annotations

import html
import re

import numpy as np
import pandas as pd

# Markdown's own characters where they act: backslash, code, emphasis, links, table cells,
# strikethrough, headings; an underscore only at a word's edge (inside a word it is literal).
_MARKDOWN = re.compile(r"[\\`*\[\]|~#!]|(?<!\w)_|_(?!\w)")


def md_escape(text) -> str:
    r"""``text`` shown as written in Markdown (GitHub's included): HTML characters as entities,
    Markdown characters backslash-escaped, line breaks as spaces. The one rule for every
    user-supplied string (dataset, model, method and metric names) in a Markdown file.

    >>> print(md_escape('"><img src=x onerror=alert(2)> | a*b_c'))
    "&gt;&lt;img src=x onerror=alert(2)&gt; \| a\*b_c
    """
    text = html.escape(" ".join(str(text).split()), quote=False)
    return _MARKDOWN.sub(lambda m: "\\" + m.group(0), text)


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


def wide(
    board: pd.DataFrame, tie: str = "<sup>{}</sup>", name=str
) -> tuple[list[str], list[list[str]]]:
    """Methods as rows, metrics as columns (with direction arrows) for one (dataset, model).

    Each entry is ``mean [ci_low, ci_high]``, bold for rank 1, followed by the method's tie
    marker formatted with ``tie`` where the board has a ``tie`` column (``xaibench.results.stats``).
    Method and metric names are passed through ``name`` (an output format's escaping).
    """
    metrics = list(dict.fromkeys(board["metric"]))
    arrows = {
        m: "↑" if board.loc[board.metric == m, "higher_is_better"].iloc[0] else "↓" for m in metrics
    }
    header = ["method"] + [f"{name(m)} {arrows[m]}" for m in metrics]
    rows = []
    for method in sorted(board["method"].unique()):
        row = [name(method)]
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
        title = f"## {md_escape(dataset)} / {md_escape(model)}"
        if models is not None:
            info = models[(models.dataset == dataset) & (models.model == model)]
            if not info.empty:
                acc, params = info.iloc[0]["accuracy"], info.iloc[0]["params"]
                title += f" (test accuracy {acc:.3f}, {int(params):,} parameters)"
        header, rows = wide(g, name=md_escape)
        parts += ["", title, "", markdown_table(header, rows)]
    return "\n".join(parts) + "\n"
