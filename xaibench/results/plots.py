"""Plots of a run (matplotlib, headless): leaderboards per metric category, rank heatmaps per
(dataset, model), metric agreement, curves; the gallery and the model inspection are in
``xaibench.results.gallery``, the tradeoff plots in ``xaibench.results.tradeoffs``.

Every figure fits the report's page (at most `MAX_WIDTH` inches at `DPI`: 1200 px) with no
text under 8 pt, and draws the control methods (the ``control`` column of a leaderboard) as
grey dashed references apart from the real methods. A function that writes one PNG (parent
folders created) returns its path, or None when there is nothing to draw; one that writes a
PNG per category or per (dataset, model) returns the list of paths.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection, PatchCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.markers import TICKDOWN
from matplotlib.patches import Rectangle
from matplotlib.ticker import MaxNLocator, ScalarFormatter
from matplotlib.transforms import ScaledTranslation

from xaibench._categories import CATEGORIES
from xaibench._checks import file_stem
from xaibench.results._figures import (
    _RANKS,
    BEST_COLOR,
    CONTROL_COLOR,
    MAX_WIDTH,
    METHOD_COLOR,
    NORMAL,
    SMALL,
    _annotate,
    _axes,
    _figure,
    _grid_axes,
    _label,
    _save,
    _text_inches,
    _wrap,
    method_styles,
    plain_text,
    seconds,
)
from xaibench.results.drawing import Job, drawn
from xaibench.results.gallery import gallery_plot, inspection_plot  # noqa: F401 - re-exported
from xaibench.results.stats import aggregate_ranks
from xaibench.results.tables import RUNTIME_METRIC, control_mask
from xaibench.results.tables import as_bool as _as_bool

GROUP = ["dataset", "model"]


def _arrow(up) -> str:
    return "↑" if bool(up) else "↓"


def _directions(board: pd.DataFrame) -> dict[str, bool]:
    """``higher_is_better`` per metric (empty without the column)."""
    if "higher_is_better" not in board.columns:
        return {}
    first = board.drop_duplicates("metric").set_index("metric")["higher_is_better"]
    return _as_bool(first).to_dict()


def _metric_label(metric: str, up: dict[str, bool]) -> str:
    return f"{metric} {_arrow(up[metric])}" if metric in up else str(metric)


def categories(board: pd.DataFrame) -> list[str]:
    """The metric categories of ``board``, in report order (`CATEGORIES`, then others by name)."""
    if "category" not in board.columns or board.empty:
        return []
    present = set(board["category"].dropna().astype(str))
    return [c for c in CATEGORIES if c in present] + sorted(present - set(CATEGORIES))


def _controls(board: pd.DataFrame) -> set[str]:
    return set(board.loc[control_mask(board), "method"].astype(str))


def _real_first(methods, controls: Collection[str]) -> list[str]:
    """``methods`` in their order, the controls moved to the end."""
    methods = list(methods)
    return [m for m in methods if m not in controls] + [m for m in methods if m in controls]


# rank heatmaps --------------------------------------------------------------------------------


def rank_matrices(board: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Methods × metrics rank matrices of a leaderboard.

    Returns ``{"all": mean rank over (dataset, model), "<dataset> / <model>": rank, ...}``; the
    mean skips NaN ranks. Rows (methods) are in the verdict's order: by overall rank
    (``stats.aggregate_ranks``: the mean of the category ranks, cost and the metrics that tie
    every method left out; for "all" its mean over the (dataset, model) pairs), ties and NaN by
    name; columns (metrics) by first appearance in ``board``. A board without dataset/model
    columns gives ``{"all": ...}`` only; without a category column every metric counts as
    one category.
    """
    keys = [k for k in GROUP if k in board.columns]
    b = board.assign(rank=pd.to_numeric(board["rank"], errors="coerce").astype(float))
    metrics = list(dict.fromkeys(b["metric"]))
    overall = aggregate_ranks(b if "category" in b else b.assign(category=b["metric"]))

    def matrix(g: pd.DataFrame, ranks: pd.DataFrame) -> pd.DataFrame:
        """``g``'s ranks, methods by their ``rank_overall`` in ``ranks`` (NaN last), then name."""
        by = ranks.groupby("method")["rank_overall"].mean().reset_index()
        order = by.sort_values(["rank_overall", "method"], na_position="last")["method"]
        ranked = g.groupby(["method", "metric"])["rank"].mean().unstack()
        return ranked.reindex(index=list(order), columns=metrics)

    mats = {"all": matrix(b, overall)}
    if keys:
        pairs = dict(list(overall.groupby(keys, sort=True)))
        for key, g in b.groupby(keys, sort=True):
            mats[_label(key)] = matrix(g, pairs[key])
    return mats


def _check_ranks(board: pd.DataFrame) -> None:
    missing = {"method", "metric", "rank"} - set(board.columns)
    if missing:
        raise ValueError(f"board needs columns method, metric, rank; missing {sorted(missing)}")


