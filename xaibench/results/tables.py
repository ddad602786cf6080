"""Report tables as Markdown."""

from __future__ import annotations

import html
import re

import numpy as np
import pandas as pd

from xaibench._text import visible

# Markdown's own characters where they act: backslash, code, emphasis, links, table cells,
# strikethrough, headings; an underscore only at a word's edge (inside a word it is literal).
_MARKDOWN = re.compile(r"[\\`*\[\]|~#!]|(?<!\w)_|_(?!\w)")


def md_escape(text) -> str:
    r"""``text`` shown as written in Markdown (GitHub's included): HTML characters as entities,
    Markdown characters backslash-escaped, line breaks as spaces, control characters visible
    (``_text.visible``). The one rule for every user-supplied string (dataset, model, method
    and metric names) in a Markdown file.

    >>> print(md_escape('"><img src=x onerror=alert(2)> | a*b_c'))
    "&gt;&lt;img src=x onerror=alert(2)&gt; \| a\*b_c
    """
    text = html.escape(visible(" ".join(str(text).split())), quote=False)
    return _MARKDOWN.sub(lambda m: "\\" + m.group(0), text)


# A spreadsheet takes a cell that starts with one of these for a formula (CSV injection): such a
# value is written after a "'", which makes it text, and so is one that starts with "'" itself,
# so that `csv_name` reads every name back exactly.
_FORMULA = ("=", "+", "-", "@", "\t", "'")


def csv_cell(value):
    """``value`` as xaibench's CSV files hold it: a string with its control characters visible
    and, when it starts like a spreadsheet formula, after a "'"; other values as they are.

    >>> csv_cell("=HYPERLINK(1)"), csv_cell("saliency"), csv_cell(0.5)
    ("'=HYPERLINK(1)", 'saliency', 0.5)
    """
    if not isinstance(value, str):
        return value
    text = visible(value)
    return "'" + text if text.startswith(_FORMULA) else text


def csv_name(value):
    """A name read from a CSV file that `csv_cell` wrote (or a spreadsheet saved again, without
    the "'"): the name as written, its control characters visible (``_text.visible``), which
    is how a name read from the store compares with it."""
    if not isinstance(value, str):
        return value
    text = visible(value)
    return text[1:] if text.startswith("'") and text[1:].startswith(_FORMULA) else text


def csv_text(frame: pd.DataFrame, *, index: bool = False) -> str:
    """``frame`` as CSV, every string in it (values, column names, index) through `csv_cell`:
    the one rule for xaibench's CSV files."""
    out = frame.copy()
    for column in out.select_dtypes(exclude=["number", "bool"]).columns:
        out[column] = out[column].map(csv_cell)
    out.columns = [csv_cell(c) for c in out.columns]
    if index:
        out.index = out.index.map(csv_cell)
    return out.to_csv(index=index)


def fmt(value: float) -> str:
    """A compact number: 4 significant digits, scientific notation when very small or large."""
    if value is None or not np.isfinite(value):
        return "–"
    if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e5):
        return f"{value:.2e}"
    return f"{value:.4g}"


#: The metric whose scores are durations: seconds per sample (xaibench/metrics/cost/runtime.py).
RUNTIME_METRIC = "runtime"
#: What a runtime entry is, for the legend of a table that shows one.
RUNTIME_NOTE = (
    "Runtime is the wall-clock time per sample on the machine of the run, timed per batch "
    "(the samples of a batch share one time, so it has no interval)."
)
#: Units of a duration, largest first: (name, seconds per unit).
TIME_UNITS = (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9))


def time_unit(seconds) -> tuple[str, float]:
    """The one unit (name, seconds per unit) for a column of durations ``seconds``: the largest
    of ``TIME_UNITS`` in which their median is at least 1. Most values then read with one to three
    integer digits, the slowest with a few more, and none in scientific notation (a run's times
    span orders of magnitude: 3 µs for the ``random`` control, 40 ms for occlusion).

    >>> time_unit([2.3e-6, 4.1e-5, 2.1e-3])
    ('µs', 1e-06)
    """
    values = np.abs(np.asarray(seconds, dtype=float))
    values = values[np.isfinite(values)]
    middle = float(np.median(values)) if len(values) else 0.0
    return next((u for u in TIME_UNITS if middle >= u[1]), TIME_UNITS[-1])


def fmt_time(seconds: float, unit: tuple[str, float]) -> str:
    """``seconds`` in ``unit`` (from :func:`time_unit`) with 3 significant digits, never in
    scientific notation, and the unit's name: a duration reads without a key.

    >>> fmt_time(0.01234, ("ms", 1e-3)), fmt_time(2.3e-6, ("ms", 1e-3)), fmt_time(1.5, ("s", 1.0))
    ('12.3 ms', '0.00230 ms', '1.50 s')
    """
    if seconds is None or not np.isfinite(seconds):
        return "–"
    value = seconds / unit[1]
    digits = int(np.floor(np.log10(abs(value)))) if value != 0 else 0
    return f"{value:.{max(0, 2 - digits)}f} {unit[0]}"


