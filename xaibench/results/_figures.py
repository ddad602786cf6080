"""Shared figure machinery of the report plots: fixed-margin figures, mosaics of image tiles,
colourbars, cell annotations and saving (headless matplotlib)."""

from __future__ import annotations

from functools import cache, wraps
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import RendererAgg
from matplotlib.cm import ScalarMappable
from matplotlib.collections import PatchCollection, PathCollection
from matplotlib.colors import ListedColormap, Normalize
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.patches import Rectangle
from matplotlib.textpath import TextPath
from matplotlib.transforms import Affine2D

DPI = 110
MAX_PIXELS = 2000  # a PNG's longest side; big figures lower their dpi to fit, down to MIN_DPI
MIN_DPI = 90
_SIGNED = "RdBu_r"  # attributions and weights: red positive, blue negative, white 0
_RANKS = ListedColormap(
    matplotlib.colormaps.get_cmap("Greens_r")(np.linspace(0.0, 0.75, 256))
)  # rank 1 darkest

# Layouts are fixed: every margin is computed in inches from the measured labels, which costs a
# fraction of matplotlib's tight or constrained layout on figures of many axes. Axes titles get
# y=1.0, which spares matplotlib measuring every tick label to place them.


def plain_text(draw):
    """Run the figure function ``draw`` with matplotlib's mathtext off, so that user-supplied
    names ($, \\, ^, _ included) are drawn as written, never parsed: the one rule for every
    string in a figure (no figure of ours uses mathtext)."""

    @wraps(draw)
    def drawn(*args, **kwargs):
        with matplotlib.rc_context({"text.parse_math": False}):
            return draw(*args, **kwargs)

    return drawn


def _save(fig: Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    dpi = min(DPI, max(MIN_DPI, MAX_PIXELS / max(fig.get_size_inches())))
    fig.savefig(path, dpi=dpi)
    return path


@cache
def _renderer() -> RendererAgg:
    return RendererAgg(1, 1, 72)  # at 72 dpi a pixel is a point


def _text_inches(labels, fontsize: float) -> float:
    """Width in inches of the widest of ``labels`` at ``fontsize`` points (0 without labels)."""
    prop = FontProperties(size=fontsize)
    measure = _renderer().get_text_width_height_descent
    return max((measure(str(s), prop, ismath=False)[0] for s in labels), default=0.0) / 72


def _figure(width: float, height: float, title: str, fontsize: float = 10) -> Figure:
    """A ``width`` × ``height`` inches figure titled at its top (callers leave 0.45 in a line)."""
    fig = Figure(figsize=(width, height))
    fig.suptitle(title, fontsize=fontsize, y=1 - 0.08 / height, va="top")
    return fig


def _axes(fig: Figure, left: float, bottom: float, width: float, height: float) -> Axes:
    """Axes at a position given in inches from the figure's bottom left corner."""
    w, h = fig.get_size_inches()
    return fig.add_axes((left / w, bottom / h, width / w, height / h))


def _grid_axes(fig: Figure, n: int, cols: int, panel, *, left: float, top: float, gap) -> list:
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
        rgba = matplotlib.colormaps.get_cmap(_SIGNED)((np.clip(_unit(t), -1.0, 1.0) + 1.0) / 2.0)
    else:
        finite = t[np.isfinite(t)]
        low, high = (finite.min(), finite.max()) if finite.size else (0.0, 0.0)
        rgba = matplotlib.colormaps.get_cmap("viridis")(
            (t - low) / (high - low) if high > low else t * 0.0
        )
    return rgba[..., :3] * rgba[..., 3:] + (1.0 - rgba[..., 3:])


def _mosaic(ax: Axes, tiles: list[np.ndarray], cols: int, gap: int) -> tuple[int, int]:
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


def _signed_colorbar(fig: Figure, cax: Axes, what: str = "attribution") -> None:
    mappable = ScalarMappable(Normalize(-1.0, 1.0), _SIGNED)
    cbar = fig.colorbar(mappable, cax=cax, ticks=[-1, 0, 1])
    cbar.ax.set_yticklabels(["−max|a|", "0", "+max|a|"], fontsize=8)
    short = cax.get_position().height * fig.get_figheight() < 2.8
    sep = "\n" if short else " "  # the label on two lines beside a short colorbar
    cbar.set_label(f"{what},{sep}each map scaled by its own max |a|", fontsize=8)


def _annotate(ax: Axes, values: np.ndarray, fmt, dark, fontsize: float) -> None:
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
