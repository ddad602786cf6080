"""Figures for one column of a two-column paper (``COLUMN`` = 3.3 in wide), as vector PDFs.

The report's figures are drawn for a 1200 px page: at a column's width their 8 pt text would
shrink to 2-3 pt. The figures a paper puts in a column are drawn again at that width instead:
the metric agreement (``agreement_column.pdf``: labels beside and under the cells, the colour
bar below, values in the cells only where they fit) and the tradeoffs (one panel per figure:
``tradeoff_performance_column.pdf``, ``tradeoff_<simplicity|runtime>_<dataset>_<model>.pdf``,
legends under the panel). Their text is 8 pt at their own size and at least ``MIN_COLUMN_FONT``
pt once a figure is fitted to the column (only the agreement of many metrics is wider than
the column; `column_font`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from xaibench._checks import file_stem
from xaibench.results._figures import (
    CONTROL_COLOR,
    METHOD_COLOR,
    SMALL,
    _axes,
    _text_inches,
    plain_text,
)
from xaibench.results.drawing import Job, drawn
from xaibench.results.tradeoffs import (
    FRONT_COLOR,
    GROUP,
    _is_control,
    _performance_data,
    accuracy_vs_simplicity,
    interpretability_vs_performance,
    method_panel,
    performance_panel,
)

COLUMN = 3.3  # inches: one column of a two-column paper (IEEE, ACM, CVPR: 3.3-3.5 in)
MIN_COLUMN_FONT = 7.0  # pt, once fitted to the column: the smallest text a figure keeps
_TITLE = 9.0


def _pdf(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="pdf", metadata={"CreationDate": None})
    return path


def column_font(fig: Figure) -> float:
    """The size (pt) the smallest text of ``fig`` has once the figure is fitted to `COLUMN`
    (scaled down when it is wider, never up)."""
    from matplotlib.text import Text

    sizes = [t.get_fontsize() for t in fig.findobj(Text) if t.get_visible() and t.get_text()]
    return min(sizes, default=SMALL) * min(1.0, COLUMN / fig.get_figwidth())


@plain_text
def agreement_column(matrix: pd.DataFrame, path: str | Path) -> Path | None:
    """The metric agreement heatmap (metrics × metrics Spearman rho in [-1, 1], NaN blank) for a
    column: 8 pt labels beside and under cells of one text line each, the colour bar under
    them; rho in the cells only when they are wide enough. Returns None for an empty matrix."""
    if matrix is None or matrix.empty:
        return None
    values = matrix.to_numpy(dtype=float)
    n, names = len(values), [str(c) for c in matrix.columns]
    left = _text_inches(names, SMALL) + 0.12
    cell = max(0.125, (COLUMN - left - 0.1) / n)
    side, under = cell * n, _text_inches(names, SMALL) + 0.1  # labels upright: one line apart
    width, height = left + side + 0.1, 0.3 + side + under + 0.75
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    fig.suptitle("Metric agreement (Spearman ρ)", fontsize=_TITLE, y=1 - 0.05 / height, va="top")
    ax = _axes(fig, left, under + 0.75, side, side)
    image = ax.imshow(values, cmap="RdBu", vmin=-1.0, vmax=1.0, aspect="auto")
    if cell >= _text_inches(["−0.00"], SMALL) + 0.06:
        for (i, j), v in np.ndenumerate(values):
            if np.isfinite(v):
                color = "white" if abs(v) > 0.6 else "black"
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=SMALL, color=color)
    ax.set_xticks(range(n), names, rotation=90)
    ax.set_yticks(range(n), [str(i) for i in matrix.index])
    ax.tick_params(labelsize=SMALL, length=2)
    bar = fig.colorbar(image, cax=_axes(fig, left, 0.5, side, 0.1), orientation="horizontal")
    bar.ax.tick_params(labelsize=SMALL, length=2)
    bar.set_label("Spearman ρ of the method rankings", fontsize=SMALL)
    return _pdf(fig, Path(path))


def _legend(fig: Figure, controls: bool) -> None:
    handles = [
        Line2D([], [], ls="none", marker="o", color=METHOD_COLOR, alpha=0.7, ms=4),
        Line2D([], [], color=FRONT_COLOR, alpha=0.6, marker="o", ms=7, mfc="none", mec=FRONT_COLOR),
    ]
    names = ["method", "Pareto front (labelled)"]
    if controls:
        marker = {"marker": "D", "ms": 4, "mfc": "white", "mec": CONTROL_COLOR}
        handles.append(Line2D([], [], color=CONTROL_COLOR, ls=(0, (4, 2)), **marker))
        names.append("control")
    fig.legend(
        handles,
        names,
        loc="lower center",
        bbox_to_anchor=(0.5, 0.0),
        ncol=len(names),
        frameon=False,
        fontsize=SMALL,
        handlelength=1.6,
        columnspacing=1.0,
    )


@plain_text
def _method_figure(g: pd.DataFrame, x: str, front: str, log_x: bool, title: str, path: Path):
    fig = Figure(figsize=(COLUMN, 3.6))
    FigureCanvasAgg(fig)  # the labels are placed in its pixels
    fig.suptitle(title, fontsize=_TITLE, y=1 - 0.05 / 3.6, va="top")
    ax = _axes(fig, 0.55, 0.85, COLUMN - 0.7, 2.45)
    method_panel(ax, g, x, front, log_x)
    ax.tick_params(labelsize=SMALL)
    ax.xaxis.label.set_size(SMALL)
    ax.yaxis.label.set_size(SMALL)
    _legend(fig, bool(g["control"].any()))
    return _pdf(fig, path)


@plain_text
def tradeoff_columns(board: pd.DataFrame, models: pd.DataFrame, plots_dir) -> list[Path]:
    """The tradeoff figures for a column (see `tradeoffs.tradeoff_plots` for what they show):
    accuracy vs best faithfulness of every model, and per (dataset, model) faithfulness vs
    simplicity and vs runtime, one panel each. Returns the paths written (none whose data are
    missing)."""
    return drawn(tradeoff_column_jobs(board, models, plots_dir))


def tradeoff_column_jobs(board: pd.DataFrame, models: pd.DataFrame, plots_dir) -> list[Job]:
    """The figures of `tradeoff_columns`, their data computed, to draw (``drawing``)."""
    plots_dir = Path(plots_dir)
    jobs = []
    data = _performance_data(interpretability_vs_performance(board, models))
    if not data.empty:
        jobs.append(Job(_performance_figure, (data, plots_dir / "tradeoff_performance_column.pdf")))
    methods = accuracy_vs_simplicity(board)
    methods["control"] = _is_control(methods, board)
    for (dataset, model), g in methods.groupby(GROUP, sort=True):
        for x, front, log_x in (
            ("simplicity", "pareto", False),
            ("runtime", "pareto_runtime", True),
        ):
            ok = np.isfinite(g[x]) & np.isfinite(g["faithfulness"]) & ((g[x] > 0) | (not log_x))
            if not ok.any():
                continue
            title = f"{dataset} / {model}: faithfulness vs {x}"
            path = plots_dir / f"tradeoff_{x}_{file_stem(dataset, model)}.pdf"
            jobs.append(Job(_method_figure, (g[ok], x, front, log_x, title, path)))
    return jobs


@plain_text
def _performance_figure(data: pd.DataFrame, path: Path) -> Path:
    """Accuracy vs best faithfulness of every model (``tradeoffs.performance_panel``)."""
    fig = Figure(figsize=(COLUMN, 3.6))
    FigureCanvasAgg(fig)
    fig.suptitle(
        "Interpretability vs performance\n(rings: Pareto front)",
        fontsize=_TITLE,
        y=1 - 0.05 / 3.6,
        va="top",
    )
    ax = _axes(fig, 0.55, 0.95, COLUMN - 0.7, 2.15)
    performance_panel(ax, data)
    ax.tick_params(labelsize=SMALL)
    ax.xaxis.label.set_size(SMALL)
    ax.yaxis.label.set_size(SMALL)
    ax.set_ylabel("best faithfulness")
    k = len(data["dataset"].unique())
    fig.legend(loc="lower center", ncol=min(k, 3), fontsize=SMALL, frameon=False)
    return _pdf(fig, path)