def _groups(board: pd.DataFrame) -> list[tuple]:
    if not set(GROUP) <= set(board.columns):
        return []
    return sorted(board.groupby(GROUP).groups)


@plain_text
def rank_heatmaps(board: pd.DataFrame, plots_dir: str | Path) -> list[Path]:
    """One rank heatmap per (dataset, model), ``ranks_<dataset>_<model>.png``, and
    ``ranks_all.png`` with the mean rank over them when there are several; see
    `rank_heatmap`. Returns the paths written (none for an empty board)."""
    return drawn(rank_heatmap_jobs(board, plots_dir))


def rank_heatmap_jobs(board: pd.DataFrame, plots_dir: str | Path) -> list[Job]:
    """The figures of `rank_heatmaps`, to draw (``drawing``)."""
    if board is None or board.empty:
        return []
    _check_ranks(board)
    plots_dir, groups = Path(plots_dir), _groups(board)
    jobs = [Job(rank_heatmap, (board, plots_dir / "ranks_all.png"))] if len(groups) != 1 else []
    for key in groups:
        path = plots_dir / f"ranks_{file_stem(*key)}.png"
        jobs.append(Job(rank_heatmap, (board, path), {"group": key}))
    return jobs


@plain_text
def rank_heatmap(board: pd.DataFrame, path: str | Path, *, group=None) -> Path | None:
    """Heatmap of each method's rank (1 = best) per metric: of the (dataset, model) ``group``,
    or by default the mean rank over every (dataset, model) (see `rank_matrices`; the one
    (dataset, model) of a board that has a single one).

    Metrics are grouped by category (labelled above, ↑/↓ for ``higher_is_better``), methods
    in the verdict's order (by overall rank, best first: `rank_matrices`), the controls last in
    grey; metrics and methods
    without a rank are left out, other missing ranks are blank cells. Too many metrics for
    the page width split the heatmap into stacked panels at category boundaries. Returns
    None when no rank is left.

    >>> rank_heatmap(xb.leaderboard(df), "plots/ranks.png")  # doctest: +SKIP
    """
    if board is None or board.empty:
        return None
    _check_ranks(board)
    mats, groups = rank_matrices(board), _groups(board)
    if group is None and len(groups) == 1:
        group = groups[0]
    if group is None:
        n = f" over {len(groups)} (dataset, model)" if groups else ""
        title, mat, decimals = f"Mean rank per metric{n}", mats["all"], 1
    else:
        title, mat, decimals = f"{_label(tuple(group))}: rank per metric", mats[_label(group)], 0
    fig = _rank_figure(board, mat, f"{title} (1 = best; ↑ higher is better, ↓ lower)", decimals)
    return None if fig is None else _save(fig, path)


def _rank_columns(board: pd.DataFrame, metrics: list[str]) -> list[tuple[str, list[str]]]:
    """``metrics`` grouped by category in report order: [(category, metrics), ...] (one
    group named "" without a category column, and for metrics the column does not name)."""
    if "category" not in board.columns:
        return [("", metrics)]
    of = board.drop_duplicates("metric").set_index("metric")["category"].astype(str)
    return [(c, [m for m in metrics if of.get(m) == c]) for c in categories(board)] + [
        ("", [m for m in metrics if m not in of.index])
    ]


def _rank_chunks(spans, widths: dict[str, float], room: float) -> list[list]:
    """The category spans in panels at most ``room`` inches wide (a category wider than a
    panel is cut between its metrics)."""
    chunks, current, used = [], [], 0.0
    for category, metrics in spans:
        for m in metrics:
            if used + widths[m] > room and current:
                chunks.append(current)
                current, used = [], 0.0
            if current and current[-1][0] == category:
                current[-1][1].append(m)
            else:
                current.append((category, [m]))
            used += widths[m]
    return chunks + ([current] if current else [])


