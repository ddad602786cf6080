"""Report tables as LaTeX (booktabs) for a paper.

One table set per (dataset, model): its metrics as columns, grouped under their categories in
report order (or the chosen metrics in the chosen order), the methods as rows, the controls in
italics below a rule. A set wider than the line is split into parts by columns, never shrunk:
the widths are estimated from the Computer Modern glyph widths (:func:`text_width`), so that
every part fits the line it is made for (``width``: 345 pt, the line of a 10 pt one-column
article, unless told; ``--tex-width 6.5in``) at 9 pt, legible on paper. The first part carries
the caption that explains the set (or, when an earlier set's says the same, refers to that
table); the others say which set they continue.

Every number of a column has the same decimals (:data:`DIGITS` significant digits of the
column's largest mean; a column of very small or large scores is scaled by a power of ten named
in its header; durations in one unit, with the decimals of the column's median), and its mean
and interval are aligned on the decimal point and the comma: a metric takes two columns,
``r@{}l``, split there. Needs only ``\\usepackage{booktabs}``.
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from xaibench._categories import CATEGORIES
from xaibench._text import visible
from xaibench.results.latex_cells import (
    _BOLD,
    _DOWN,
    _MARGIN,
    _PADDING,
    _UP,
    DIGITS,
    FONT_SIZE,
    LINE_WIDTH,
    MARK_SIZE,
    _Format,
    _Legend,
    _superscript,
    parse_width,
    text_width,
)
from xaibench.results.tables import RUNTIME_METRIC, RUNTIME_NOTE, as_names, control_mask, select

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


def escape(text) -> str:
    """``text`` with the LaTeX special characters escaped, safe in text mode, every run of
    white space (line breaks included: a blank line would end a caption) as one space, and
    control characters visible (``_text.visible``: pdflatex stops at them)."""
    text = visible(" ".join(str(text).split()))
    return _SPECIAL_RE.sub(lambda m: _SPECIALS[m.group()], text)


def _slug(text) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", str(text)).strip("-").lower()


@dataclass(frozen=True)
class _Options:
    """The choices of :func:`leaderboard_latex` that every table follows."""

    ci: bool
    width: float
    subset: bool  # only some methods are shown
    chosen: bool  # the metrics were chosen: their order, no category spans
    confidence: float
    alpha: float


@dataclass
class _Column:
    """One metric: its header lines (LaTeX), per method the cells of its two columns on the
    mean's line and on the interval's (LaTeX; None: n/a or not evaluated), and the widths."""

    metric: str
    category: str | None
    header: list[str]
    cells: dict[str, tuple] = field(default_factory=dict)
    left: float = 0.0  # the widths of its two columns (pt)
    right: float = 0.0
    legend: _Legend = field(default_factory=_Legend)

    @property
    def width(self) -> float:
        return self.left + self.right


def _mean_cells(row: pd.Series, form: _Format, bold: bool, legend: _Legend):
    """The mean split at the point, bold for the best method, its tie letter after it."""
    legend.n.add(int(row["n"]))
    whole, fraction, w_whole, w_fraction = form.split(row["mean"])
    if bold:
        whole, fraction = rf"\textbf{{{whole}}}", rf"\textbf{{{fraction}}}" if fraction else ""
        w_whole, w_fraction = w_whole * _BOLD, w_fraction * _BOLD
    tie = row.get("tie")
    if isinstance(tie, str) and tie.strip():
        legend.tie = True
        fraction += _superscript(escape(tie.strip()))
        w_fraction += text_width(tie.strip(), size=MARK_SIZE)
    return (whole, fraction), (w_whole, w_fraction)


def _interval_cells(row: pd.Series, form: _Format, legend: _Legend):
    """``[low, high]`` split after the comma, which sits under the mean's point, in
    ``\footnotesize`` (8 pt, the smallest text of a table)."""
    legend.interval = True
    (lw, lf, a, b), (hw, hf, c, d) = form.split(row["ci_low"]), form.split(row["ci_high"])
    small = MARK_SIZE / FONT_SIZE  # in \footnotesize, as the tie letters: 8 pt
    widths = (small * (text_width("[,") + a + b), small * (text_width(" ]") + c + d))
    return (rf"{{\footnotesize [{lw}{lf},}}", rf"{{\footnotesize \,{hw}{hf}]}}"), widths


def _column(rows: pd.DataFrame, metric: str, methods: list[str], controls: set, ci: bool):
    """The column of ``metric`` for ``methods`` (rows: the table's leaderboard rows). Bold is
    the best rank among the methods shown that are not controls; runtime reads in one unit,
    without an interval."""
    rows = rows[rows.metric == metric].drop_duplicates("method").set_index("method")
    runtime = metric == RUNTIME_METRIC
    form = _Format.of(rows["mean"], runtime)
    category = rows["category"].iloc[0] if "category" in rows else None
    column = _Column(metric, category, [])
    legend = column.legend
    legend.runtime, legend.scaled = runtime, form.scale != 1.0 and not runtime
    ranks = pd.to_numeric(
        rows["rank"].reindex([m for m in methods if m not in controls]), errors="coerce"
    )
    best = ranks.min() if ranks.notna().any() else None
    lefts, rights = [0.0], [0.0]
    for method in methods:
        if method not in rows.index or pd.isna(rows.loc[method, "mean"]):
            legend.missing |= method not in rows.index
            legend.na |= method in rows.index
            column.cells[method] = ("--" if method not in rows.index else "n/a", None)
            lefts.append(text_width("n/a") / 2)
            rights.append(text_width("n/a") / 2)
            continue
        row = rows.loc[method]
        bold = method not in controls and best is not None and row["rank"] == best
        mean, (a, b) = _mean_cells(row, form, bold, legend)
        interval = None
        if ci and not runtime:
            interval, (c, d) = _interval_cells(row, form, legend)
            a, b = max(a, c), max(b, d)
        column.cells[method] = (mean, interval)
        lefts.append(a)
        rights.append(b)
    higher = bool(rows["higher_is_better"].iloc[0])
    column.header, w_header = _header(metric, higher, max(lefts) + max(rights), form)
    column.left, column.right = max(lefts), max(rights)
    column.left += max(0.0, w_header - column.width)  # a header wider than the numbers
    return column


def _header(metric: str, higher: bool, data_width: float, form: _Format) -> tuple[list[str], float]:
    """The header of a column: the escaped name and its direction arrow, broken after
    underscores into lines no wider than the data (or than its widest word), and the unit or
    power of ten on a line of its own."""
    words = re.findall(r"[^_]+_*|_+", metric) or [metric]
    words[-1] += " ↑" if higher else " ↓"
    target = max(data_width, *(text_width(w) for w in words))
    lines: list[str] = []
    for w in words:
        if lines and text_width(lines[-1] + w) <= target:
            lines[-1] += w
        else:
            lines.append(w)
    widths = [text_width(line) for line in lines]
    tex = [escape(line) for line in lines]
    tex[-1] = tex[-1][:-1] + (_UP if higher else _DOWN)
    if form.unit:
        tex.append(f"({form.unit})")
        widths.append(text_width(f"({form.unit_plain})"))
    return tex, max(widths)


def column_groups(board: pd.DataFrame, metrics: list[str] | None = None) -> list[tuple]:
    """The metrics of one (dataset, model) in table order: ``[(category, [metric, ...]), ...]``.

    Without ``metrics``, every metric category in report order (``CATEGORIES``, then others by
    name), its metrics by name; with ``metrics``, those that ``board`` holds, in that order,
    category None.
    """
    if metrics is not None:
        present = [m for m in metrics if m in set(board["metric"])]
        return [(None, present)] if present else []
    category = board.groupby("metric", sort=True)["category"].first()
    found = set(category)
    order = [c for c in CATEGORIES if c in found] + sorted(found.difference(CATEGORIES))
    return [(c, [m for m, cc in category.items() if cc == c]) for c in order]


def _methods(rows: pd.DataFrame) -> tuple[list[str], list[str]]:
    """The methods of the table by name: (others, controls), the controls read from the
    board's ``control`` column (``tables.control_mask``)."""
    shown = sorted(rows["method"].unique())
    control = set(rows.loc[control_mask(rows), "method"])
    return [m for m in shown if m not in control], [m for m in shown if m in control]


def _parts(columns: list[_Column], first: float, width: float) -> list[list[_Column]]:
    """``columns`` split into consecutive parts that each fit ``width`` beside the method column
    (``first`` pt): whole categories side by side while they fit, a category too wide for a
    part alone split into the fewest parts, as even in their number of columns as that allows.
    A column too wide for any part gets a part of its own."""

    def fits(part):
        return first + _PADDING + sum(c.width + _PADDING for c in part) <= width * _MARGIN

    parts: list[list[_Column]] = []
    for _, group in itertools.groupby(columns, key=lambda c: c.category):
        group = list(group)
        if parts and fits(parts[-1] + group):
            parts[-1] += group
        elif fits(group):
            parts.append(group)
        else:
            parts += _split(group, fits)
    return parts


def _split(columns: list[_Column], fits) -> list[list[_Column]]:
    """The fewest consecutive parts of ``columns`` that ``fits``, as even as that allows."""
    greedy: list[list[_Column]] = []
    for c in columns:
        if greedy and fits(greedy[-1] + [c]):
            greedy[-1].append(c)
        else:
            greedy.append([c])
    bounds = np.linspace(0, len(columns), len(greedy) + 1).round().astype(int)
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
    """The caption's key: exactly what the set's cells, marks and rows mean."""
    subset = opts.subset
    text = f"Mean over {_n_text(legend.n)}"
    if legend.interval:
        text += (
            f", with its {opts.confidence * 100:g}\\% percentile bootstrap confidence interval "
            "below it"
        )
    text += (
        r"; $\uparrow$ higher is better, $\downarrow$ lower is better; bold: the best method of "
        "a column"
        + (" among those shown" if subset else "")
        + (", controls aside" if controls else "")
        + f". Every number of a column has the same decimals ({DIGITS} significant digits of "
        "its largest mean"
        + ("; a power of ten in a header scales its column" if legend.scaled else "")
        + ")."
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
        text += " " + escape(RUNTIME_NOTE) + " Durations have the decimals of the column's median."
    if controls:
        text += (
            " In italics below the rule: the controls ("
            + ", ".join(escape(c) for c in controls)
            + "), references an explanation method should beat."
        )
    keys = ["n/a: no finite score"] * legend.na + ["--: not evaluated"] * legend.missing
    return text + (" " + "; ".join(keys) + "." if keys else "")


def _cells(column: _Column, method: str, line: int) -> str:
    """The two cells of ``column`` for ``method`` on its mean's line (0) or interval's (1)."""
    mean, interval = column.cells[method]
    if isinstance(mean, str):  # n/a, or not evaluated
        return rf"\multicolumn{{2}}{{c}}{{{mean}}}" if line == 0 else " & "
    parts = mean if line == 0 else interval
    return " & ".join(parts) if parts else " & "


def _rows(columns: list[_Column], methods: list[str], italic: bool, ci: bool) -> list[str]:
    lines = []
    for i, method in enumerate(methods):
        name = rf"\textit{{{escape(method)}}}" if italic else escape(method)
        lines.append(" & ".join([name] + [_cells(c, method, 0) for c in columns]) + r" \\")
        if ci and any(isinstance(c.cells[method][1], tuple) for c in columns):
            lines.append(" & ".join([""] + [_cells(c, method, 1) for c in columns]) + r" \\")
            if i < len(methods) - 1:
                lines.append(r"\addlinespace[0.2em]")
    return lines


def _head(columns: list[_Column]) -> list[str]:
    """The header rows: the categories over their metrics (when the set has them), then the
    metrics, each over its two columns."""
    out = []
    spans = [(c, len(list(g))) for c, g in itertools.groupby(col.category for col in columns)]
    if any(c is not None for c, _ in spans):
        cells, rules, start = [""], [], 2
        for category, k in spans:
            cells.append(rf"\multicolumn{{{2 * k}}}{{c}}{{\textit{{{escape(category)}}}}}")
            rules.append(rf"\cmidrule(lr){{{start}-{start + 2 * k - 1}}}")
            start += 2 * k
        out += [" & ".join(cells) + r" \\", " ".join(rules)]
    names = [
        r"\shortstack{" + r"\\".join(c.header) + "}" if len(c.header) > 1 else c.header[0]
        for c in columns
    ]
    out.append(" & ".join(["method"] + [rf"\multicolumn{{2}}{{c}}{{{h}}}" for h in names]) + r" \\")
    return out


def _tabular(columns: list[_Column], methods: list[str], controls: list[str], ci: bool) -> list:
    body = _rows(columns, methods, False, ci)
    if controls:
        body += ([r"\midrule"] if body else []) + _rows(columns, controls, True, ci)
    return [
        rf"\begin{{tabular}}{{l{'r@{}l' * len(columns)}}}",
        r"\toprule",
        *_head(columns),
        r"\midrule",
        *body,
        r"\bottomrule",
        r"\end{tabular}",
    ]


def _table_set(
    rows: pd.DataFrame, key: tuple, metrics, opts: _Options, labels: set, models, *, keys: dict
):
    """The LaTeX tables of one (dataset, model): its columns in parts that fit the line, as
    many parts stacked in one table as fit ``FLOAT_HEIGHT``, the first table with the caption
    that explains the set, the others continuing it. ``keys``: the key texts of the sets
    before, by the label of the table that states them: a set whose key says the same refers
    to that table instead of repeating it."""
    dataset, model = key
    methods, controls = _methods(rows[rows.metric.isin(metrics)])
    shown = methods + controls
    columns = [_column(rows, m, shown, set(controls), opts.ci) for m in metrics]
    if opts.chosen:  # the chosen metrics in their order: no category spans
        for c in columns:
            c.category = None
    first = max(text_width(m) for m in ["method", *shown])
    legend = _Legend()
    for c in columns:
        legend.add(c.legend)
    title = f"{escape(dataset)} / {escape(model)}"
    info, key_text = _models_info(models, dataset, model), _legend_text(legend, controls, opts)
    caption = _caption_height(f"{title}{info} (part 1 of 2). {key_text}", opts.width)
    floats = _stack(_parts(columns, first, opts.width), methods, controls, opts.ci, caption)
    where: dict[str, int] = {}  # the table where each category starts
    for i, parts in enumerate(floats, 1):
        for c in (c for part in parts for c in part if c.category):
            where.setdefault(c.category, i)
    out, base = [], ""
    for i, parts in enumerate(floats, 1):
        names = [_label(labels, dataset, model, None if i == 1 else str(i))]
        names += [_label(labels, dataset, model, c) for c, at in where.items() if at == i]
        of = f" (part {i} of {len(floats)})" if len(floats) > 1 else ""
        if i == 1:
            said = keys.setdefault(key_text, names[0])
            text = key_text if said == names[0] else rf"Key as in Table~\ref{{{said}}}."
            head, base = rf"\caption[{title}{of}]{{{title}{info}{of}. {text}}}", names[0]
        else:
            head = rf"\caption{{{title}{of}, continued from Table~\ref{{{base}}}.}}"
        tabulars = [_tabular(part, methods, controls, opts.ci) for part in parts]
        body = [line for k, t in enumerate(tabulars) for line in [r"\par\bigskip"] * bool(k) + t]
        out.append(
            "\n".join(
                [r"\begin{table}[tbp]", r"\centering", head]
                + ["".join(rf"\label{{{n}}}" for n in names), r"\small", *body, r"\end{table}"]
            )
        )
    return out


#: The height (pt) of the parts stacked in one table, caption included: under the 550 pt text
#: height of a 10 pt article, so that a table never runs off its page.
FLOAT_HEIGHT = 510.0
_GAP = 12.0  # \bigskip between stacked parts
_LINE, _SMALL_LINE, _RULE = 11.0, 9.5, 5.0  # \small and \footnotesize lines, a booktabs rule


def _height(part: list[_Column], methods: list[str], controls: list[str], ci: bool) -> float:
    """Estimated height (pt) of a part's tabular: its header rows and rules, a line per method
    and one per interval line (with the space between methods)."""
    lines = max(len(c.header) for c in part)
    spans = any(c.category for c in part)
    height = 2 * _RULE + (_LINE + _RULE) * spans + _LINE * lines
    for group in (methods, controls):
        if not group:
            continue
        with_ci = sum(ci and any(isinstance(c.cells[m][1], tuple) for c in part) for m in group)
        height += _RULE + _LINE * len(group) + (_SMALL_LINE + 2.0) * with_ci
    return height


def _caption_height(tex: str, width: float) -> float:
    """Estimated height (pt) of a caption of ``tex`` (10 pt) on a line of ``width`` pt."""
    plain = re.sub(r"\\[a-zA-Z]+|[{}$]", "", tex)
    return 12.0 * math.ceil(text_width(plain, size=10.0) / width) + 10.0


def _stack(parts: list, methods: list[str], controls: list[str], ci: bool, caption: float):
    """``parts`` grouped into tables: consecutive parts side by side vertically while their
    height and a caption's (``caption`` pt for the first table, a line for the others) fit
    ``FLOAT_HEIGHT``."""
    floats: list[list] = []
    used = 0.0
    for part in parts:
        height = _height(part, methods, controls, ci)
        if floats and used + _GAP + height <= FLOAT_HEIGHT:
            floats[-1].append(part)
            used += _GAP + height
        else:
            floats.append([part])
            used = height + (caption if len(floats) == 1 else 22.0)
    return floats


def _label(taken: set, *parts) -> str:
    """``tab:<dataset>-<model>[-<category or part>]``, made unique within the file (names that
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
    width: float | str = LINE_WIDTH,
    confidence: float = 0.95,
    alpha: float = 0.05,
) -> str:
    """The leaderboard as LaTeX tables for a paper (needs ``\\usepackage{booktabs}``).

    One table set per (dataset, model): every metric, grouped under its category in report
    order; with ``metrics`` (a list of names), those metrics in that order instead (e.g.
    ``["deletion", "insertion", "runtime"]`` puts the cost beside the faithfulness).
    ``methods`` keeps those rows (bold then marks the best of them). Unknown method or metric
    names raise a ValueError naming them (:func:`xaibench.results.tables.select`).

    Methods are rows by name, the controls (the board's ``control`` column) in italics below a
    rule and never bold; metrics are columns with their direction arrow. A cell is the mean,
    bold for the best rank of the column, with the board's ``tie`` letter as a superscript, and
    with ``ci`` its ``[ci_low, ci_high]`` on the line below, aligned on the point and the comma
    (module docstring); runtime is a duration in one unit per column, without an interval;
    ``n/a`` where a method has no finite score, ``--`` where it was not evaluated. The caption
    of a set's first table states what the set shows (a set whose key would repeat an earlier
    one's word for word says "Key as in Table~\ref{...}" instead): the samples ``n``, the ``confidence``
    level of the intervals and the test behind the letters (Wilcoxon, Holm, ``alpha``): pass
    the values the board was computed with. ``models`` (dataset, model, accuracy, params) adds
    the test accuracy and parameter count.

    Tables are set in ``\\small``; a set whose estimated width exceeds ``width`` (pt, or a
    length like ``"6.5in"``: :func:`parse_width`; default the line of a 10 pt one-column
    article) is split into parts by columns, never shrunk. Labels: ``tab:<dataset>-<model>``
    on the first part (whatever the split), ``tab:<dataset>-<model>-<k>`` on part k > 1, and
    ``tab:<dataset>-<model>-<category>`` on the part where a category starts.

    Example
    -------
    >>> tex = leaderboard_latex(board, models, metrics=["deletion", "runtime"])  # doctest: +SKIP
    >>> Path("leaderboard.tex").write_text(tex)  # doctest: +SKIP
    """
    width = parse_width(width)
    shown = select(board, methods=methods, metrics=metrics)
    metrics = as_names(metrics)
    opts = _Options(bool(ci), width, methods is not None, metrics is not None, confidence, alpha)
    labels: set = set()
    keys: dict[str, str] = {}  # each key text of a caption: the label of the table that says it
    parts = [
        "% xaibench leaderboard: one table set per (dataset, model)"
        + (", metrics by category." if metrics is None else ", the chosen metrics.")
        + "\n% Needs \\usepackage{booktabs}. Sets wider than "
        + f"{width:g} pt are split into parts, never shrunk.\n"
    ]
    for key, rows in shown.groupby(["dataset", "model"], sort=True):
        chosen = [m for _, group in column_groups(rows, metrics) for m in group]
        if chosen:
            parts += _table_set(rows, key, chosen, opts, labels, models, keys=keys)
    return "\n\n".join(parts) + "\n"
