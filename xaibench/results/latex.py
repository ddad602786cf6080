"""Report tables as LaTeX (booktabs) for a paper.

One table per (dataset, model, metric category), or per (dataset, model) for chosen metrics. A
table set in ``\\small`` that would be wider than the line is split into parts, never shrunk: the
widths are estimated from the Computer Modern glyph widths (:func:`text_width`), so that every
table of a 10 pt article fits its 345 pt line at 9 pt, the text legible on paper.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from xaibench._categories import CATEGORIES
from xaibench._text import visible
from xaibench.results.tables import (
    RUNTIME_METRIC,
    RUNTIME_NOTE,
    as_names,
    fmt,
    fmt_time,
    select,
    time_unit,
)

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
    # braced: a row or a line that starts with "[" would be read as the optional argument of \\
    "[": "{[}",
    "]": "{]}",
}
_SPECIAL_RE = re.compile("|".join(re.escape(c) for c in _SPECIALS))

_UP, _DOWN = r"$\uparrow$", r"$\downarrow$"
_UNITS = {"µs": r"$\mu$s"}

#: Width (pt) a table may take: the line of a one-column 10 pt article (``\linewidth``).
LINE_WIDTH = 345.0
#: The tables' font size (pt): ``\small`` in a 10 pt document.
FONT_SIZE = 9.0
#: The tie letters' size (pt): ``\footnotesize`` in a 10 pt document, not the 6 pt of a
#: ``\textsuperscript`` in ``\small``: no text of a table is smaller than 8 pt.
MARK_SIZE = 8.0
_PADDING = 12.0  # 2 \tabcolsep around every column
_MARGIN = 0.97  # of the width a table may fill: the estimate is within 3% of TeX's (measured)
_BOLD = 1.15  # cmbx is this much wider than cmr
_DESIGN = 1.03  # cmr9 is this much wider per pt than cmr10, whose widths _EM holds
# Computer Modern Roman glyph widths in em (cmr10); others count as _OTHER (a wide guess)
_LOWER = (
    ".5 .556 .444 .556 .444 .306 .5 .556 .278 .306 .528 .278 .833 "
    ".556 .5 .556 .528 .392 .394 .389 .556 .528 .722 .528 .528 .444"
)
_EM = {
    **dict.fromkeys("0123456789", 0.5),
    **dict(zip("abcdefghijklmnopqrstuvwxyz", map(float, _LOWER.split()), strict=True)),
    **dict.fromkeys(" .,:;'!", 0.278),
    **dict.fromkeys("[]()/", 0.389),
    "_": 0.5,
    "-": 0.778,  # a number's minus sign (math)
    "↑": 0.5,
    "↓": 0.5,
    "µ": 0.6,
}
_UPPER, _OTHER = 0.75, 0.8


def escape(text) -> str:
    """``text`` with the LaTeX special characters escaped, safe in text mode, every run of
    white space (line breaks included: a blank line would end a caption) as one space, and
    control characters visible (``_text.visible``: pdflatex stops at them)."""
    text = visible(" ".join(str(text).split()))
    return _SPECIAL_RE.sub(lambda m: _SPECIALS[m.group()], text)


def text_width(text: str, *, bold: bool = False, size: float = FONT_SIZE) -> float:
    """Estimated width in pt of the plain ``text`` set in Computer Modern at ``size`` pt: the
    sum of the glyph widths, generous for characters it does not know. Against TeX's widths of
    the quick suite's tables it is 0.97-0.99 of them in Computer Modern (OT1), 0.99-1.02 in
    Latin Modern (T1): ``_MARGIN`` covers both."""
    em = sum(_EM.get(c, _UPPER if c.isupper() else _OTHER) for c in str(text))
    return em * size * _DESIGN * (_BOLD if bold else 1.0)


def _num(value) -> tuple[str, float]:
    """A number formatted like :func:`xaibench.results.tables.fmt`, in LaTeX text mode with true
    minus signs (``2.4e$-$7`` in scientific notation: an exponent as large as the digits), and
    its estimated width."""
    text = fmt(value)
    if text == "–":
        return "--", text_width("--")
    mantissa, e, exponent = text.partition("e")
    plain = mantissa + (f"e{int(exponent)}" if e else "")
    return plain.replace("-", "$-$"), text_width(plain)


def _time(seconds: float, unit: tuple[str, float]) -> str:
    """A finite duration like :func:`xaibench.results.tables.fmt_time`, in LaTeX text mode."""
    value, name = fmt_time(seconds, unit).split(" ")
    return rf"{value}\,{_UNITS.get(name, name)}"


def _superscript(tex: str) -> str:
    r"""``tex`` raised like a superscript but set in ``\footnotesize`` (8 pt in a 10 pt document)."""
    return rf"\raisebox{{0.6ex}}{{\footnotesize {tex}}}"


def _slug(text) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", str(text)).strip("-").lower()


@dataclass(frozen=True)
class _Options:
    """The choices of :func:`leaderboard_latex` that every table follows."""

    ci: bool
    width: float
    subset: bool  # only some methods are shown
    confidence: float
    alpha: float


@dataclass
class _Legend:
    """What the cells of a table show, so that its caption explains exactly that."""

    n: set = field(default_factory=set)
    interval: bool = False
    tie: bool = False
    runtime: bool = False
    na: bool = False
    missing: bool = False

    @classmethod
    def of(cls, columns: list[_Column]) -> _Legend:
        """What the ``columns`` of one table show, together."""
        out = cls()
        for c in columns:
            out.n |= c.legend.n
            for flag in ("interval", "tie", "runtime", "na", "missing"):
                setattr(out, flag, getattr(out, flag) or getattr(c.legend, flag))
        return out


@dataclass
class _Column:
    """One metric's column: header lines (LaTeX), per method the mean line and the interval
    line (LaTeX), and the estimated width in pt."""

    metric: str
    header: list[str]
    cells: dict[str, tuple[str, str]] = field(default_factory=dict)
    width: float = 0.0
    legend: _Legend = field(default_factory=_Legend)


def _mean_cell(row: pd.Series, unit, best, legend: _Legend) -> tuple[str, float]:
    """The mean line of one cell (LaTeX) and its estimated width."""
    if pd.isna(row["mean"]):
        legend.na = True
        return "n/a", text_width("n/a")
    legend.n.add(int(row["n"]))
    if unit is not None:
        tex, plain = _time(row["mean"], unit), fmt_time(row["mean"], unit)
        width = text_width(plain)
    else:
        tex, width = _num(row["mean"])
    bold = best is not None and pd.notna(row["rank"]) and row["rank"] == best
    width *= _BOLD if bold else 1.0
    tex = rf"\textbf{{{tex}}}" if bold else tex
    tie = row.get("tie")
    if isinstance(tie, str) and tie.strip():
        legend.tie = True
        tex += _superscript(escape(tie.strip()))
        width += text_width(tie.strip(), size=MARK_SIZE)
    return tex, width


def _interval_cell(row: pd.Series, legend: _Legend) -> tuple[str, float]:
    """The interval line of one cell, ``[low, high]`` (LaTeX), and its estimated width."""
    if pd.isna(row["mean"]):
        return "", 0.0
    legend.interval = True
    (low, w_low), (high, w_high) = _num(row["ci_low"]), _num(row["ci_high"])
    return f"[{low}, {high}]", w_low + w_high + text_width("[, ]")


def _header(metric: str, higher: bool, data_width: float) -> tuple[list[str], float]:
    """The header of a column: the escaped name and its direction arrow, broken after
    underscores into lines no wider than the data (or than its widest word)."""
    words = re.findall(r"[^_]+_*|_+", metric) or [metric]
    words[-1] += " ↑" if higher else " ↓"
    target = max(data_width, *(text_width(w) for w in words))
    lines: list[str] = []
    for w in words:
        if lines and text_width(lines[-1] + w) <= target:
            lines[-1] += w
        else:
            lines.append(w)
    arrow = _UP if higher else _DOWN
    tex = [escape(line) for line in lines]
    tex[-1] = tex[-1][:-1] + arrow
    return tex, max(text_width(line) for line in lines)


def _column(rows: pd.DataFrame, metric: str, methods: list[str], ci: bool) -> _Column:
    """The column of ``metric`` for ``methods`` (rows: the table's leaderboard rows). Bold is
    the best rank among the methods shown; runtime reads in one unit, without an interval."""
    rows = rows[rows.metric == metric].drop_duplicates("method").set_index("method")
    runtime = metric == RUNTIME_METRIC
    column = _Column(metric, [])
    legend = column.legend
    legend.runtime = runtime
    unit = time_unit(rows["mean"]) if runtime else None
    ranks = pd.to_numeric(rows["rank"].reindex(methods), errors="coerce").dropna()
    best = ranks.min() if len(ranks) else None
    widths = [0.0]
    for method in methods:
        if method not in rows.index:
            legend.missing = True
            column.cells[method] = ("--", "")
            continue
        mean, w_mean = _mean_cell(rows.loc[method], unit, best, legend)
        low_high, w_ci = (
            ("", 0.0) if runtime or not ci else _interval_cell(rows.loc[method], legend)
        )
        column.cells[method] = (mean, low_high)
        widths += [w_mean, w_ci]
    column.header, w_header = _header(metric, bool(rows["higher_is_better"].iloc[0]), max(widths))
    column.width = max(*widths, w_header)
    return column


def column_groups(board: pd.DataFrame, metrics: list[str] | None = None) -> list[tuple]:
    """The tables of one (dataset, model): ``[(category, [metric, ...]), ...]``.

    Without ``metrics``, one table per metric category in report order (``CATEGORIES``, then
    others by name), its metrics by name; with ``metrics``, one table of those that ``board``
    holds, in that order, category None.
    """
    if metrics is not None:
        present = [m for m in metrics if m in set(board["metric"])]
        return [(None, present)] if present else []
    category = board.groupby("metric", sort=True)["category"].first()
    found = set(category)
    order = [c for c in CATEGORIES if c in found] + sorted(found.difference(CATEGORIES))
    return [(c, [m for m, cc in category.items() if cc == c]) for c in order]


def _methods(rows: pd.DataFrame, metrics: list[str]) -> tuple[list[str], list[str]]:
    """The methods with a row for one of ``metrics``, by name: (others, controls), the controls
    read from the board's ``control`` column."""
    shown = sorted(rows.loc[rows.metric.isin(metrics), "method"].unique())
    control = set()
    if "control" in rows:
        flags = rows[["method", "control"]].dropna()
        control = set(flags.loc[flags["control"].astype(bool), "method"])
    return [m for m in shown if m not in control], [m for m in shown if m in control]


def _parts(columns: list[_Column], first: float, width: float) -> list[list[_Column]]:
    """``columns`` split into the fewest consecutive parts that each fit ``width`` beside the
    method column (``first`` pt), as even in their number of columns as that allows. A column
    too wide for any part gets a part of its own."""

    def fits(part):
        return first + _PADDING + sum(c.width + _PADDING for c in part) <= width * _MARGIN

    greedy: list[list[_Column]] = []
    for c in columns:
        if greedy and fits(greedy[-1] + [c]):
            greedy[-1].append(c)
        else:
            greedy.append([c])
    k = len(greedy)
    bounds = np.linspace(0, len(columns), k + 1).round().astype(int)
    even = [columns[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    return even if all(fits(p) for p in even) else greedy


def _models_info(models: pd.DataFrame | None, dataset, model) -> str:
    if models is None:
        return ""
    info = models[(models.dataset == dataset) & (models.model == model)]
    if info.empty:
        return ""
    acc, params = info.iloc[0]["accuracy"], info.iloc[0]["params"]
    parts = [f"test accuracy {acc:.3f}"] if pd.notna(acc) else []
    parts += [f"{int(params):,} parameters"] if pd.notna(params) else []
    return f" ({', '.join(parts)})" if parts else ""


def _n_text(n: set) -> str:
    if not n:
        return "the explained samples"
    low, high = min(n), max(n)
    return (
        f"the $n = {low}$ explained samples"
        if low == high
        else (f"the $n = {low}$--${high}$ explained samples (those with a finite score)")
    )


def _legend_text(legend: _Legend, controls: list[str], opts: _Options) -> str:
    """The caption's key: exactly what the table's cells, marks and rows mean."""
    subset = opts.subset
    text = f"Mean over {_n_text(legend.n)}"
    if legend.interval:
        text += (
            f", with its {opts.confidence * 100:g}\\% percentile bootstrap confidence interval "
            "below it"
        )
    text += (
        r"; $\uparrow$ higher is better, $\downarrow$ lower is better; bold: the best mean of a "
        "column" + (" among the methods shown" if subset else "") + "."
    )
    if legend.tie:
        text += (
            " Superscript letters: in a column, methods that share a letter form a chain of rank "
            "neighbours with no significant gap between adjacent ones (two-sided paired Wilcoxon "
            "signed-rank test of each method against the next ranked one, Holm-corrected over "
            f"the column's tests, $\\alpha = {opts.alpha:g}$); the ends of a chain may still differ"
            + (
                " (the tests compared all methods of the run, not only those shown)"
                if subset
                else ""
            )
            + "."
        )
    if legend.runtime:
        text += " " + escape(RUNTIME_NOTE)
    if controls:
        text += (
            " In italics below the rule: the controls ("
            + ", ".join(escape(c) for c in controls)
            + "), references an explanation method should beat."
        )
    keys = ["n/a: no finite score"] * legend.na + ["--: not evaluated"] * legend.missing
    return text + (" " + "; ".join(keys) + "." if keys else "")


def _rows(columns: list[_Column], methods: list[str], italic: bool, ci: bool) -> list[str]:
    lines = []
    for i, method in enumerate(methods):
        name = rf"\textit{{{escape(method)}}}" if italic else escape(method)
        lines.append(" & ".join([name] + [c.cells[method][0] for c in columns]) + r" \\")
        if ci and any(c.cells[method][1] for c in columns):
            lines.append(" & ".join([""] + [c.cells[method][1] for c in columns]) + r" \\")
            if i < len(methods) - 1:
                lines.append(r"\addlinespace[0.3em]")
    return lines


def _tabular(columns: list[_Column], methods: list[str], controls: list[str], ci: bool) -> list:
    header = ["method"] + [
        r"\shortstack[r]{" + r"\\".join(c.header) + "}" if len(c.header) > 1 else c.header[0]
        for c in columns
    ]
    body = _rows(columns, methods, False, ci)
    if controls:
        body += ([r"\midrule"] if body else []) + _rows(columns, controls, True, ci)
    return [
        rf"\begin{{tabular}}{{l{'r' * len(columns)}}}",
        r"\toprule",
        " & ".join(header) + r" \\",
        r"\midrule",
        *body,
        r"\bottomrule",
        r"\end{tabular}",
    ]


def _tables(
    rows: pd.DataFrame, key: tuple, group: tuple, opts: _Options, labels: set, models
) -> list[str]:
    """The LaTeX tables of one (dataset, model) and one column group: one, or its parts."""
    (dataset, model), (category, metrics) = key, group
    methods, controls = _methods(rows, metrics)
    columns = [_column(rows, m, methods + controls, opts.ci) for m in metrics]
    first = max(text_width(m) for m in ["method", *methods, *controls])
    parts = _parts(columns, first, opts.width)
    title = f"{escape(dataset)} / {escape(model)}"
    what = f": {escape(category)} metrics" if category else ""
    out = []
    for i, part in enumerate(parts, 1):
        caption_key = _legend_text(_Legend.of(part), controls, opts)
        of = f" (part {i} of {len(parts)})" if len(parts) > 1 else ""
        label = _label(labels, dataset, model, category, i if len(parts) > 1 else None)
        out.append(
            "\n".join(
                [
                    r"\begin{table}[htbp]",
                    r"\centering",
                    rf"\caption[{title}{what}{of}]"
                    rf"{{{title}{_models_info(models, dataset, model)}{what}{of}. {caption_key}}}",
                    rf"\label{{{label}}}",
                    r"\small",
                    *_tabular(part, methods, controls, opts.ci),
                    r"\end{table}",
                ]
            )
        )
    return out


def _label(taken: set, *parts) -> str:
    """``tab:<dataset>-<model>[-<category>][-<part>]``, made unique within the file (names that
    differ only in punctuation would share one)."""
    label = "tab:" + "-".join(_slug(p) for p in parts if p is not None and _slug(p))
    unique, k = label, 2
    while unique in taken:
        unique, k = f"{label}-{k}", k + 1
    taken.add(unique)
    return unique


def leaderboard_latex(
    board: pd.DataFrame,
    models: pd.DataFrame | None = None,
    *,
    ci: bool = True,
    methods=None,
    metrics=None,
    width: float = LINE_WIDTH,
    confidence: float = 0.95,
    alpha: float = 0.05,
) -> str:
    """The leaderboard as LaTeX tables for a paper (needs ``\\usepackage{booktabs}``).

    One table per (dataset, model, metric category) in report order; with ``metrics`` (a list of
    names), one table per (dataset, model) of those metrics in that order instead (e.g.
    ``["deletion", "insertion", "runtime"]`` puts the cost beside the faithfulness).
    ``methods`` keeps those rows (bold then marks the best of them). Unknown method or metric
    names raise a ValueError naming them (:func:`xaibench.results.tables.select`).

    Methods are rows by name, the controls (the board's ``control`` column) in italics below a
    rule; metrics are columns with their direction arrow. A cell is the mean, bold for the best
    rank of the column, with the board's ``tie`` letter as a superscript, and with ``ci`` its
    ``[ci_low, ci_high]`` on the line below; runtime is a duration in one unit per table
    (``12.3\\,ms``) without an interval; ``n/a`` where a method has no finite score, ``--``
    where it was not evaluated. Each caption states what its table shows: the samples ``n``,
    the ``confidence`` level of the intervals and the test behind the letters (Wilcoxon,
    Holm, ``alpha``): pass the values the board was computed with. ``models`` (dataset, model,
    accuracy, params) adds the test accuracy and parameter count.

    Tables are set in ``\\small``; one whose estimated width exceeds ``width`` pt (default: the
    line of a 10 pt one-column article) is split into parts by columns, never shrunk. Labels
    are ``tab:<dataset>-<model>-<category>`` (``-1``, ``-2``... for parts; without the category
    for chosen metrics).

    Example
    -------
    >>> tex = leaderboard_latex(board, models, metrics=["deletion", "runtime"])  # doctest: +SKIP
    >>> Path("leaderboard.tex").write_text(tex)  # doctest: +SKIP
    """
    shown = select(board, methods=methods, metrics=metrics)
    metrics = as_names(metrics)
    opts = _Options(bool(ci), float(width), methods is not None, confidence, alpha)
    labels: set = set()
    parts = [
        "% xaibench leaderboard: one table per (dataset, model"
        + (", metric category)." if metrics is None else ") of the chosen metrics.")
        + "\n% Needs \\usepackage{booktabs}. Tables wider than "
        + f"{width:g} pt are split into parts, never shrunk.\n"
    ]
    for key, rows in shown.groupby(["dataset", "model"], sort=True):
        for group in column_groups(rows, metrics):
            parts += _tables(rows, key, group, opts, labels, models)
    return "\n\n".join(parts) + "\n"