def _rank_figure(board: pd.DataFrame, mat: pd.DataFrame, title: str, decimals: int):
    mat = mat.dropna(how="all").dropna(axis=1, how="all")
    if mat.empty:
        return None
    controls, up = _controls(board), _directions(board)
    methods = _real_first(mat.index, controls)
    spans = [(c, ms) for c, ms in _rank_columns(board, list(mat.columns)) if ms]
    # a column fits its 8 pt cell text and, alone in its category, the category's name
    widths = {m: 0.46 for _, ms in spans for m in ms}
    for category, ms in spans:
        need = _text_inches([category], SMALL) + 0.1
        for m in ms:
            widths[m] = max(widths[m], need / len(ms))
    left = _text_inches(methods, NORMAL) + 0.2
    chunks = _rank_chunks(spans, widths, MAX_WIDTH - left - 1.05)
    labels = {m: _metric_label(m, up) for m in mat.columns}
    ph = 0.26 * len(methods)
    ticks = [
        0.72 * _text_inches([labels[m] for _, ms in c for m in ms], SMALL) + 0.2 for c in chunks
    ]
    height = 0.5 + sum(0.3 + ph + t for t in ticks)
    width = left + max(sum(widths[m] for _, ms in c for m in ms) for c in chunks) + 1.05
    fig = _figure(width, height, title)
    vmax = max(2.0, float(np.nanmax(mat.to_numpy(dtype=float))))
    top = height - 0.5
    for chunk, tick in zip(chunks, ticks, strict=True):
        columns = [m for _, ms in chunk for m in ms]
        edges = np.r_[0.0, np.cumsum([widths[m] for m in columns])]
        ax = _axes(fig, left, top - 0.3 - ph, edges[-1], ph)
        values = mat.loc[methods, columns].to_numpy(dtype=float)
        mesh = _rank_cells(ax, values, edges, vmax, decimals)
        _rank_labels(ax, chunk, edges, [labels[m] for m in columns], methods, controls)
        top -= 0.3 + ph + tick
    cax = _axes(
        fig, width - 0.85, height - 0.8 - min(3.0, height - 1.2), 0.15, min(3.0, height - 1.2)
    )
    bar = fig.colorbar(mesh, cax=cax)
    bar.set_label("rank (1 = best)", fontsize=SMALL)
    bar.ax.tick_params(labelsize=SMALL)
    return fig


def _rank_cells(ax: Axes, values: np.ndarray, edges: np.ndarray, vmax: float, decimals: int):
    """The coloured cells (x ``edges`` in inches, a row per unit) and their ranks as text."""
    n = len(values)
    mesh = ax.pcolormesh(
        edges,
        np.arange(n + 1),
        np.ma.masked_invalid(values),
        cmap=_RANKS,
        vmin=1.0,
        vmax=vmax,
        edgecolors="white",
        linewidth=0.6,
    )
    ax.set(xlim=(0, edges[-1]), ylim=(n, 0))
    centres = (edges[:-1] + edges[1:]) / 2
    fmt = (lambda v: f"{v:.{decimals}f}") if decimals else (lambda v: f"{v:.0f}")
    _annotate(
        ax,
        values,
        fmt,
        lambda v: (v - 1) / (vmax - 1) < 0.45,
        fontsize=SMALL,
        xs=centres,
        ys=np.arange(n) + 0.5,
    )
    return mesh


def _rank_labels(ax: Axes, chunk, edges, labels, methods, controls) -> None:
    """Metric labels under the cells, category names over them, method names beside."""
    centres = (edges[:-1] + edges[1:]) / 2
    ax.set_xticks(centres, labels, rotation=45, ha="right", rotation_mode="anchor", fontsize=SMALL)
    ax.set_yticks(np.arange(len(methods)) + 0.5, methods, fontsize=NORMAL)
    for tick, m in zip(ax.get_yticklabels(), methods, strict=True):
        if m in controls:
            tick.set(color=CONTROL_COLOR, style="italic")
    ax.tick_params(length=0)
    for side in ax.spines.values():
        side.set_visible(False)
    n_real = sum(m not in controls for m in methods)
    if 0 < n_real < len(methods):  # the controls under a line of their own
        ax.axhline(n_real, color="0.2", lw=1.2, ls=(0, (3, 2)))
    start = 0
    for category, metrics in chunk:
        stop = start + len(metrics)
        if start:
            ax.axvline(edges[start], color="white", lw=3)
        if category:
            a, b = edges[start] + 0.03, edges[stop] - 0.03
            ax.annotate(
                category,
                ((a + b) / 2, 0),
                xytext=(0, 5),
                textcoords="offset points",
                ha="center",
                va="bottom",
                fontsize=SMALL,
                style="italic",
                annotation_clip=False,
            )
            ax.plot(
                [a, b],
                [0, 0],
                color="0.3",
                lw=0.8,
                clip_on=False,
                transform=ax.transData + ScaledTranslation(0, 3 / 72, ax.figure.dpi_scale_trans),
            )
        start = stop


# agreement ------------------------------------------------------------------------------------


