"""Report tables as LaTeX (booktabs)."""

from __future__ import annotations

import re

import pandas as pd

from xaibench.results.tables import fmt

_SPECIALS = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "|": r"\textbar{}",
}
_SPECIAL_RE = re.compile("|".join(re.escape(c) for c in _SPECIALS))

_UP, _DOWN = r"$\uparrow$", r"$\downarrow$"
_PREAMBLE = r"""% xaibench leaderboard: one table per (dataset, model).
% Needs \usepackage{booktabs} and \usepackage{graphicx} in the document preamble.
"""


def escape(text) -> str:
    """``text`` with the LaTeX special characters escaped, safe in text mode."""
    return _SPECIAL_RE.sub(lambda m: _SPECIALS[m.group()], str(text))


def _num(value) -> str:
    """A number formatted like :func:`xaibench.results.tables.fmt`, in LaTeX text mode."""
    text = fmt(value).replace("–", "--")
    return "$-$" + text[1:] if text.startswith("-") else text


def _label(dataset, model) -> str:
    slug = "-".join(re.sub(r"[^A-Za-z0-9]+", "-", str(s)).strip("-") for s in (dataset, model))
    return f"tab:{slug.lower()}"


def _cell(row: pd.Series | None) -> str:
    if row is None:
        return "--"
    if pd.isna(row["mean"]):
        text = "n/a"
    else:
        text = f"{_num(row['mean'])} [{_num(row['ci_low'])}, {_num(row['ci_high'])}]"
        if pd.notna(row["rank"]) and row["rank"] == 1:
            text = rf"\textbf{{{text}}}"
    tie = row.get("tie")
    if isinstance(tie, str) and tie.strip():
        text += rf"\textsuperscript{{{escape(tie.strip())}}}"
    return text


def _caption(dataset, model, models: pd.DataFrame | None) -> str:
    caption = f"{escape(dataset)} / {escape(model)}"
    if models is not None:
        info = models[(models.dataset == dataset) & (models.model == model)]
        if not info.empty:
            acc, params = info.iloc[0]["accuracy"], info.iloc[0]["params"]
            parts = []
            if pd.notna(acc):
                parts.append(f"test accuracy {acc:.3f}")
            if pd.notna(params):
                parts.append(f"{int(params):,} parameters")
            if parts:
                caption += f" ({', '.join(parts)})"
    return (
        caption + r". Mean score [95\% bootstrap confidence interval]; "
        r"$\uparrow$ higher is better, $\downarrow$ lower is better; bold: rank 1."
    )


def _table(g: pd.DataFrame, dataset, model, models: pd.DataFrame | None) -> str:
    metrics = list(dict.fromkeys(g["metric"]))
    header = ["method"]
    for m in metrics:
        higher = bool(g.loc[g.metric == m, "higher_is_better"].iloc[0])
        header.append(f"{escape(m)} {_UP if higher else _DOWN}")
    rows = []
    for method in sorted(g["method"].unique()):
        cells = [escape(method)]
        for m in metrics:
            r = g[(g.method == method) & (g.metric == m)]
            cells.append(_cell(None if r.empty else r.iloc[0]))
        rows.append(" & ".join(cells) + r" \\")
    spec = "l" + "r" * len(metrics)
    lines = [
        r"\begin{table}[htbp]",
        r"\centering",
        rf"\caption{{{_caption(dataset, model, models)}}}",
        rf"\label{{{_label(dataset, model)}}}",
        # shrink to the line width only when the table is wider than it
        r"\resizebox{\ifdim\width>\linewidth\linewidth\else\width\fi}{!}{%",
        rf"\begin{{tabular}}{{{spec}}}",
        r"\toprule",
        " & ".join(header) + r" \\",
        r"\midrule",
        *rows,
        r"\bottomrule",
        r"\end{tabular}%",
        "}",
        r"\end{table}",
    ]
    return "\n".join(lines)


def leaderboard_latex(board: pd.DataFrame, models: pd.DataFrame | None = None) -> str:
    """The leaderboard as a LaTeX fragment: one booktabs table per (dataset, model).

    Methods are rows and metrics columns (``$\\uparrow$`` higher is better, ``$\\downarrow$``
    lower is better); each cell is ``mean [ci_low, ci_high]``, bold for rank 1, ``n/a`` when the
    method has no finite score, followed by the board's optional ``tie`` marker as a superscript.
    ``models`` (columns dataset, model, accuracy, params) adds test accuracy and parameter count
    to the captions. Each table is labelled ``tab:<dataset>-<model>``.

    Example
    -------
    >>> tex = leaderboard_latex(xb.leaderboard(df), store.models())  # doctest: +SKIP
    >>> Path("leaderboard.tex").write_text(tex)  # doctest: +SKIP
    """
    parts = [_PREAMBLE]
    for (dataset, model), g in board.groupby(["dataset", "model"], sort=True):
        parts.append(_table(g, dataset, model, models))
    return "\n\n".join(parts) + "\n"
