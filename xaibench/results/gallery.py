"""The saliency gallery (samples x methods) and the model inspection (first-layer weights and
activations), as in the classic tutorials (matplotlib, headless).

Every function writes one PNG (parent folders created, figure closed) and returns its path, or
None when there is nothing to draw.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from xaibench.results._figures import (
    _SIGNED,
    CONTROL_COLOR,
    MAX_WIDTH,
    NORMAL,
    SMALL,
    _axes,
    _figure,
    _grid_axes,
    _mosaic,
    _rgb,
    _save,
    _signed_colorbar,
    _text_inches,
    _unit,
    _wrap,
    plain_text,
)


def _row_labels(k: int, targets, class_names) -> list[str]:
    if targets is None:
        return [""] * k
    targets = np.asarray(targets).astype(int).reshape(-1)
    if len(targets) != k:
        raise ValueError(f"targets must have one class id per input ({k}), got {len(targets)}")
    names = list(class_names) if class_names is not None else []
    return [str(names[t]) if 0 <= t < len(names) else f"class {t}" for t in targets]


def _gallery_images(
    x: np.ndarray, maps: dict[str, np.ndarray], labels: list[str], title: str, controls
) -> Figure:
    """One framed image of k rows × (1 + methods) tiles, the inputs first, as wide as the
    page allows; method names wrapped at "_" over their column (slanted when a column is too
    narrow even so), the controls' in grey italics."""
    k, n = len(x), len(maps)
    tiles = []
    for i in range(k):
        tiles += [_rgb(x[i], "image")] + [_rgb(a[i], "signed") for a in maps.values()]
    h, w = x.shape[1:3]
    gap = max(1, round(0.1 * max(h, w)))
    span = (n + 1) * (w + gap) - gap  # pixels of the mosaic's width
    rows = [label or f"sample {i}" for i, label in enumerate(labels)]
    right, left = 1.55, 0.4  # colorbar and its label; row labels along the tiles' side

    def inches_per_pixel(left: float) -> float:
        return min((1.45 if n < 8 else 1.15) / max(h, w), (MAX_WIDTH - left - right) / span)

    upright = _text_inches(rows, NORMAL) + 0.05 > h * inches_per_pixel(left)
    if upright:  # longer than a tile is tall: across, in a wider margin
        left = _text_inches(rows, NORMAL) + 0.2
    scale = inches_per_pixel(left)
    width, height, step = span * scale, (k * (h + gap) - gap) * scale, (w + gap) * scale
    names = [_wrap(name, step - 0.05, SMALL) for name in ["input", *maps]]
    widest = max(_text_inches(name.split("\n"), SMALL) for name in names)
    slanted = widest > step - 0.02
    header = 0.72 * _text_inches(list(maps), SMALL) + 0.1 if slanted else 0.32
    fig = _figure(left + width + right, max(0.45 + header + height + 0.15, 2.6), title)
    ax = _axes(fig, left, fig.get_figheight() - 0.45 - header - height, width, height)
    step_y, step_x = _mosaic(ax, tiles, n + 1, gap)
    text = {"textcoords": "offset points", "ha": "left" if slanted else "center"}
    for j, (name, shown) in enumerate(zip(["input", *maps], names, strict=True)):
        style = {"color": CONTROL_COLOR, "style": "italic"} if name in controls else {}
        xy = (j * step_x + (w - 1) / 2, -0.5)
        rotation = 40 if slanted else 0
        ax.annotate(
            name if slanted else shown,
            xy,
            xytext=(0, 3),
            va="bottom",
            fontsize=SMALL,
            rotation=rotation,
            rotation_mode="anchor",
            linespacing=1.0,
            **text,
            **style,
        )
    for i, label in enumerate(rows):
        xy = (-0.5, i * step_y + (h - 1) / 2)
        ha, rotation = ("right", 0) if upright else ("center", 90)
        ax.annotate(
            label,
            xy,
            (-4, 0),
            rotation=rotation,
            va="center",
            ha=ha,
            fontsize=NORMAL,
            textcoords="offset points",
        )
    middle = ax.get_position().y0 * fig.get_figheight() + height / 2
    bar = max(0.6 * height, 1.0)
    _signed_colorbar(fig, _axes(fig, left + width + 0.3, middle - bar / 2, 0.15, bar))
    return fig