@plain_text
def agreement_heatmap(
    matrix: pd.DataFrame,
    path: str | Path,
    *,
    title: str = "Metric agreement (Spearman rho of method rankings)",
) -> Path | None:
    """Square metrics × metrics correlation matrix in [-1, 1] (NaN blank), annotated.

    Diverging colormap centred at 0 (red -1, blue +1); cells too small for an 8 pt value are
    left unannotated. Returns None for an empty matrix.
    """
    if matrix is None or matrix.empty:
        return None
    if matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"matrix must be square (metrics × metrics), got shape {matrix.shape}")
    values = matrix.to_numpy(dtype=float)
    n = len(values)
    rows, columns = [str(i) for i in matrix.index], [str(c) for c in matrix.columns]
    left = _text_inches(rows, NORMAL) + 0.25
    bottom = 0.72 * _text_inches(columns, NORMAL) + 0.3  # labels rotated by 45°
    cell = min(0.6, (MAX_WIDTH - left - 1.3) / n)
    side = cell * n
    width = max(left + side + 1.3, min(MAX_WIDTH, _text_inches([title], 10) + 0.4))
    fig = _figure(width, 0.5 + side + bottom, title)
    ax = _axes(fig, left, bottom, side, side)
    im = ax.imshow(values, cmap="RdBu", vmin=-1.0, vmax=1.0, aspect="auto")
    if cell >= _text_inches(["−0.00"], SMALL) + 0.06:
        _annotate(ax, values, lambda v: f"{v:.2f}", lambda v: abs(v) > 0.6, fontsize=SMALL)
    ax.set_xticks(range(n), columns, rotation=45, ha="right", rotation_mode="anchor")
    ax.set_yticks(range(n), rows)
    ax.tick_params(labelsize=NORMAL)
    cax = _axes(fig, left + side + 0.25, bottom + 0.15 * side, 0.18, 0.7 * side)
    bar = fig.colorbar(im, cax=cax)
    bar.set_label("correlation", fontsize=SMALL)
    bar.ax.tick_params(labelsize=SMALL)
    return _save(fig, path)


# curves ---------------------------------------------------------------------------------------


