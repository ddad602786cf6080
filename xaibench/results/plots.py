"""Plots of a run (matplotlib, headless): leaderboard, rank and agreement heatmaps, curves; the
gallery and the model inspection are in ``xaibench.results.gallery``.

Every function writes one PNG (parent folders created, figure closed) and returns its path, or
None when there is nothing to draw.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection, PatchCollection
from matplotlib.lines import Line2D
from matplotlib.markers import TICKDOWN
from matplotlib.patches import Rectangle
from matplotlib.ticker import MaxNLocator, ScalarFormatter
from matplotlib.transforms import ScaledTranslation

from xaibench.results._figures import (
    _RANKS,
    _annotate,
    _axes,
    _figure,
    _grid,
    _grid_axes,
    _label,
    _save,
    _text_inches,
    plain_text,
)
from xaibench.results.gallery import gallery_plot, inspection_plot  # noqa: F401 - re-exported


def rank_matrices(board: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Methods × metrics rank matrices of a leaderboard.

    Returns ``{"all": mean rank over (dataset, model), "<dataset> / <model>": rank, ...}``; the
    mean skips NaN ranks. Rows (methods) are ordered by their mean of the "all" row (best first,
    ties and NaN by name), columns (metrics) by first appearance in ``board``. A board without
    dataset/model columns gives ``{"all": ...}`` only.
    """
    keys = [k for k in ("dataset", "model") if k in board.columns]
    b = board.assign(rank=pd.to_numeric(board["rank"], errors="coerce").astype(float))
    metrics = list(dict.fromkeys(b["metric"]))

    def matrix(g: pd.DataFrame) -> pd.DataFrame:
        return g.groupby(["method", "metric"])["rank"].mean().unstack()

    overall = matrix(b).reindex(index=sorted(b["method"].unique()), columns=metrics)
    order = overall.mean(axis=1).sort_values(kind="stable", na_position="last").index
    mats = {"all": overall.reindex(index=order)}
    if keys:
        for key, g in b.groupby(keys, sort=True):
            mats[_label(key)] = matrix(g).reindex(index=order, columns=metrics)
    return mats


@plain_text
def rank_heatmap(board: pd.DataFrame, path: str | Path) -> Path | None:
    """Heatmap of each method's rank (1 = best) per metric, one panel per (dataset, model).

    The first panel, "all", shows the mean rank over (dataset, model) (see `rank_matrices`); it
    is left out when the board has a single (dataset, model). Cells show the rank, NaN ranks
    are blank, column labels carry ↑/↓ for ``higher_is_better``. Returns None for an empty board.

    >>> rank_heatmap(xb.leaderboard(df), "plots/ranks.png")  # doctest: +SKIP
    """
    if board is None or board.empty:
        return None
    missing = {"method", "metric", "rank"} - set(board.columns)
    if missing:
        raise ValueError(f"board needs columns method, metric, rank; missing {sorted(missing)}")
    mats = rank_matrices(board)
    if len(mats) == 2:  # one (dataset, model): "all" would repeat it
        del mats["all"]
    first = next(iter(mats.values()))
    metrics = list(first.columns)
    if "higher_is_better" in board.columns:
        up = board.drop_duplicates("metric").set_index("metric")["higher_is_better"]
        metrics = [f"{m} {'↑' if bool(up[m]) else '↓'}" for m in metrics]
    worst = np.nanmax([np.nanmax(m.to_numpy(), initial=1.0) for m in mats.values()])
    vmax = max(2.0, float(worst))
    fig, axes, cax = _rank_layout(len(mats), list(first.index), metrics)
    fontsize = 8 if len(metrics) <= 10 else 6.5
    for ax, (name, mat) in zip(axes, mats.items(), strict=True):
        values = mat.to_numpy(dtype=float)
        im = ax.imshow(values, cmap=_RANKS, vmin=1.0, vmax=vmax, aspect="auto")
        fmt = (lambda v: f"{v:.1f}") if name == "all" else (lambda v: f"{v:.0f}")
        _annotate(ax, values, fmt, lambda v: (v - 1) / (vmax - 1) < 0.45, fontsize)
        ax.set_title("all (mean rank)" if name == "all" else name, fontsize=9, y=1.0)
    fig.colorbar(im, cax=cax).set_label("rank (1 = best)", fontsize=8)
    return _save(fig, path)