def _gallery_tabular(
    x: np.ndarray,
    maps: dict[str, np.ndarray],
    labels: list[str],
    feature_names,
    title: str,
    controls,
) -> Figure:
    """One methods × features heatmap per sample, stacked, features named under the last."""
    k, n_features = x.shape
    names = list(maps)
    ticks = feature_names if feature_names is not None else range(n_features)
    ticks = [str(t) for t in ticks] if n_features <= 40 else None
    left = _text_inches(names, SMALL) + 0.25
    bottom = (_text_inches(ticks, SMALL) if ticks else 0.15) + 0.45  # ticks rotated by 90°
    width = min(MAX_WIDTH, max(6.0, 0.25 * n_features + 3.5))
    pw, ph = width - left - 1.5, max(0.5, 0.25 * len(names))
    fig = _figure(width, max(2.8, 0.7 + k * ph + (k - 1) * 0.3 + bottom), title)
    axes = _grid_axes(fig, k, 1, (pw, ph), left=left, top=0.7, gap=(0.0, 0.3))
    for i, ax in enumerate(axes):
        rows = np.stack([_unit(maps[m][i]) for m in names])
        ax.imshow(rows, cmap=_SIGNED, vmin=-1.0, vmax=1.0, aspect="auto", interpolation="nearest")
        ax.set_yticks(range(len(names)), names, fontsize=SMALL)
        for tick, name in zip(ax.get_yticklabels(), names, strict=True):
            if name in controls:
                tick.set(color=CONTROL_COLOR, style="italic")
        ax.set_title(f"sample {i}: {labels[i]}".rstrip(": "), fontsize=NORMAL, loc="left", y=1.0)
        ax.set_xticks([])  # features are named under the last heatmap only
    if ticks:
        axes[-1].set_xticks(range(n_features), ticks, rotation=90, fontsize=SMALL)
    else:
        axes[-1].xaxis.set_major_locator(MaxNLocator(integer=True))
        axes[-1].tick_params(labelsize=SMALL)
    axes[-1].set_xlabel("feature" if feature_names is not None else "feature index")
    span = k * ph + (k - 1) * 0.3
    cax = _axes(fig, left + pw + 0.3, fig.get_figheight() - 0.7 - 0.8 * span, 0.15, 0.6 * span)
    _signed_colorbar(fig, cax)
    return fig


@plain_text
def gallery_plot(
    inputs: np.ndarray,
    attributions: dict[str, np.ndarray],
    path: str | Path,
    *,
    title: str,
    targets=None,
    class_names=None,
    feature_names=None,
    controls: Collection[str] = (),
) -> Path | None:
    """A few samples next to each method's attribution.

    Images (``inputs`` (k, H, W, C), C 1 or 3, values in [0, 1], clipped): a grid of k rows ×
    (1 + methods) columns, the input first (gray when C = 1), then each attribution (channels
    summed). Tabular (``inputs`` (k, F)): one methods × features heatmap per sample; feature
    names (or indices) as ticks when F <= 40. Every map is divided by its own max |a| and drawn
    with one diverging colormap centred at 0 (red positive, blue negative), so maps of different
    methods compare in shape and sign, not in magnitude; non-negative maps read white to red.
    Rows are labelled with the target's class name. The ``controls`` (method names, e.g. the
    leaderboard's ``control`` rows) come last, named in grey italics. Returns None when there is
    nothing to draw.
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
    controls = {str(c) for c in controls}
    maps = {m: maps[m] for m in sorted(maps, key=lambda m: m in controls)}  # stable: controls last
    labels = _row_labels(len(x), targets, class_names)
    if x.ndim == 2 and feature_names is not None and len(feature_names) != x.shape[1]:
        raise ValueError(f"feature_names must name {x.shape[1]} features, got {len(feature_names)}")
    if x.ndim == 2:
        fig = _gallery_tabular(x, maps, labels, feature_names, title, controls)
    else:
        fig = _gallery_images(x, maps, labels, title, controls)
    return _save(fig, path)


def _rgb_filter(w: np.ndarray) -> np.ndarray:
    low, high = np.nanmin(w), np.nanmax(w)
    return (w - low) / (high - low) if high > low else np.full_like(w, 0.5)


def _panels(widths: list[float], height: float, title: str) -> tuple[Figure, list]:
    """A figure of side-by-side panels ``widths`` inches wide and ``height`` tall, 0.35 in
    apart, under ``title`` and a line of panel captions; each panel's (left, bottom, w, h)."""
    fig = _figure(sum(widths) + 0.35 * len(widths), height + 0.9, title)
    lefts = 0.2 + np.cumsum([0.0, *widths[:-1]]) + 0.35 * np.arange(len(widths))
    return fig, [(left, 0.15, w, height) for left, w in zip(lefts, widths, strict=True)]