def _finite_curves(by_method: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    out = {}
    for method, arr in by_method.items():
        a = np.asarray(arr, dtype=float)
        a = a[None] if a.ndim == 1 else a
        if a.ndim != 2:
            raise ValueError(f"curves of {method!r} must be (N, steps + 1), got shape {a.shape}")
        a = a[np.isfinite(a).all(axis=1)]
        if a.size:
            out[method] = a
    return out


def _curve_xlabel(metric: str) -> str:
    name = metric.lower()
    if "insert" in name:
        return "fraction of features inserted"
    if "delet" in name or "remov" in name:
        return "fraction of features removed"
    return "fraction of features perturbed"


#: A (dataset, model) with more real methods than this gets two curve panels: the best
#: ``CURVES_TOP`` and the others, the controls in both.
CURVES_CROWDED, CURVES_TOP = 6, 4


@plain_text
def curves_plot(
    curves: dict[tuple[str, str], dict[str, np.ndarray]],
    metric: str,
    path: str | Path,
    *,
    controls: Collection[str] = (),
    order: dict[tuple, list[str]] | None = None,
) -> Path | None:
    """Mean perturbation curve per method with a 95% interval of the mean, per (dataset, model).

    ``curves[(dataset, model)][method]`` is an (N, steps + 1) array of per-sample curves, the
    x axis the fraction of features perturbed (0 to 1). Rows holding NaN are ignored; the band
    is mean ± 1.96·SE (no bootstrap). Each method has its own colour, dashes and markers (the
    same in every panel, named in one legend under the panels); the ``controls`` (method
    names, e.g. the board's ``control`` rows) are grey dashed lines. With ``order`` ({(dataset,
    model): methods, best first on ``metric``}), a (dataset, model) of more than
    ``CURVES_CROWDED`` real methods gets two panels on one scale: the best ``CURVES_TOP`` and
    the others, each with the controls. Returns None when no finite curve is left.
    """
    found = {key: _finite_curves(v) for key, v in curves.items()}
    found = {key: found[key] for key in sorted(found, key=str) if found[key]}
    if not found:
        return None
    controls = {str(c) for c in controls}
    methods = _real_first(sorted({m for v in found.values() for m in v}), controls)
    styles = method_styles(methods, controls)
    panels = [
        p
        for key, by_method in found.items()
        for p in _curve_panels(key, by_method, controls, order)
    ]
    split = len(panels) > len(found)
    cols = min(len(panels), 4 if split else 3)
    rows = -(-len(panels) // cols)
    (pw, ph), (wgap, hgap) = ((2.35, 2.1), (0.55, 0.85)) if split else ((3.15, 2.3), (0.75, 0.85))
    width = 0.65 + cols * pw + (cols - 1) * wgap + 0.2
    entry = _text_inches(methods, SMALL) + 0.75  # handle and padding
    ncol = max(1, min(len(methods), int((width - 0.2) // entry)))
    legend = 0.1 + 0.19 * -(-len(methods) // ncol)
    height = 0.6 + rows * ph + (rows - 1) * hgap + 0.6 + legend
    title = f"{metric} curves: mean and 95% interval of the mean (±1.96·SE)"
    fig = _figure(width, height, title)
    axes = _grid_axes(fig, len(panels), cols, (pw, ph), left=0.65, top=0.6, gap=(wgap, hgap))
    for ax, (_, name, by_method) in zip(axes, panels, strict=True):
        for method in methods:
            if method in by_method:
                _curve(ax, by_method[method], styles[method])
        ax.set(xlim=(0.0, 1.0), xlabel=_curve_xlabel(metric), ylabel="class score")
        ax.set_title(name, fontsize=NORMAL, y=1.0)
        ax.grid(alpha=0.3)
    _share_y([ax for ax, p in zip(axes, panels, strict=True) if p[0] == key] for key in found)
    handles = [_handle(styles[m]) for m in methods]
    names = [f"{m} (control)" if m in controls else m for m in methods]
    fig.legend(
        handles,
        names,
        loc="lower center",
        bbox_to_anchor=(0.5, 0.05 / height),
        ncol=ncol,
        fontsize=SMALL,
        frameon=False,
        handlelength=3.0,
        columnspacing=1.2,
    )
    return _save(fig, path)


def _curve_panels(key, by_method: dict, controls: set, order) -> list[tuple]:
    """The panels of one (dataset, model): [(key, title, {method: curves})]; two when it has
    more than ``CURVES_CROWDED`` real methods and ``order`` says which are best."""
    real = [m for m in by_method if m not in controls]
    mine = (order or {}).get(tuple(key) if isinstance(key, tuple) else key)
    if mine is None or len(real) <= CURVES_CROWDED:
        return [(key, _label(key), by_method)]
    ranked = [m for m in mine if m in real] + sorted(m for m in real if m not in mine)
    reference = {m: a for m, a in by_method.items() if m in controls}
    best, rest = ranked[:CURVES_TOP], ranked[CURVES_TOP:]
    return [
        (key, f"{_label(key)}: best {len(best)}", {m: by_method[m] for m in best} | reference),
        (key, f"{_label(key)}: other {len(rest)}", {m: by_method[m] for m in rest} | reference),
    ]


def _share_y(groups) -> None:
    """One y scale for the panels of each group (the two panels of a (dataset, model))."""
    for axes in groups:
        if len(axes) > 1:
            limits = np.array([ax.get_ylim() for ax in axes])
            for ax in axes:
                ax.set_ylim(limits[:, 0].min(), limits[:, 1].max())


def _curve(ax: Axes, a: np.ndarray, style: dict) -> None:
    x = np.linspace(0.0, 1.0, a.shape[1])
    mean = a.mean(axis=0)
    se = a.std(axis=0, ddof=1) / np.sqrt(len(a)) if len(a) > 1 else np.zeros_like(mean)
    every = max(1, (len(x) - 1) // 5)
    ax.plot(
        x,
        mean,
        color=style["color"],
        ls=style["ls"],
        lw=style["lw"],
        zorder=style["zorder"],
        marker=style["marker"],
        markevery=every,
        ms=4,
    )
    alpha = 0.07 if style["marker"] is None else 0.12
    ax.fill_between(x, mean - 1.96 * se, mean + 1.96 * se, color=style["color"], alpha=alpha, lw=0)


def _handle(style: dict) -> Line2D:
    return Line2D(
        [], [], color=style["color"], ls=style["ls"], lw=style["lw"], marker=style["marker"], ms=4
    )


# leaderboards -----------------------------------------------------------------------------------

_LB = {"row": 0.21, "panel_min": 1.45, "panel_max": 2.6, "gap": 0.25, "block_gap": 0.45}


@plain_text
def leaderboard_plots(board: pd.DataFrame, plots_dir: str | Path) -> list[Path]:
    """One leaderboard figure per metric category of ``board``, ``leaderboard_<category>.png``
    in report order (see `leaderboard_plot`); returns the paths written."""
    return drawn(leaderboard_jobs(board, plots_dir))


def leaderboard_jobs(board: pd.DataFrame, plots_dir: str | Path) -> list[Job]:
    """The figures of `leaderboard_plots`, to draw (``drawing``)."""
    plots_dir = Path(plots_dir)
    return [
        Job(
            leaderboard_plot,
            (board, plots_dir / f"leaderboard_{file_stem(c)}.png"),
            {"category": c},
        )
        for c in categories(board)
    ]


@plain_text
def leaderboard_plot(board: pd.DataFrame, path: str | Path, *, category=None) -> Path | None:
    """Each method's mean with its 95% CI, one panel per metric of ``category`` (default: every
    metric) and (dataset, model).

    A (dataset, model) has one block of panels (metric titled, ↑ higher is better, ↓ lower)
    with its own methods: metrics and methods without a finite mean there are left out. In a
    panel, the best real method is green; the controls (the board's ``control`` column) sit
    under a dashed line in grey, their means drawn across the panel as grey dashed reference
    lines. Each panel has its own scale. Returns None when nothing has a finite mean.
    """
    if board is None or board.empty:
        return None
    sub = board if category is None else board[board["category"].astype(str) == str(category)]
    blocks = _leaderboard_blocks(sub)
    if not blocks:
        return None
    what = "every metric" if category is None else f"{category} metrics"
    title = f"Leaderboard, {what}: mean and bootstrap 95% CI per method"
    return _save(_leaderboard_figure(blocks, title), path)


def _leaderboard_blocks(board: pd.DataFrame) -> list[dict]:
    """Per (dataset, model): its metrics and methods with a finite mean (controls last) and a
    (metrics, methods, 4) array of mean, ci_low, ci_high, rank."""
    keys = [k for k in GROUP if k in board.columns]
    columns = ["mean", "ci_low", "ci_high", "rank"]
    b = board.assign(control=control_mask(board))
    b = b.assign(mean=pd.to_numeric(b["mean"], errors="coerce").astype(float))
    order, up = (
        [m for _, ms in _rank_columns(b, list(dict.fromkeys(b["metric"]))) for m in ms],
        _directions(b),
    )
    blocks = []
    for key, g in b.groupby(keys, sort=True) if keys else [(None, b)]:
        scored = g[np.isfinite(g["mean"])]
        if scored.empty:
            continue
        metrics = [m for m in order if m in set(scored["metric"])]
        controls = set(scored.loc[scored["control"], "method"])
        methods = _real_first(sorted(set(scored["method"])), controls)
        table = g.drop_duplicates(["metric", "method"]).set_index(["metric", "method"])
        table = table.reindex(columns=columns).apply(pd.to_numeric, errors="coerce")
        index = pd.MultiIndex.from_product([metrics, methods])
        values = table.reindex(index).to_numpy(dtype=float)
        blocks.append(
            {
                "title": None if key is None else _label(tuple(key)),
                "metrics": metrics,
                "up": [up.get(m) for m in metrics],
                "methods": methods,
                "control": np.array([m in controls for m in methods]),
                "values": values.reshape(len(metrics), len(methods), len(columns)),
            }
        )
    return blocks


def _leaderboard_layout(blocks: list[dict]) -> dict:
    """Panel width, panels per line and blocks side by side that fit `MAX_WIDTH`."""
    label = _text_inches([m for b in blocks for m in b["methods"]], NORMAL) + 0.15
    room = MAX_WIDTH - 0.2
    pmin, gap, bgap = _LB["panel_min"], _LB["gap"], _LB["block_gap"]
    most = max(len(b["metrics"]) for b in blocks)
    per_line = max(1, min(most, int((room - label + gap) // (pmin + gap))))
    side = 1
    if per_line == most:  # small blocks go side by side
        side = max(
            1, min(len(blocks), int((room + bgap) // (label + most * (pmin + gap) - gap + bgap)))
        )
    pw = ((room + bgap) / side - bgap - label - (per_line - 1) * gap) / per_line
    pw = min(_LB["panel_max"], pw)
    block_width = label + per_line * pw + (per_line - 1) * gap
    return {"label": label, "pw": pw, "per_line": per_line, "side": side, "block": block_width}


def _block_lines(block: dict, layout: dict) -> list[tuple[slice, list[str], float]]:
    """A block's lines of panels: (metric slice, wrapped titles, title height in inches)."""
    n, step = len(block["metrics"]), layout["per_line"]
    lines = []
    for start in range(0, n, step):
        part = slice(start, min(n, start + step))
        titles = [
            _wrap(f"{m} {_arrow(u)}" if u is not None else m, layout["pw"], NORMAL)
            for m, u in zip(block["metrics"][part], block["up"][part], strict=True)
        ]
        height = 0.1 + 0.17 * max(t.count("\n") + 1 for t in titles)
        lines.append((part, titles, height))
    return lines


def _block_height(block: dict, layout: dict) -> float:
    ph = _LB["row"] * len(block["methods"]) + 0.1
    lines = _block_lines(block, layout)
    return (0.3 if block["title"] else 0.0) + sum(h + ph + 0.36 for _, _, h in lines)


def _leaderboard_figure(blocks: list[dict], title: str) -> Figure:
    layout = _leaderboard_layout(blocks)
    side, top = layout["side"], 0.85
    rows = [blocks[i : i + side] for i in range(0, len(blocks), side)]
    heights = [max(_block_height(b, layout) for b in row) for row in rows]
    width = 0.2 + min(side, len(blocks)) * (layout["block"] + _LB["block_gap"]) - _LB["block_gap"]
    height = top + sum(heights) + 0.05 * (len(rows) - 1) + 0.05
    fig = _figure(width, height, title)
    _leaderboard_legend(fig, any(b["control"].any() for b in blocks), 1 - 0.42 / height)
    y = height - top
    for row, row_height in zip(rows, heights, strict=True):
        for i, block in enumerate(row):
            x = 0.1 + i * (layout["block"] + _LB["block_gap"])
            _leaderboard_block(fig, block, layout, x, y)
        y -= row_height + 0.05
    return fig


def _leaderboard_legend(fig: Figure, controls: bool, y: float) -> None:
    dot = {"ls": "none", "marker": "o", "ms": 5}
    handles = [
        Line2D([], [], color=METHOD_COLOR, **dot),
        Line2D([], [], color=BEST_COLOR, **dot),
        Line2D([], [], color="0.3", lw=1, marker="|", ms=6),
    ]
    names = ["method (mean)", "best method", "95% CI"]
    if controls:
        handles.append(
            Line2D([], [], color=CONTROL_COLOR, ls=(0, (4, 2)), marker="D", ms=4, mfc="white")
        )
        names.append("control: a reference to beat")
    fig.legend(
        handles,
        names,
        loc="upper center",
        bbox_to_anchor=(0.5, y),
        ncol=len(names),
        fontsize=SMALL,
        frameon=False,
        handlelength=2.2,
        columnspacing=1.5,
    )


def _leaderboard_block(fig: Figure, block: dict, layout: dict, x: float, top: float) -> None:
    """One (dataset, model): its title, then its lines of panels, from ``top`` down."""
    if block["title"]:
        fig.text(
            x / fig.get_figwidth(),
            (top - 0.2) / fig.get_figheight(),
            block["title"],
            fontsize=NORMAL,
            weight="bold",
            va="baseline",
        )
        top -= 0.3
    n = len(block["methods"])
    ph = _LB["row"] * n + 0.1
    pw, gap = layout["pw"], _LB["gap"]
    for part, titles, title_height in _block_lines(block, layout):
        top -= title_height
        k = len(titles)
        ax = _axes(fig, x + layout["label"], top - ph, k * pw + (k - 1) * gap, ph)
        _leaderboard_line(ax, block, part, titles, pw / (pw + gap))
        top -= ph + 0.36


def _scale(values: np.ndarray):
    """Limits, ticks, tick labels and offset text ("1e-4") of an axis over the finite
    ``values``, as matplotlib autoscales one: 5% margins, at most 4 ticks."""
    finite, locator = values[np.isfinite(values)], MaxNLocator(nbins=3)
    low, high = locator.nonsingular(finite.min(), finite.max())
    low, high = low - 0.05 * (high - low), high + 0.05 * (high - low)
    ticks = locator.tick_values(low, high)
    ticks = ticks[(ticks >= low) & (ticks <= high)]
    fmt = ScalarFormatter()
    fmt.create_dummy_axis()
    fmt.axis.set_view_interval(low, high)
    fmt.set_powerlimits((-2, 3))  # short labels, the power of ten aside
    return low, high, ticks, fmt.format_ticks(ticks), fmt.get_offset()


def _best(mean: np.ndarray, rank: np.ndarray, real: np.ndarray, up) -> np.ndarray:
    """The real methods of best rank (by mean where no rank is given)."""
    if np.isfinite(rank[real]).any():
        return real & (rank == np.nanmin(rank[real]))
    scored = real & np.isfinite(mean)
    if not scored.any():
        return scored
    target = np.nanmax(mean[scored]) if up in (True, None) else np.nanmin(mean[scored])
    return scored & (mean == target)


def _leaderboard_line(ax: Axes, block: dict, part: slice, titles: list[str], frac: float) -> None:
    """One line of panels of a block drawn as artists of one axes (fast): metric j in the x
    slot [j, j + frac] on its own scale, the methods at y = n - 1, ..., 0 (named)."""
    n, control = len(block["methods"]), block["control"]
    art = {k: [] for k in ("frames", "guides", "sep", "grid", "ci", "ctrl_ci", "refs", "caps")}
    art |= {"ticks": [], "dots": {METHOD_COLOR: [], BEST_COLOR: [], CONTROL_COLOR: []}}
    values, ups = block["values"][part], block["up"][part]
    metrics = block["metrics"][part]
    for j, (panel, up) in enumerate(zip(values, ups, strict=True)):
        timed = metrics[j] == RUNTIME_METRIC
        _leaderboard_panel(ax, art, j, frac, panel, up=up, control=control, timed=timed)
        ax.text(
            j + frac / 2,
            n - 0.4,
            titles[j],
            transform=_shifted(ax, 4),
            ha="center",
            va="bottom",
            fontsize=NORMAL,
            linespacing=1.0,
        )
    _draw_line(ax, art)
    ax.set(xlim=(0, len(values) - 1 + frac), ylim=(-0.6, n - 0.4))
    ax.set_axis_off()  # no tick machinery: the names are plain texts (a third of the time)
    beside = ax.transData + ScaledTranslation(-4 / 72, 0, ax.figure.dpi_scale_trans)
    for y, name, is_control in zip(n - 1 - np.arange(n), block["methods"], control, strict=True):
        style = {"color": CONTROL_COLOR, "style": "italic"} if is_control else {}
        ax.text(0, y, name, transform=beside, ha="right", va="center", fontsize=NORMAL, **style)


def _shifted(ax: Axes, points: float):
    """Data coordinates moved up by ``points`` (down when negative)."""
    return ax.transData + ScaledTranslation(0, points / 72, ax.figure.dpi_scale_trans)


def _leaderboard_panel(ax, art: dict, j: int, frac: float, panel, *, up, control, timed) -> None:
    """Collect the artists of metric j's panel (``panel``: methods × mean, low, high, rank):
    its frame, scale and ticks (durations with units when ``timed``), the CIs, the means (best
    real method green, controls grey diamonds) and a dashed reference line at each control's
    mean."""
    mean, low, high, rank = panel.T
    n = len(mean)
    pos = n - 1 - np.arange(n, dtype=float)
    art["frames"].append(Rectangle((j, -0.6), frac, n + 0.2))
    art["guides"] += [[(j, p), (j + frac, p)] for p in pos]
    if control.any() and (~control).any():  # the controls under a line of their own
        art["sep"].append([(j, control.sum() - 0.5), (j + frac, control.sum() - 0.5)])
    low, high = np.fmin(low, mean), np.fmax(high, mean)  # NaN only without a CI
    vmin, vmax, ticks, labels, offset = _scale(np.r_[mean, low, high])
    if timed:  # seconds: the unit on every tick, no power of ten aside
        ticks = ticks[ticks >= 0]
        labels, offset = [seconds(t) for t in ticks], ""
    x0, x1, xm, xt = (j + frac * (v - vmin) / (vmax - vmin) for v in (low, high, mean, ticks))
    ci = np.isfinite(x0) & np.isfinite(x1)
    for key, rows in (("ci", ci & ~control), ("ctrl_ci", ci & control)):
        art[key] += [[(x0[i], pos[i]), (x1[i], pos[i])] for i in np.flatnonzero(rows)]
    art["caps"] += [(x[i], pos[i]) for i in np.flatnonzero(ci & ~control) for x in (x0, x1)]
    best, shown = _best(mean, rank, ~control, up), np.isfinite(xm)
    for colour, rows in (
        (METHOD_COLOR, ~control & ~best),
        (BEST_COLOR, best),
        (CONTROL_COLOR, control),
    ):
        art["dots"][colour] += [(xm[i], pos[i]) for i in np.flatnonzero(rows & shown)]
    art["refs"] += [[(xm[i], -0.6), (xm[i], n - 0.4)] for i in np.flatnonzero(control & shown)]
    art["grid"] += [[(t, -0.6), (t, n - 0.4)] for t in xt]
    art["ticks"] += [(t, -0.6) for t in xt]
    for t, label in zip(xt, labels, strict=True):
        ax.text(t, -0.6, label, transform=_shifted(ax, -4), ha="center", va="top", fontsize=SMALL)
    ax.text(
        j + frac, -0.6, offset, transform=_shifted(ax, -17), ha="right", va="top", fontsize=SMALL
    )


def _draw_line(ax: Axes, art: dict) -> None:
    """Add the collected artists of `_leaderboard_line`, one collection each."""
    frame = {"facecolor": "none", "edgecolor": "0.2", "linewidth": 0.8, "clip_on": False}
    ax.add_collection(PatchCollection(art["frames"], **frame), autolim=False)
    styles = [
        ("guides", {"colors": "0.92", "linewidths": 0.6, "zorder": 0.4}),
        ("sep", {"colors": "0.35", "linewidths": 0.8, "linestyles": (0, (3, 2)), "zorder": 0.6}),
        ("grid", {"colors": "0.86", "linewidths": 0.8, "zorder": 0.5}),
        (
            "refs",
            {"colors": CONTROL_COLOR, "linewidths": 1.0, "linestyles": (0, (4, 2)), "zorder": 1},
        ),
        ("ctrl_ci", {"colors": "0.65", "linewidths": 1.0, "zorder": 1.5}),
        ("ci", {"colors": "0.3", "linewidths": 1.0, "zorder": 1.5}),
    ]
    for key, style in styles:
        if art[key]:
            ax.add_collection(LineCollection(art[key], **style), autolim=False)
    for colour, points in art["dots"].items():
        if points:
            x, y = np.array(points).T
            if colour == CONTROL_COLOR:
                ax.scatter(x, y, marker="D", s=18, facecolors="white", edgecolors=colour, zorder=3)
            else:
                ax.scatter(x, y, color=colour, s=20 if colour == BEST_COLOR else 16, zorder=3)
    for key, (marker, size, width, color) in [
        ("caps", ("|", 4, 1, "0.3")),
        ("ticks", (TICKDOWN, 2, 0.8, "black")),
    ]:
        if art[key]:
            x, y = np.array(art[key]).T
            ax.plot(x, y, ls="none", marker=marker, ms=size, mew=width, color=color, clip_on=False)
