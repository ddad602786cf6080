"""Plots of a run (matplotlib, headless).

Every function writes one PNG (parent folders created, figure closed) and returns its path, or
None when there is nothing to draw.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.backends.backend_agg import RendererAgg  # noqa: E402
from matplotlib.cm import ScalarMappable  # noqa: E402
from matplotlib.collections import LineCollection, PatchCollection, PathCollection  # noqa: E402
from matplotlib.colors import ListedColormap, Normalize  # noqa: E402
from matplotlib.font_manager import FontProperties  # noqa: E402
from matplotlib.markers import TICKDOWN  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402
from matplotlib.textpath import TextPath  # noqa: E402
from matplotlib.ticker import MaxNLocator, ScalarFormatter  # noqa: E402
from matplotlib.transforms import Affine2D, ScaledTranslation  # noqa: E402

DPI = 110
MAX_PIXELS = 2000  # a PNG's longest side; big figures lower their dpi to fit, down to MIN_DPI
MIN_DPI = 90
_SIGNED = "RdBu_r"  # attributions and weights: red positive, blue negative, white 0
_RANKS = ListedColormap(plt.get_cmap("Greens_r")(np.linspace(0.0, 0.75, 256)))  # rank 1 darkest

# Layouts are fixed: every margin is computed in inches from the measured labels, which costs a
# fraction of matplotlib's tight or constrained layout on figures of many axes. Axes titles get
# y=1.0, which spares matplotlib measuring every tick label to place them.


def _save(fig: plt.Figure, path: str | Path) -> Path:
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        dpi = min(DPI, max(MIN_DPI, MAX_PIXELS / max(fig.get_size_inches())))
        fig.savefig(path, dpi=dpi)
    finally:
        plt.close(fig)
    return path


@cache
def _renderer() -> RendererAgg:
    return RendererAgg(1, 1, 72)  # at 72 dpi a pixel is a point


def _text_inches(labels, fontsize: float) -> float:
    """Width in inches of the widest of ``labels`` at ``fontsize`` points (0 without labels)."""
    prop = FontProperties(size=fontsize)
    measure = _renderer().get_text_width_height_descent
    return max((measure(str(s), prop, ismath=False)[0] for s in labels), default=0.0) / 72


def _figure(width: float, height: float, title: str, fontsize: float = 10) -> plt.Figure:
    """A ``width`` × ``height`` inches figure titled at its top (callers leave 0.45 in a line)."""
    fig = plt.figure(figsize=(width, height))
    fig.suptitle(title, fontsize=fontsize, y=1 - 0.08 / height, va="top")
    return fig


def _axes(fig: plt.Figure, left: float, bottom: float, width: float, height: float) -> plt.Axes:
    """Axes at a position given in inches from the figure's bottom left corner."""
    w, h = fig.get_size_inches()
    return fig.add_axes((left / w, bottom / h, width / w, height / h))


def _grid_axes(fig: plt.Figure, n: int, cols: int, panel, *, left: float, top: float, gap) -> list:
    """``n`` axes of ``panel`` (width, height) inches in rows of ``cols``, the first row
    ``top`` inches below the figure's top, ``gap`` (horizontal, vertical) inches apart."""
    (pw, ph), (wgap, hgap) = panel, gap
    height = fig.get_size_inches()[1]
    return [
        _axes(fig, left + c * (pw + wgap), height - top - r * (ph + hgap) - ph, pw, ph)
        for r, c in (divmod(i, cols) for i in range(n))
    ]