def _caption(fig: Figure, box, text: str) -> None:
    left, bottom, w, h = box
    width, height = fig.get_size_inches()
    fig.text(
        (left + w / 2) / width, (bottom + h + 0.2) / height, text, ha="center", fontsize=NORMAL
    )


def _tiles(fig: Figure, box, tiles: list[np.ndarray], caption: str) -> None:
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
        ax.annotate(
            str(i), xy, xytext=(0, 1), textcoords="offset points", ha="center", fontsize=SMALL
        )
    _caption(fig, box, caption)


def _input(fig: Figure, box, x: np.ndarray, caption: str) -> None:
    _mosaic(_axes(fig, *box), [_rgb(x, "image")], 1, 0)
    _caption(fig, box, caption)


def _bars(fig: Figure, box, values: np.ndarray, xlabel: str, ylabel: str, **kwargs) -> None:
    left, bottom, w, h = box
    ax = _axes(fig, left + 0.65, bottom + 0.45, w - 0.65, h - 0.45)
    ax.bar(range(len(values)), values, **kwargs)
    ax.set(xlabel=xlabel, ylabel=ylabel)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(axis="y", alpha=0.3)


def _side(n: int, room: float) -> float:
    """Inches of a near-square mosaic of ``n`` tiles: 0.8 a tile, at most ``room``."""
    return min(0.8 * int(np.ceil(np.sqrt(n))) + 0.4, room)


def _inspect_conv(x: np.ndarray, w: np.ndarray, act: np.ndarray, max_maps: int, title: str):
    cout = w.shape[-1]
    if act.ndim != 3 or act.shape[-1] != cout or x.ndim not in (2, 3):
        raise ValueError(
            f"conv filters {w.shape} need input (H, W, C) and activations (H', W', {cout}), "
            f"got {x.shape} and {act.shape}"
        )
    n = min(max_maps, cout)
    side = _side(n, (MAX_WIDTH - 3.2 - 3 * 0.35) / 2)
    fig, boxes = _panels([3.2, side, side], max(3.2, side + 0.5), title)
    _input(fig, boxes[0], x, f"input {x.shape[0]}×{x.shape[1]}")
    if w.shape[2] == 3:
        tiles = [_rgb(_rgb_filter(w[..., i]), "rgb") for i in range(n)]
        _tiles(fig, boxes[1], tiles, f"filters ({n} of {cout}; RGB, min-max)")
    else:
        tiles = [_rgb(w[..., i].mean(axis=2), "signed") for i in range(n)]
        _tiles(fig, boxes[1], tiles, f"filters ({n} of {cout}; channel mean, red +, blue −)")
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
    side = _side(n, MAX_WIDTH - 3.2 - 4.0 - 3 * 0.35)
    fig, boxes = _panels([3.2, side, 4.0], max(3.2, side + 0.5), title)
    caption = f"weights of units 0–{n - 1} (red +, blue −)"
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


@plain_text
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