def _rank_layout(n: int, methods: list[str], metrics: list[str]):
    """The figure, ``n`` heatmap axes and the colorbar axes of `rank_heatmap`.

    Every panel has the same rows and columns, so methods are named on the first column only
    and metrics under the last panel of each column.
    """
    rows, cols = _grid(n, 3 if len(metrics) <= 6 else 2)
    cw, ch = (0.5, 0.3) if len(metrics) <= 10 else (0.44, 0.26)
    pw, ph, wgap = cw * len(metrics), ch * len(methods), 0.25
    left = _text_inches(methods, 8) + 0.25
    ticks = 0.72 * _text_inches(metrics, 8) + 0.25  # labels rotated by 45°
    last = [[r * cols + c < n <= (r + 1) * cols + c for c in range(cols)] for r in range(rows)]
    gaps = [ticks if any(row) else 0.12 for row in last]
    width = left + cols * pw + (cols - 1) * wgap + 1.3
    height = 0.45 + rows * (0.3 + ph) + sum(gaps)
    fig = _figure(width, height, "Method ranks per metric (1 = best; ↑ higher is better, ↓ lower)")
    axes, y = [], height - 0.45
    for r in range(rows):
        y -= 0.3 + ph
        for c in range(min(cols, n - r * cols)):
            ax = _axes(fig, left + c * (pw + wgap), y, pw, ph)
            if last[r][c]:
                ax.set_xticks(range(len(metrics)), metrics, rotation=45, ha="right", fontsize=8)
            else:
                ax.set_xticks([])
            ax.set_yticks(range(len(methods)) if c == 0 else [], methods if c == 0 else [])
            ax.tick_params(axis="y", labelsize=8)
            axes.append(ax)
        y -= gaps[r]
    cax = _axes(fig, width - 1.0, 0.2 * height, 0.18, 0.6 * height)
    return fig, axes, cax


@plain_text
def agreement_heatmap(
    matrix: pd.DataFrame,
    path: str | Path,
    *,
    title: str = "Metric agreement (Spearman rho of method rankings)",
) -> Path | None:
    """Square metrics × metrics correlation matrix in [-1, 1] (NaN blank), annotated.

    Diverging colormap centred at 0 (red -1, blue +1). Returns None for an empty matrix.
    """
    if matrix is None or matrix.empty:
        return None
    if matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"matrix must be square (metrics × metrics), got shape {matrix.shape}")
    values = matrix.to_numpy(dtype=float)
    n = len(values)
    rows, columns = [str(i) for i in matrix.index], [str(c) for c in matrix.columns]
    side = float(np.clip(9.5 / n, 0.3, 0.6)) * n
    left = _text_inches(rows, 8) + 0.25
    bottom = 0.72 * _text_inches(columns, 8) + 0.25  # labels rotated by 45°
    width = max(left + side + 1.4, _text_inches([title], 10) + 0.4)
    fig = _figure(width, 0.45 + side + bottom, title)
    ax = _axes(fig, left, bottom, side, side)
    im = ax.imshow(values, cmap="RdBu", vmin=-1.0, vmax=1.0, aspect="auto")
    fontsize = max(5.0, 9.0 - n / 5)
    _annotate(ax, values, lambda v: f"{v:.2f}", lambda v: abs(v) > 0.6, fontsize)
    ax.set_xticks(range(n), columns, rotation=45, ha="right")
    ax.set_yticks(range(n), rows)
    ax.tick_params(labelsize=8)
    cax = _axes(fig, left + side + 0.25, bottom + 0.15 * side, 0.18, 0.7 * side)
    fig.colorbar(im, cax=cax).set_label("correlation", fontsize=8)
    return _save(fig, path)


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