def _grid(n: int, max_cols: int) -> tuple[int, int]:
    cols = max(1, min(n, max_cols))
    return -(-n // cols), cols


def _unit(a: np.ndarray) -> np.ndarray:
    """``a`` divided by its own max |a| (unchanged when that is 0 or not finite)."""
    a = np.asarray(a, dtype=float)
    finite = np.abs(a[np.isfinite(a)])
    scale = finite.max() if finite.size else 0.0
    return a / scale if scale > 0 else a


def _rgb(tile: np.ndarray, kind: str) -> np.ndarray:
    """A (h, w) or (h, w, C) array as the (h, w, 3) RGB image ``imshow`` would draw.

    ``kind``: "image" (clipped to [0, 1], gray unless C == 3), "rgb" (clipped), "signed"
    (scaled by its own max |a|, diverging colormap centred at 0) or "activation" (its own
    min-max, viridis). NaN is drawn white.
    """
    t = np.asarray(tile, dtype=float)
    if kind in ("image", "rgb"):
        t = np.clip(t, 0.0, 1.0)
        gray = t if t.ndim == 2 else t.mean(axis=-1)
        return t if t.ndim == 3 and t.shape[-1] == 3 else np.repeat(gray[..., None], 3, axis=-1)
    if kind == "signed":
        rgba = plt.get_cmap(_SIGNED)((np.clip(_unit(t), -1.0, 1.0) + 1.0) / 2.0)
    else:
        finite = t[np.isfinite(t)]
        low, high = (finite.min(), finite.max()) if finite.size else (0.0, 0.0)
        rgba = plt.get_cmap("viridis")((t - low) / (high - low) if high > low else t * 0.0)
    return rgba[..., :3] * rgba[..., 3:] + (1.0 - rgba[..., 3:])


def _mosaic(ax: plt.Axes, tiles: list[np.ndarray], cols: int, gap: int) -> tuple[int, int]:
    """Same-shape RGB ``tiles`` in rows of ``cols``, ``gap`` white pixels apart and framed,
    drawn as one image on ``ax`` (axis off); returns the step (h + gap, w + gap) in pixels."""
    h, w = tiles[0].shape[:2]
    rows = -(-len(tiles) // cols)
    img = np.ones((rows * (h + gap) - gap, cols * (w + gap) - gap, 3))
    frames = []
    for i, tile in enumerate(tiles):
        y, x = (i // cols) * (h + gap), (i % cols) * (w + gap)
        img[y : y + h, x : x + w] = tile
        frames.append(Rectangle((x - 0.5, y - 0.5), w, h))
    ax.imshow(img, interpolation="nearest")
    ax.set_anchor("N")
    style = {"facecolor": "none", "edgecolor": "black", "linewidth": 0.8, "clip_on": False}
    ax.add_collection(PatchCollection(frames, **style), autolim=False)
    ax.set_axis_off()
    return h + gap, w + gap


def _signed_colorbar(fig: plt.Figure, cax: plt.Axes, what: str = "attribution") -> None:
    mappable = ScalarMappable(Normalize(-1.0, 1.0), _SIGNED)
    cbar = fig.colorbar(mappable, cax=cax, ticks=[-1, 0, 1])
    cbar.ax.set_yticklabels(["−max|a|", "0", "+max|a|"], fontsize=8)
    short = cax.get_position().height * fig.get_figheight() < 2.8
    sep = "\n" if short else " "  # the label on two lines beside a short colorbar
    cbar.set_label(f"{what},{sep}each map scaled by its own max |a|", fontsize=8)


def _annotate(ax: plt.Axes, values: np.ndarray, fmt, dark, fontsize: float) -> None:
    """Each finite cell's ``fmt(v)`` centred on it, white where ``dark(v)``, otherwise black.

    The glyphs are drawn as one path collection per colour, which looks like text and costs
    a fraction of one ``Text`` per cell.
    """
    prop, glyphs, cells = FontProperties(size=fontsize), {}, {"white": [], "black": []}
    for (i, j), v in np.ndenumerate(values):
        if np.isfinite(v):
            text = fmt(v)
            if text not in glyphs:
                path = TextPath((0, 0), text, prop=prop)  # in points
                middle = (path.vertices.min(axis=0) + path.vertices.max(axis=0)) / 2
                glyphs[text] = path.transformed(Affine2D().translate(*-middle))
            cells["white" if dark(v) else "black"].append((glyphs[text], (j, i)))
    points = Affine2D().scale(1 / 72) + ax.figure.dpi_scale_trans
    for color, items in cells.items():
        if items:
            paths, offsets = zip(*items, strict=True)
            style = {"facecolors": color, "edgecolors": "none", "linewidths": 0}
            collection = PathCollection(
                paths, offsets=offsets, offset_transform=ax.transData, transform=points, **style
            )
            ax.add_collection(collection, autolim=False)


def _label(key) -> str:
    return " / ".join(map(str, key)) if isinstance(key, tuple) else str(key)


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
    palette = plt.get_cmap("tab10" if len(methods) <= 10 else "tab20")
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
    handles = [plt.Line2D([], [], color=colors[m], lw=2) for m in methods]
    anchor = (1 - 0.05 / width, 1 - 0.45 / height)
    fig.legend(
        handles, methods, loc="upper right", bbox_to_anchor=anchor, fontsize=8, title="method"
    )
    return _save(fig, path)


def _row_labels(k: int, targets, class_names) -> list[str]:
    if targets is None:
        return [""] * k
    targets = np.asarray(targets).astype(int).reshape(-1)
    if len(targets) != k:
        raise ValueError(f"targets must have one class id per input ({k}), got {len(targets)}")
    names = list(class_names) if class_names is not None else []
    return [str(names[t]) if 0 <= t < len(names) else f"class {t}" for t in targets]


def _gallery_images(
    x: np.ndarray, maps: dict[str, np.ndarray], labels: list[str], title: str
) -> plt.Figure:
    """One framed image of k rows × (1 + methods) tiles, the inputs first."""
    k, n = len(x), len(maps)
    tiles = []
    for i in range(k):
        tiles += [_rgb(x[i], "image")] + [_rgb(a[i], "signed") for a in maps.values()]
    h, w = x.shape[1:3]
    gap = max(1, round(0.1 * max(h, w)))
    scale = (1.45 if n < 8 else 1.15) / max(h, w)  # inches per pixel
    width, height = ((n + 1) * (w + gap) - gap) * scale, (k * (h + gap) - gap) * scale
    fig = _figure(width + 1.9, max(height + 0.75, 3.0), title)
    ax = _axes(fig, 0.35, fig.get_figheight() - 0.6 - height, width, height)
    step_y, step_x = _mosaic(ax, tiles, n + 1, gap)
    text = {"textcoords": "offset points", "ha": "center"}
    for j, name in enumerate(["input", *maps]):
        size = 9 if j == 0 else 8 if len(name) <= 14 else 6.5
        xy = (j * step_x + (w - 1) / 2, -0.5)
        ax.annotate(name, xy, xytext=(0, 3), va="bottom", fontsize=size, **text)
    for i, label in enumerate(labels):
        xy = (-0.5, i * step_y + (h - 1) / 2)
        ax.annotate(
            label or f"sample {i}", xy, (-4, 0), rotation=90, va="center", fontsize=9, **text
        )
    middle = fig.get_figheight() / 2  # the label may be longer than the colorbar
    _signed_colorbar(fig, _axes(fig, width + 0.7, middle - 0.3 * height, 0.15, 0.6 * height))
    return fig


def _gallery_tabular(
    x: np.ndarray, maps: dict[str, np.ndarray], labels: list[str], feature_names, title: str
) -> plt.Figure:
    """One methods × features heatmap per sample, stacked, features named under the last."""
    k, n_features = x.shape
    names = list(maps)
    ticks = feature_names if feature_names is not None else range(n_features)
    ticks = [str(t) for t in ticks] if n_features <= 40 else None
    left = _text_inches(names, 7.5) + 0.25
    bottom = (_text_inches(ticks, 7) if ticks else 0.15) + 0.45  # ticks rotated by 90°
    width = min(16.0, max(6.0, 0.25 * n_features + 3.5))
    pw, ph = width - left - 1.5, max(0.5, 0.25 * len(names))
    fig = _figure(width, max(2.8, 0.7 + k * ph + (k - 1) * 0.3 + bottom), title)
    axes = _grid_axes(fig, k, 1, (pw, ph), left=left, top=0.7, gap=(0.0, 0.3))
    for i, ax in enumerate(axes):
        rows = np.stack([_unit(maps[m][i]) for m in names])
        ax.imshow(rows, cmap=_SIGNED, vmin=-1.0, vmax=1.0, aspect="auto", interpolation="nearest")
        ax.set_yticks(range(len(names)), names, fontsize=7.5)
        ax.set_title(f"sample {i}: {labels[i]}".rstrip(": "), fontsize=8.5, loc="left", y=1.0)
        ax.set_xticks([])  # features are named under the last heatmap only
    if ticks:
        axes[-1].set_xticks(range(n_features), ticks, rotation=90, fontsize=7)
    else:
        axes[-1].xaxis.set_major_locator(MaxNLocator(integer=True))
        axes[-1].tick_params(labelsize=7)
    axes[-1].set_xlabel("feature" if feature_names is not None else "feature index", fontsize=8)
    span = k * ph + (k - 1) * 0.3
    cax = _axes(fig, left + pw + 0.3, fig.get_figheight() - 0.7 - 0.8 * span, 0.15, 0.6 * span)
    _signed_colorbar(fig, cax)
    return fig


def gallery_plot(
    inputs: np.ndarray,
    attributions: dict[str, np.ndarray],
    path: str | Path,
    *,
    title: str,
    targets=None,
    class_names=None,
    feature_names=None,
) -> Path | None:
    """A few samples next to each method's attribution.

    Images (``inputs`` (k, H, W, C), C 1 or 3, values in [0, 1], clipped): a grid of k rows ×
    (1 + methods) columns, the input first (gray when C = 1), then each attribution (channels
    summed). Tabular (``inputs`` (k, F)): one methods × features heatmap per sample; feature
    names (or indices) as ticks when F <= 40. Every map is divided by its own max |a| and drawn
    with one diverging colormap centred at 0 (red positive, blue negative), so maps of different
    methods compare in shape and sign, not in magnitude; non-negative maps read white to red.
    Rows are labelled with the target's class name. Returns None when there is nothing to draw.
    """
    x = np.asarray(inputs, dtype=float)
    if x.ndim == 0 or x.size == 0 or not attributions:
        return None
    if x.ndim not in (2, 3, 4):
        raise ValueError(f"inputs must be (k, H, W, C) images or (k, F) tabular, got {x.shape}")
    expected = x.shape[:3]
    maps = {}
    for name, a in attributions.items():
        a = np.asarray(a, dtype=float)
        a = a.sum(axis=-1) if x.ndim > 2 and a.ndim == 4 else a
        if a.shape != expected:
            raise ValueError(
                f"attributions[{name!r}] has shape {np.shape(attributions[name])}; expected "
                f"{expected} (images may add channels) for inputs of shape {x.shape}"
            )
        maps[str(name)] = a
    labels = _row_labels(len(x), targets, class_names)
    if x.ndim == 2 and feature_names is not None and len(feature_names) != x.shape[1]:
        raise ValueError(f"feature_names must name {x.shape[1]} features, got {len(feature_names)}")
    if x.ndim == 2:
        fig = _gallery_tabular(x, maps, labels, feature_names, title)
    else:
        fig = _gallery_images(x, maps, labels, title)
    return _save(fig, path)


def _rgb_filter(w: np.ndarray) -> np.ndarray:
    low, high = np.nanmin(w), np.nanmax(w)
    return (w - low) / (high - low) if high > low else np.full_like(w, 0.5)


def _panels(widths: list[float], height: float, title: str) -> tuple[plt.Figure, list]:
    """A figure of side-by-side panels ``widths`` inches wide and ``height`` tall, 0.35 in
    apart, under ``title`` and a line of panel captions; each panel's (left, bottom, w, h)."""
    fig = _figure(sum(widths) + 0.35 * len(widths), height + 0.9, title)
    lefts = 0.2 + np.cumsum([0.0, *widths[:-1]]) + 0.35 * np.arange(len(widths))
    return fig, [(left, 0.15, w, height) for left, w in zip(lefts, widths, strict=True)]


def _caption(fig: plt.Figure, box, text: str) -> None:
    left, bottom, w, h = box
    width, height = fig.get_size_inches()
    fig.text((left + w / 2) / width, (bottom + h + 0.2) / height, text, ha="center", fontsize=9)


def _tiles(fig: plt.Figure, box, tiles: list[np.ndarray], caption: str) -> None:
    """RGB ``tiles`` numbered in a near-square framed mosaic filling ``box``."""
    left, bottom, w, h = box
    ax = _axes(fig, left, bottom, w, h - 0.12)  # room for the first row's numbers
    zoom = -(-12 // max(tiles[0].shape[:2]))  # tiny kernels: finer gaps between the tiles
    tiles = [t.repeat(zoom, axis=0).repeat(zoom, axis=1) for t in tiles]
    th, tw = tiles[0].shape[:2]
    cols = int(np.ceil(np.sqrt(len(tiles))))
    step_y, step_x = _mosaic(ax, tiles, cols, int(np.ceil(0.3 * max(th, tw))))
    for i in range(len(tiles)):
        xy = ((i % cols) * step_x + (tw - 1) / 2, (i // cols) * step_y - 0.5)
        ax.annotate(str(i), xy, xytext=(0, 1), textcoords="offset points", ha="center", fontsize=7)
    _caption(fig, box, caption)


def _input(fig: plt.Figure, box, x: np.ndarray, caption: str) -> None:
    _mosaic(_axes(fig, *box), [_rgb(x, "image")], 1, 0)
    _caption(fig, box, caption)


def _bars(fig: plt.Figure, box, values: np.ndarray, xlabel: str, ylabel: str, **kwargs) -> None:
    left, bottom, w, h = box
    ax = _axes(fig, left + 0.65, bottom + 0.45, w - 0.65, h - 0.45)
    ax.bar(range(len(values)), values, **kwargs)
    ax.set(xlabel=xlabel, ylabel=ylabel)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(axis="y", alpha=0.3)


def _inspect_conv(x: np.ndarray, w: np.ndarray, act: np.ndarray, max_maps: int, title: str):
    cout = w.shape[-1]
    if act.ndim != 3 or act.shape[-1] != cout or x.ndim not in (2, 3):
        raise ValueError(
            f"conv filters {w.shape} need input (H, W, C) and activations (H', W', {cout}), "
            f"got {x.shape} and {act.shape}"
        )
    n = min(max_maps, cout)
    side = 0.8 * int(np.ceil(np.sqrt(n))) + 0.4
    fig, boxes = _panels([3.2, side, side], max(3.2, side + 0.5), title)
    _input(fig, boxes[0], x, f"input {x.shape[0]}×{x.shape[1]}")
    if w.shape[2] == 3:
        tiles = [_rgb(_rgb_filter(w[..., i]), "rgb") for i in range(n)]
        _tiles(fig, boxes[1], tiles, f"filters ({n} of {cout}; RGB, min-max)")
    else:
        tiles = [_rgb(w[..., i].mean(axis=2), "signed") for i in range(n)]
        _tiles(fig, boxes[1], tiles, f"filters ({n} of {cout}; mean over channels)")
    maps = [_rgb(act[..., i], "activation") for i in range(n)]
    _tiles(fig, boxes[2], maps, f"activation maps ({n} of {cout})")
    return fig


def _inspect_dense(x: np.ndarray, w: np.ndarray, act: np.ndarray, max_maps: int, title: str):
    n_in, units = w.shape
    act = act.reshape(-1) if act.ndim == 2 and act.shape[0] == 1 else act
    if act.shape != (units,) or x.size != n_in:
        raise ValueError(
            f"dense weights {w.shape} need an input of {n_in} values and activations "
            f"({units},), got {x.shape} and {act.shape}"
        )
    n = min(max_maps, units)
    side = 0.8 * int(np.ceil(np.sqrt(n))) + 0.4
    fig, boxes = _panels([3.2, side, 4.0], max(3.2, side + 0.5), title)
    caption = f"weights of units 0–{n - 1}"
    if x.ndim == 1:  # tabular: the input as bars, the weights as a units × features heatmap
        _bars(fig, boxes[0], x, "feature", "value", color="0.4")
        _caption(fig, boxes[0], f"input {n_in}")
        left, bottom, bw, bh = boxes[1]
        weights = _axes(fig, left + 0.5, bottom + 0.45, bw - 0.5, bh - 0.45)
        weights.imshow(
            _unit(w[:, :n].T), cmap=_SIGNED, vmin=-1, vmax=1, aspect="auto", interpolation="nearest"
        )
        weights.set(xlabel="feature", ylabel="unit")
        weights.xaxis.set_major_locator(MaxNLocator(integer=True))
        weights.yaxis.set_major_locator(MaxNLocator(integer=True))
        _caption(fig, boxes[1], caption)
    else:
        _input(fig, boxes[0], x, f"input {'×'.join(map(str, x.shape))}")
        shape = x.shape if x.ndim == 3 else x.shape + (1,)
        maps = [_rgb(w[:, u].reshape(shape).sum(axis=-1), "signed") for u in range(n)]
        _tiles(fig, boxes[1], maps, caption)
    _bars(fig, boxes[2], act, "unit", "activation", width=1.0, color="tab:blue")
    _caption(fig, boxes[2], f"activations of the {units} units")
    return fig


def inspection_plot(
    path: str | Path,
    *,
    input: np.ndarray,
    filters: np.ndarray,
    activations: np.ndarray,
    title: str,
    max_maps: int = 16,
) -> Path | None:
    """What a model's first layer sees of one sample.

    Convolution: ``filters`` (kh, kw, cin, cout) and ``activations`` (H', W', cout); shows the
    input, up to ``max_maps`` filters (RGB min-max normalised when cin == 3, otherwise the mean
    over cin, signed and scaled by its own max |w|) and the matching activation maps (each on
    its own scale). Dense: ``filters`` (F, units) and ``activations`` (units,); for an image
    input (F = H·W·C) the first ``max_maps`` units' weights reshaped to (H, W) (channels
    summed), for a tabular input (F,) a units × features heatmap, then the activations as bars.
    A leading batch axis of 1 on ``input`` or ``activations`` is dropped. Returns None when an
    array is empty.
    """
    x, w, act = (np.asarray(v, dtype=float) for v in (input, filters, activations))
    if x.size == 0 or w.size == 0 or act.size == 0:
        return None
    if max_maps < 1:
        raise ValueError(f"max_maps must be >= 1, got {max_maps}")
    x = x[0] if x.ndim in (2, 4) and x.shape[0] == 1 else x
    if w.ndim == 4:
        act = act[0] if act.ndim == 4 and act.shape[0] == 1 else act
        fig = _inspect_conv(x, w, act, max_maps, title)
    elif w.ndim == 2:
        fig = _inspect_dense(x, w, act, max_maps, title)
    else:
        raise ValueError(
            f"filters must be conv (kh, kw, cin, cout) or dense (F, units), got {w.shape}"
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


def _leaderboard_row(ax: plt.Axes, values: np.ndarray, order: list[str], frac: float) -> None:
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


def _draw_row(ax: plt.Axes, art: dict) -> None:
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
