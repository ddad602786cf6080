"""Plots of a run (matplotlib, headless).

Every function writes one PNG (parent folders created, figure closed) and returns its path, or
None when there is nothing to draw.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.colors import ListedColormap  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

DPI = 110
_SIGNED = "RdBu_r"  # attributions and weights: red positive, blue negative, white 0
_RANKS = ListedColormap(plt.get_cmap("Greens_r")(np.linspace(0.0, 0.75, 256)))  # rank 1 darkest


def _save(fig: plt.Figure, path: str | Path) -> Path:
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=DPI)
    finally:
        plt.close(fig)
    return path


def _grid(n: int, max_cols: int) -> tuple[int, int]:
    cols = max(1, min(n, max_cols))
    return -(-n // cols), cols


def _bare(ax: plt.Axes) -> None:
    """No ticks, but keep the axis labels (``axis("off")`` would hide them)."""
    ax.set_xticks([])
    ax.set_yticks([])


def _show_image(ax: plt.Axes, img: np.ndarray) -> None:
    """An (H, W) or (H, W, C) image in [0, 1], clipped: RGB when C == 3, otherwise gray."""
    img = np.clip(np.asarray(img, dtype=float), 0.0, 1.0)
    if img.ndim == 3 and img.shape[-1] == 3:
        ax.imshow(img, interpolation="nearest")
    else:
        gray = img if img.ndim == 2 else img.mean(axis=-1)
        ax.imshow(gray, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    _bare(ax)


def _unit(a: np.ndarray) -> np.ndarray:
    """``a`` divided by its own max |a| (unchanged when that is 0 or not finite)."""
    a = np.asarray(a, dtype=float)
    finite = np.abs(a[np.isfinite(a)])
    scale = finite.max() if finite.size else 0.0
    return a / scale if scale > 0 else a


def _signed_map(ax: plt.Axes, a: np.ndarray, **kwargs):
    return ax.imshow(_unit(a), cmap=_SIGNED, vmin=-1.0, vmax=1.0, interpolation="nearest", **kwargs)


def _signed_colorbar(fig: plt.Figure, im, axes, what: str = "attribution") -> None:
    cbar = fig.colorbar(im, ax=axes, shrink=0.6, ticks=[-1, 0, 1])
    cbar.ax.set_yticklabels(["−max|a|", "0", "+max|a|"], fontsize=8)
    cbar.set_label(f"{what}, each map scaled by its own max |a|", fontsize=8)


def _annotate(ax: plt.Axes, values: np.ndarray, fmt, dark, fontsize: float) -> None:
    for (i, j), v in np.ndenumerate(values):
        if np.isfinite(v):
            color = "white" if dark(v) else "black"
            ax.text(j, i, fmt(v), ha="center", va="center", fontsize=fontsize, color=color)


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
    metrics = list(mats["all" if "all" in mats else next(iter(mats))].columns)
    if "higher_is_better" in board.columns:
        up = board.drop_duplicates("metric").set_index("metric")["higher_is_better"]
        metrics = [f"{m} {'↑' if bool(up[m]) else '↓'}" for m in metrics]
    n_methods, n_metrics = next(iter(mats.values())).shape
    worst = np.nanmax([np.nanmax(m.to_numpy(), initial=1.0) for m in mats.values()])
    vmax = max(2.0, float(worst))
    rows, cols = _grid(len(mats), 3 if n_metrics <= 6 else 2)
    size = (cols * (0.5 * n_metrics + 1.0) + 2.2, rows * (0.3 * n_methods + 1.6) + 0.4)
    fig, axes = plt.subplots(rows, cols, squeeze=False, layout="constrained", figsize=size)
    fontsize = 8 if n_metrics <= 10 else 6.5
    for ax, (name, mat) in zip(axes.flat, mats.items(), strict=False):
        values = mat.to_numpy(dtype=float)
        im = ax.imshow(values, cmap=_RANKS, vmin=1.0, vmax=vmax, aspect="auto")
        fmt = (lambda v: f"{v:.1f}") if name == "all" else (lambda v: f"{v:.0f}")
        _annotate(ax, values, fmt, lambda v: (v - 1) / (vmax - 1) < 0.45, fontsize)
        ax.set_xticks(range(n_metrics), metrics, rotation=45, ha="right", fontsize=8)
        ax.set_yticks(range(n_methods), list(mat.index), fontsize=8)
        ax.set_title("all (mean rank)" if name == "all" else name, fontsize=9)
    for ax in axes.flat[len(mats) :]:
        ax.set_visible(False)
    fig.colorbar(im, ax=axes, shrink=0.6).set_label("rank (1 = best)", fontsize=8)
    fig.suptitle("Method ranks per metric (1 = best; ↑ higher is better, ↓ lower)", fontsize=10)
    return _save(fig, path)


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
    side = min(12.0, 0.5 * n + 2.5)
    fig, ax = plt.subplots(figsize=(side + 1.2, side), layout="constrained")
    im = ax.imshow(values, cmap="RdBu", vmin=-1.0, vmax=1.0)
    fontsize = max(5.0, 9.0 - n / 5)
    _annotate(ax, values, lambda v: f"{v:.2f}", lambda v: abs(v) > 0.6, fontsize)
    ax.set_xticks(range(n), [str(c) for c in matrix.columns], rotation=45, ha="right")
    ax.set_yticks(range(n), [str(i) for i in matrix.index])
    ax.tick_params(labelsize=8)
    fig.colorbar(im, ax=ax, shrink=0.7).set_label("correlation", fontsize=8)
    ax.set_title(title, fontsize=10)
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
    fig, axes = plt.subplots(
        rows, cols, squeeze=False, layout="constrained", figsize=(4 * cols + 2, 3 * rows + 0.5)
    )
    for ax, (key, by_method) in zip(axes.flat, panels.items(), strict=False):
        for method, a in by_method.items():
            x = np.linspace(0.0, 1.0, a.shape[1])
            mean = a.mean(axis=0)
            se = a.std(axis=0, ddof=1) / np.sqrt(len(a)) if len(a) > 1 else np.zeros_like(mean)
            ax.plot(x, mean, color=colors[method], lw=1.5, label=method)
            ax.fill_between(
                x, mean - 1.96 * se, mean + 1.96 * se, color=colors[method], alpha=0.2, lw=0
            )
        ax.set(xlim=(0.0, 1.0), xlabel=_curve_xlabel(metric), ylabel="class score")
        ax.set_title(_label(key), fontsize=9)
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(panels) :]:
        ax.set_visible(False)
    handles = [plt.Line2D([], [], color=colors[m], lw=2) for m in methods]
    fig.legend(handles, methods, loc="outside right upper", fontsize=8, title="method")
    fig.suptitle(f"{metric} curves: mean and 95% interval of the mean (±1.96·SE)", fontsize=10)
    return _save(fig, path)


def _row_labels(k: int, targets, class_names) -> list[str]:
    if targets is None:
        return [""] * k
    targets = np.asarray(targets).astype(int).reshape(-1)
    if len(targets) != k:
        raise ValueError(f"targets must have one class id per input ({k}), got {len(targets)}")
    names = list(class_names) if class_names is not None else []
    return [str(names[t]) if 0 <= t < len(names) else f"class {t}" for t in targets]


def _gallery_images(x: np.ndarray, maps: dict[str, np.ndarray], labels: list[str]) -> plt.Figure:
    k, n = len(x), len(maps)
    cell = 1.45 if n < 8 else 1.15
    size = (cell * (n + 1) + 1.3, cell * k + 0.6)
    fig, axes = plt.subplots(k, n + 1, squeeze=False, layout="constrained", figsize=size)
    for i in range(k):
        _show_image(axes[i, 0], x[i])
        axes[i, 0].set_ylabel(labels[i] or f"sample {i}", fontsize=9)
        for j, a in enumerate(maps.values(), start=1):
            im = _signed_map(axes[i, j], a[i])
            _bare(axes[i, j])
    axes[0, 0].set_title("input", fontsize=9)
    for j, name in enumerate(maps, start=1):
        axes[0, j].set_title(name, fontsize=8 if len(name) <= 14 else 6.5)
    _signed_colorbar(fig, im, axes)
    return fig


def _gallery_tabular(
    x: np.ndarray, maps: dict[str, np.ndarray], labels: list[str], feature_names
) -> plt.Figure:
    k, n_features = x.shape
    names = list(maps)
    size = (min(16.0, max(6.0, 0.25 * n_features + 3.5)), k * (0.25 * len(names) + 0.55) + 1.6)
    fig, axes = plt.subplots(k, 1, squeeze=False, sharex=True, layout="constrained", figsize=size)
    for i, ax in enumerate(axes[:, 0]):
        rows = np.stack([_unit(maps[m][i]) for m in names])
        im = ax.imshow(
            rows, cmap=_SIGNED, vmin=-1.0, vmax=1.0, aspect="auto", interpolation="nearest"
        )
        ax.set_yticks(range(len(names)), names, fontsize=7.5)
        ax.set_title(f"sample {i}: {labels[i]}".rstrip(": "), fontsize=8.5, loc="left")
    bottom = axes[-1, 0]
    if n_features <= 40:
        ticks = feature_names if feature_names is not None else range(n_features)
        bottom.set_xticks(range(n_features), [str(t) for t in ticks], rotation=90, fontsize=7)
    bottom.set_xlabel("feature" if feature_names is not None else "feature index", fontsize=8)
    _signed_colorbar(fig, im, axes)
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
        fig = _gallery_tabular(x, maps, labels, feature_names)
    else:
        fig = _gallery_images(x, maps, labels)
    fig.suptitle(title, fontsize=10)
    return _save(fig, path)


def _tiles(sub, images: list[np.ndarray], title: str, *, kind: str) -> None:
    """Small tiles in a near-square grid; ``kind``: "signed", "rgb" or "activation"."""
    rows, cols = _grid(len(images), int(np.ceil(np.sqrt(len(images)))))
    for i, ax in enumerate(sub.subplots(rows, cols, squeeze=False).flat):
        _bare(ax)
        if i >= len(images):
            ax.set_visible(False)
        elif kind == "signed":
            _signed_map(ax, images[i])
        elif kind == "rgb":
            ax.imshow(images[i], interpolation="nearest")
        else:
            ax.imshow(images[i], cmap="viridis", interpolation="nearest")
        ax.set_title(str(i), fontsize=7, pad=2)
    sub.suptitle(title, fontsize=9)


def _rgb_filter(w: np.ndarray) -> np.ndarray:
    low, high = np.nanmin(w), np.nanmax(w)
    return (w - low) / (high - low) if high > low else np.full_like(w, 0.5)


def _three_panels(n_tiles: int, right: float):
    """A figure split into the input (left), ``n_tiles`` tiles (middle) and a ``right`` panel."""
    side = 0.8 * int(np.ceil(np.sqrt(n_tiles))) + 0.4
    fig = plt.figure(layout="constrained", figsize=(3.2 + side + right, max(3.2, side + 0.5)))
    return fig, fig.subfigures(1, 3, width_ratios=[3.2, side, right])


def _inspect_conv(x: np.ndarray, w: np.ndarray, act: np.ndarray, max_maps: int) -> plt.Figure:
    cout = w.shape[-1]
    if act.ndim != 3 or act.shape[-1] != cout or x.ndim not in (2, 3):
        raise ValueError(
            f"conv filters {w.shape} need input (H, W, C) and activations (H', W', {cout}), "
            f"got {x.shape} and {act.shape}"
        )
    n = min(max_maps, cout)
    fig, (left, middle, right) = _three_panels(n, 0.8 * int(np.ceil(np.sqrt(n))) + 0.4)
    _show_image(left.subplots(), x)
    left.suptitle(f"input {x.shape[0]}×{x.shape[1]}", fontsize=9)
    if w.shape[2] == 3:
        tiles = [_rgb_filter(w[..., i]) for i in range(n)]
        _tiles(middle, tiles, f"filters ({n} of {cout}; RGB, min-max)", kind="rgb")
    else:
        tiles = [w[..., i].mean(axis=2) for i in range(n)]
        _tiles(middle, tiles, f"filters ({n} of {cout}; mean over channels)", kind="signed")
    maps = [act[..., i] for i in range(n)]
    _tiles(right, maps, f"activation maps ({n} of {cout})", kind="activation")
    return fig


def _inspect_dense(x: np.ndarray, w: np.ndarray, act: np.ndarray, max_maps: int) -> plt.Figure:
    n_in, units = w.shape
    act = act.reshape(-1) if act.ndim == 2 and act.shape[0] == 1 else act
    if act.shape != (units,) or x.size != n_in:
        raise ValueError(
            f"dense weights {w.shape} need an input of {n_in} values and activations "
            f"({units},), got {x.shape} and {act.shape}"
        )
    n = min(max_maps, units)
    fig, (left, middle, right) = _three_panels(n, 4.0)
    ax = left.subplots()
    if x.ndim == 1:  # tabular: the input as bars, the weights as a units × features heatmap
        ax.bar(range(n_in), x, color="0.4")
        ax.set(xlabel="feature", ylabel="value")
        weights = middle.subplots()
        _signed_map(weights, w[:, :n].T, aspect="auto")
        weights.set(xlabel="feature", ylabel="unit")
        weights.xaxis.set_major_locator(MaxNLocator(integer=True))
        weights.yaxis.set_major_locator(MaxNLocator(integer=True))
        middle.suptitle(f"weights of units 0–{n - 1}", fontsize=9)
    else:
        _show_image(ax, x)
        shape = x.shape if x.ndim == 3 else x.shape + (1,)
        maps = [w[:, u].reshape(shape).sum(axis=-1) for u in range(n)]
        _tiles(middle, maps, f"weights of units 0–{n - 1}", kind="signed")
    left.suptitle(f"input {'×'.join(map(str, x.shape))}", fontsize=9)
    bars = right.subplots()
    bars.bar(range(units), act, width=1.0, color="tab:blue")
    bars.set(xlabel="unit", ylabel="activation")
    bars.grid(axis="y", alpha=0.3)
    right.suptitle(f"activations of the {units} units", fontsize=9)
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
        fig = _inspect_conv(x, w, act, max_maps)
    elif w.ndim == 2:
        fig = _inspect_dense(x, w, act, max_maps)
    else:
        raise ValueError(
            f"filters must be conv (kh, kw, cin, cout) or dense (F, units), got {w.shape}"
        )
    fig.suptitle(title, fontsize=10)
    return _save(fig, path)


def leaderboard_plot(board: pd.DataFrame, path: str | Path) -> Path:
    """One panel per (dataset / model, metric): each method's mean with its 95% CI; rank 1 green."""
    groups = sorted(board.groupby(["dataset", "model"]).groups)
    metrics = list(dict.fromkeys(board["metric"]))
    order = sorted(board["method"].unique(), reverse=True)  # alphabetical from the top
    n_methods = len(order)
    fig, axes = plt.subplots(
        len(groups),
        len(metrics),
        squeeze=False,
        figsize=(3.2 * len(metrics), 0.35 * n_methods * len(groups) + 1.2 * len(groups)),
    )
    for i, (dataset, model) in enumerate(groups):
        for j, metric in enumerate(metrics):
            ax = axes[i, j]
            g = board[
                (board.dataset == dataset) & (board.model == model) & (board.metric == metric)
            ]
            g = g.set_index("method").reindex(order).reset_index()
            pos = np.arange(len(g))
            err = np.vstack([g["mean"] - g["ci_low"], g["ci_high"] - g["mean"]]).clip(min=0)
            colors = ["tab:green" if pd.notna(r) and r == 1 else "tab:blue" for r in g["rank"]]
            ax.errorbar(g["mean"], pos, xerr=err, fmt="none", ecolor="0.4", capsize=3)
            ax.scatter(g["mean"], pos, c=colors, zorder=3)
            ax.set_yticks(pos, order if j == 0 else [""] * len(order))
            arrow = "↑" if len(g) and g["higher_is_better"].iloc[0] else "↓"
            ax.set_title(f"{metric} {arrow}", fontsize=9)
            ax.tick_params(labelsize=8)
            ax.grid(axis="x", alpha=0.3)
            if j == 0:
                ax.set_ylabel(f"{dataset} / {model}", fontsize=9)
    fig.suptitle("Leaderboard: mean and bootstrap 95% CI per method (green = rank 1)", fontsize=10)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