@plain_text
def curves_plot(
    curves: dict[tuple[str, str], dict[str, np.ndarray]], metric: str, path: str | Path
) -> Path | None:
    """Mean perturbation curve per method with a 95% interval of the mean, per (dataset, model).

    ``curves[(dataset, model)][method]`` is an (N, steps + 1) array of per-sample curves, the
    x axis the fraction of features perturbed (0 to 1). Rows holding NaN are ignored; the band
    is mean ± 1.96·SE (no bootstrap). Returns None when no finite curve is left.
    """
    panels = {key: _finite_curves(v) for key, v in curves.items()}
    panels = {key: panels[key] for key in sorted(panels, key=str) if panels[key]}
    if not panels:
        return None
    methods = sorted({m for v in panels.values() for m in v})
    palette = matplotlib.colormaps.get_cmap("tab10" if len(methods) <= 10 else "tab20")
    colors = {m: palette(i % palette.N) for i, m in enumerate(methods)}
    rows, cols = _grid(len(panels), 3)
    (pw, ph), (wgap, hgap) = (3.3, 2.3), (0.7, 0.8)
    width = 0.7 + cols * pw + (cols - 1) * wgap + _text_inches(methods, 8) + 0.8
    height = 0.7 + rows * ph + (rows - 1) * hgap + 0.55
    title = f"{metric} curves: mean and 95% interval of the mean (±1.96·SE)"
    fig = _figure(width, height, title)
    axes = _grid_axes(fig, len(panels), cols, (pw, ph), left=0.7, top=0.7, gap=(wgap, hgap))
    for ax, (key, by_method) in zip(axes, panels.items(), strict=True):
        for method, a in by_method.items():
            x = np.linspace(0.0, 1.0, a.shape[1])
            mean = a.mean(axis=0)
            se = a.std(axis=0, ddof=1) / np.sqrt(len(a)) if len(a) > 1 else np.zeros_like(mean)
            ax.plot(x, mean, color=colors[method], lw=1.5, label=method)
            ax.fill_between(
                x, mean - 1.96 * se, mean + 1.96 * se, color=colors[method], alpha=0.2, lw=0
            )
        ax.set(xlim=(0.0, 1.0), xlabel=_curve_xlabel(metric), ylabel="class score")
        ax.set_title(_label(key), fontsize=9, y=1.0)
        ax.grid(alpha=0.3)
    handles = [Line2D([], [], color=colors[m], lw=2) for m in methods]
    anchor = (1 - 0.05 / width, 1 - 0.45 / height)
    fig.legend(
        handles, methods, loc="upper right", bbox_to_anchor=anchor, fontsize=8, title="method"
    )
    return _save(fig, path)


def _wrap(text: str, width: float, fontsize: float) -> str:
    """``text`` on two lines, broken after the "_" that balances them best, when it is wider
    than ``width`` inches."""
    cuts = [i + 1 for i, ch in enumerate(text) if ch == "_"]
    if not cuts or _text_inches([text], fontsize) <= width:
        return text
    best = min(cuts, key=lambda i: _text_inches([text[:i], text[i:]], fontsize))
    return f"{text[:best]}\n{text[best:]}"


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


def _leaderboard_values(board: pd.DataFrame, groups: list, metrics: list, order: list):
    """(groups, metrics, methods, 4) array of mean, ci_low, ci_high, rank (NaN when missing)."""
    keys, columns = ["dataset", "model", "metric", "method"], ["mean", "ci_low", "ci_high", "rank"]
    table = board.drop_duplicates(keys).set_index(keys)[columns]
    table = table.apply(pd.to_numeric, errors="coerce").astype(float)
    index = [(*group, metric, method) for group in groups for metric in metrics for method in order]
    values = table.reindex(pd.MultiIndex.from_tuples(index, names=keys)).to_numpy()
    return values.reshape(len(groups), len(metrics), len(order), len(columns))