def as_bool(values: pd.Series) -> pd.Series:
    """``higher_is_better`` (or ``control``) as bools, also when read back from a CSV as text."""
    return values.map(lambda v: str(v).strip().lower() in ("true", "1", "1.0")).astype(bool)


def control_mask(board: pd.DataFrame) -> pd.Series:
    """Which rows of ``board`` are control methods (references to beat, like ``random``): its
    ``control`` column (``Method.control``, carried by scores and leaderboards) as bools; all
    False without the column. The one rule for telling controls apart: never their names."""
    if "control" not in board.columns:
        return pd.Series(False, index=board.index, dtype=bool)
    return as_bool(board["control"])


def as_names(chosen) -> list[str] | None:
    """``chosen`` names (one string or a list) in order without repeats; None when not given."""
    if chosen is None:
        return None
    return list(dict.fromkeys([chosen] if isinstance(chosen, str) else list(chosen)))


def _names(chosen, kind: str, available) -> list[str] | None:
    """:func:`as_names` of ``chosen``; a ValueError names every one not in ``available``, or
    says the selection is empty."""
    names = as_names(chosen)
    if names is None:
        return None
    if not names:
        raise ValueError(f"no {kind} selected: give at least one name")
    known = set(available)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(
            f"unknown {kind}: {', '.join(map(repr, unknown))} "
            f"(this run has: {', '.join(sorted(map(str, known)))})"
        )
    return names


def select(table: pd.DataFrame, *, methods=None, metrics=None) -> pd.DataFrame:
    """The rows of ``table`` (a leaderboard, or a run's scores) of the chosen ``methods`` and
    ``metrics`` (lists of names; None keeps all). The one check of a selection: a ValueError
    names every method or metric that ``table`` does not hold, so a caller can check the names
    against a run's scores before any work starts.

    >>> board = pd.DataFrame({"method": ["a", "b"], "metric": ["m", "m"]})
    >>> select(board, methods=["b"])["method"].tolist()
    ['b']
    >>> select(board, metrics=["m", "x_y"])
    Traceback (most recent call last):
    ...
    ValueError: unknown metrics: 'x_y' (this run has: m)
    """
    keep = pd.Series(True, index=table.index)
    chosen = {}
    for column, names, kind in (("method", methods, "methods"), ("metric", metrics, "metrics")):
        names = _names(names, kind, table[column].unique())
        if names is not None:
            keep &= table[column].isin(names)
            chosen[kind] = ", ".join(map(repr, names))
    if len(chosen) == 2 and not keep.any():
        raise ValueError(
            f"methods {chosen['methods']} have no scores of metrics {chosen['metrics']}"
        )
    return table[keep]


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def wide(
    board: pd.DataFrame, tie: str = "<sup>{}</sup>", name=str, bold: str = "**{}**"
) -> tuple[list[str], list[list[str]]]:
    """Methods as rows, metrics as columns (with direction arrows) for one (dataset, model).

    Each entry is ``mean [ci_low, ci_high]`` (the runtime metric: its mean duration in one unit
    for the column, e.g. ``12.3 ms``, without an interval), formatted with ``bold`` for the best
    rank among the methods that are not controls, followed by the method's tie marker formatted with ``tie``
    where the board has a ``tie`` column (``xaibench.results.stats``). Methods by name, the
    controls (``control_mask``) last and marked "(control)", never bold.
    Method and metric names are passed through ``name`` (an output format's escaping).
    """
    metrics = list(dict.fromkeys(board["metric"]))
    arrows = {
        m: "↑" if board.loc[board.metric == m, "higher_is_better"].iloc[0] else "↓" for m in metrics
    }
    header = ["method"] + [f"{name(m)} {arrows[m]}" for m in metrics]
    unit = time_unit(board.loc[board.metric == RUNTIME_METRIC, "mean"])
    control = control_mask(board)
    controls = set(board.loc[control, "method"])
    ranks = pd.to_numeric(board["rank"], errors="coerce")
    best = ranks[~control].groupby(board.loc[~control, "metric"]).min()
    cells = {}  # (method, metric): its first row
    for r in board.to_dict("records"):
        cells.setdefault((r["method"], r["metric"]), r)
    rows = []
    for method in sorted(set(board["method"]) - controls) + sorted(controls):
        row = [name(method) + (" (control)" if method in controls else "")]
        for m in metrics:
            r = cells.get((method, m))
            if r is None:
                row.append("")
                continue
            if m == RUNTIME_METRIC:  # timed per batch: its samples share one time, no interval
                text = fmt_time(r["mean"], unit)
            else:
                text = f"{fmt(r['mean'])} [{fmt(r['ci_low'])}, {fmt(r['ci_high'])}]"
            if method not in controls and pd.notna(r["rank"]) and r["rank"] == best.get(m):
                text = bold.format(text)
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
        "↑ higher is better, ↓ lower is better; **bold** is the best method (the controls, last "
        "and marked, are never bold). Methods of a metric that share "
        "a letter are not significantly different from their rank neighbours (paired Wilcoxon "
        "signed-rank tests of adjacent ranks, Holm-corrected, α = 0.05)."
        + (f" {RUNTIME_NOTE}" if (board["metric"] == RUNTIME_METRIC).any() else ""),
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