def _leaderboard_row(ax: Axes, values: np.ndarray, order: list[str], frac: float) -> None:
    """The panels of one (dataset, model), drawn as artists of one axes (fast): metric j in
    the x slot [j, j + frac] on its own scale, the methods at y = 0, 1, ... (named)."""
    pos, n = np.arange(len(order), dtype=float), len(order)
    art = {k: [] for k in ("frames", "guides", "grid", "ci", "caps", "x", "y", "c", "ticks")}
    below = ax.transData + ScaledTranslation(0, -4 / 72, ax.figure.dpi_scale_trans)
    aside = ax.transData + ScaledTranslation(0, -15 / 72, ax.figure.dpi_scale_trans)
    for j, (mean, low, high, rank) in enumerate(values.transpose(0, 2, 1)):
        art["frames"].append(Rectangle((j, -0.6), frac, n + 0.2))
        art["guides"] += [[(j, p), (j + frac, p)] for p in pos]
        if not np.isfinite(mean).any():
            ax.text(j + frac / 2, (n - 1) / 2, "no scores", ha="center", va="center", color="0.5")
            continue
        low, high = np.fmin(low, mean), np.fmax(high, mean)  # NaN only without a CI
        vmin, vmax, ticks, labels, offset = _scale(np.r_[mean, low, high])
        x0, x1, xm, xt = (j + frac * (v - vmin) / (vmax - vmin) for v in (low, high, mean, ticks))
        ci = np.isfinite(x0) & np.isfinite(x1)
        art["ci"] += [[(a, p), (b, p)] for a, b, p in zip(x0[ci], x1[ci], pos[ci], strict=True)]
        art["caps"] += [*zip(x0[ci], pos[ci], strict=True), *zip(x1[ci], pos[ci], strict=True)]
        art["x"] += list(xm)
        art["y"] += list(pos)
        art["c"] += ["tab:green" if r == 1 else "tab:blue" for r in rank]
        art["grid"] += [[(t, -0.6), (t, n - 0.4)] for t in xt]
        art["ticks"] += [(t, -0.6) for t in xt]
        for t, label in zip(xt, labels, strict=True):
            ax.text(t, -0.6, label, transform=below, ha="center", va="top", fontsize=7)
        ax.text(j + frac, -0.6, offset, transform=aside, ha="right", va="top", fontsize=7)
    _draw_row(ax, art)
    ax.set(xlim=(0, len(values) - 1 + frac), ylim=(-0.6, n - 0.4))
    ax.set_frame_on(False)
    ax.set_xticks([])
    ax.set_yticks(pos, order, fontsize=8)


def _draw_row(ax: Axes, art: dict) -> None:
    """Add the collected artists of `_leaderboard_row`, one collection each."""
    frame = {"facecolor": "none", "edgecolor": "black", "linewidth": 0.8, "clip_on": False}
    ax.add_collection(PatchCollection(art["frames"], **frame), autolim=False)
    for key, style in [("guides", ("0.93", 0.6)), ("grid", ("0.86", 0.8)), ("ci", ("0.4", 1))]:
        lines = LineCollection(art[key], colors=style[0], linewidths=style[1], zorder=0.5)
        ax.add_collection(lines, autolim=False)
    ax.scatter(art["x"], art["y"], c=art["c"], s=16, zorder=3)
    for key, style in [("caps", ("|", 4, 1, "0.4")), ("ticks", (TICKDOWN, 2, 0.8, "black"))]:
        if art[key]:
            x, y = np.array(art[key]).T
            marker, size, width, color = style
            ax.plot(x, y, ls="none", marker=marker, ms=size, mew=width, color=color, clip_on=False)


@plain_text
def leaderboard_plot(board: pd.DataFrame, path: str | Path) -> Path:
    """One panel per (dataset / model, metric): each method's mean with its 95% CI; rank 1 green.

    Rows are the (dataset, model), columns the metrics (↑ higher is better, ↓ lower), methods
    alphabetical from the top. Panels without a finite mean say "no scores".
    """
    groups = sorted(board.groupby(["dataset", "model"]).groups)
    metrics = list(dict.fromkeys(board["metric"]))
    order = sorted(board["method"].unique(), reverse=True)  # alphabetical from the top
    values = _leaderboard_values(board, groups, metrics, order)
    up = board.drop_duplicates("metric").set_index("metric")["higher_is_better"]
    left = _text_inches(order, 8) + 0.25
    pw = float(np.clip((19.5 - left) / len(metrics) - 0.2, 0.9, 2.6))
    ph, top = 0.17 * len(order) + 0.15, 1.05
    width, height = left + len(metrics) * (pw + 0.2), top + len(groups) * (ph + 0.6)
    title = "Leaderboard: mean and bootstrap 95% CI per method (green = rank 1)"
    fig = _figure(width, height, title)
    for j, metric in enumerate(metrics):
        text = _wrap(f"{metric} {'↑' if bool(up[metric]) else '↓'}", pw + 0.15, 8)
        x = (left + j * (pw + 0.2) + pw / 2) / width
        fig.text(x, 1 - 0.45 / height, text, ha="center", va="top", fontsize=8)
    for i, key in enumerate(groups):
        y = height - top - i * (ph + 0.6)  # the row's top, inches from the bottom
        fig.text(0.1 / width, (y + 0.06) / height, _label(key), fontsize=9, weight="bold")
        ax = _axes(fig, left, y - ph, width - left - 0.2, ph)
        _leaderboard_row(ax, values[i], order, pw / (pw + 0.2))
    return _save(fig, path)
