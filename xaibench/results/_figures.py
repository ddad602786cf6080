"""Shared figure machinery of the report plots: the page-size rules (width, fonts, DPI), the
method styles (controls as grey dashed references), label placement without overlaps,
fixed-margin figures, mosaics of image tiles, colourbars, cell annotations and saving
(headless matplotlib: ``Figure`` + ``FigureCanvasAgg``, no pyplot)."""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from functools import cache, lru_cache, wraps
from itertools import product
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg
from matplotlib.cm import ScalarMappable
from matplotlib.collections import PatchCollection, PathCollection
from matplotlib.colors import ListedColormap, Normalize
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.patches import Rectangle
from matplotlib.text import Text
from matplotlib.textpath import TextPath
from matplotlib.ticker import Formatter
from matplotlib.transforms import Affine2D, Bbox
from PIL import Image

from xaibench._text import visible

# The page: report.html shows a PNG at its natural size, at most MAX_WIDTH_PX wide. A figure
# is at most MAX_WIDTH inches wide at DPI, and no text is smaller than MIN_FONT points, so
# that every label is legible without zooming.
DPI = 100
MAX_WIDTH_PX = 1200
MAX_WIDTH = MAX_WIDTH_PX / DPI  # inches
MIN_FONT = 8.0
SMALL, NORMAL, TITLE = 8.0, 9.0, 10.0  # tick labels and notes; labels; figure titles
STYLE = {  # matplotlib's defaults for the artists we do not size ourselves
    "text.parse_math": False,
    "font.size": NORMAL,
    "axes.titlesize": NORMAL,
    "axes.labelsize": NORMAL,
    "xtick.labelsize": SMALL,
    "ytick.labelsize": SMALL,
    "legend.fontsize": SMALL,
    "legend.title_fontsize": NORMAL,
    "figure.titlesize": TITLE,
}
_SIGNED = "RdBu_r"  # attributions and weights: red positive, blue negative, white 0
_RANKS = ListedColormap(
    matplotlib.colormaps.get_cmap("Greens_r")(np.linspace(0.0, 0.75, 256))
)  # rank 1 darkest

# Methods: tab10 without its grey (kept for the controls), then line styles and markers that
# cycle with other periods, so that two methods never share colour, dashes and marker.
PALETTE = [matplotlib.colormaps.get_cmap("tab10")(i) for i in (0, 1, 2, 3, 4, 5, 6, 8, 9)]
PALETTE.append((0.0, 0.0, 0.0, 1.0))  # black: far from the controls' grey and dashes
_LINES = ["-", (0, (5, 1.5, 1, 1.5)), (0, (1, 1))]
_MARKERS = ["o", "s", "^", "D", "v", "P", "X"]
CONTROL_COLOR = "0.45"
_CONTROL_LINES = [(0, (4, 2)), (0, (1.5, 1.5)), (0, (6, 2, 1.5, 2))]
BEST_COLOR, METHOD_COLOR = "tab:green", "tab:blue"

# Layouts are fixed: every margin is computed in inches from the measured labels, which costs a
# fraction of matplotlib's tight or constrained layout on figures of many axes. Axes titles get
# y=1.0, which spares matplotlib measuring every tick label to place them.


def plain_text(draw):
    """Run the figure function ``draw`` with matplotlib's mathtext off, so that user-supplied
    names ($, \\, ^, _ included) are drawn as written, never parsed: the one rule for every
    string in a figure (no figure of ours uses mathtext). The same context sets the default
    font sizes (`STYLE`: nothing under `MIN_FONT`)."""

    @wraps(draw)
    def drawn(*args, **kwargs):
        with matplotlib.rc_context(STYLE):
            return draw(*args, **kwargs)

    return drawn


# Long names: a name (a run of characters without a space) wider than NAME_INCHES, and a
# label (a tick label, legend entry, axes title or annotation: a name, or a few) wider than
# LABEL_INCHES, are drawn shortened in the middle (head…tail, so that the "_end" of a name or
# the "↑" after a metric stays) and measured as drawn (`_text_inches`): a 300-character method
# name leaves a sane layout. The tables and report.html give names in full.
NAME_INCHES, LABEL_INCHES = 2.5, 4.0
MIN_AXES = 0.1  # inches
_NAME = re.compile(r"\S{9,}")  # shorter names always fit


@lru_cache(maxsize=1 << 14)
def _inches(text: str, fontsize: float) -> float:
    """Width in inches of ``text`` at ``fontsize`` points (a figure measures the same labels
    thousands of times: cached)."""
    prop = FontProperties(size=fontsize)
    return _renderer().get_text_width_height_descent(text, prop, ismath=False)[0] / 72


@lru_cache(maxsize=1 << 14)
def short_label(text: str, fontsize: float = NORMAL, inches: float | None = LABEL_INCHES) -> str:
    """``text`` as a figure draws it at ``fontsize`` points: its control characters visible
    (``_text.visible``), each name (a run of characters without a space) wider than
    `NAME_INCHES`, and each line wider than ``inches`` (None: no limit), shortened in the
    middle, with an ellipsis, to the longest that fits.

    >>> short_label("integrated_gradients ↑")
    'integrated_gradients ↑'
    >>> short_label("m" * 300 + "_end ↑")
    'mmmmmmmmmmmmmm…mm_end ↑'
    """
    lines = []
    for line in visible(text).split("\n"):
        line = _NAME.sub(lambda name: _fit(name.group(), fontsize, NAME_INCHES), line)
        lines.append(line if inches is None else _fit(line, fontsize, inches))
    return "\n".join(lines)


def _fit(text: str, fontsize: float, inches: float) -> str:
    """``text``, or else the longest `_middle` of it no wider than ``inches``."""
    if _inches(text, fontsize) <= inches:
        return text
    low, high = 1, len(text) - 1  # characters kept: ``low`` fits, ``high`` does not
    while high - low > 1:
        mid = (low + high) // 2
        fits = _inches(_middle(text, mid), fontsize) <= inches
        low, high = (mid, high) if fits else (low, mid)
    return _middle(text, low)


def _middle(text: str, keep: int) -> str:
    """``text`` with ``keep`` of its characters: two thirds from its start, one third from its
    end, an ellipsis between."""
    head = (keep * 2 + 2) // 3
    return f"{text[:head]}…{text[len(text) - (keep - head) :]}"


def _short_texts(fig: Figure) -> None:
    """Every text of ``fig`` as `short_label` draws it: labels (tick labels, made by their
    formatter when drawn, legend entries, axes titles, annotations) within `LABEL_INCHES`,
    names everywhere (in titles and notes too) within `NAME_INCHES`."""
    labels = set()
    for ax in fig.axes:
        titles = [getattr(ax, f"{side}title", None) for side in ("", "_left_", "_right_")]
        labels |= {id(t) for t in [*titles, *ax.texts] if t is not None}
        for axis in (ax.xaxis, ax.yaxis):
            ticks = axis.get_majorticklabels()
            if ticks and not isinstance(axis.get_major_formatter(), _Short):
                axis.set_major_formatter(
                    _Short(axis.get_major_formatter(), ticks[0].get_fontsize())
                )
    for legend in [*fig.legends, *(ax.get_legend() for ax in fig.axes)]:
        labels |= {id(t) for t in legend.get_texts()} if legend is not None else set()
    for text in fig.findobj(Text):
        inches = LABEL_INCHES if id(text) in labels else None
        text.set_text(short_label(text.get_text(), text.get_fontsize(), inches))


class _Short(Formatter):
    """The tick labels of ``inner`` (a formatter, which keeps its axis) as `short_label` draws
    them at ``size`` points."""

    def __init__(self, inner: Formatter, size: float):
        self.inner, self.size = inner, size

    def __call__(self, x, pos=None):
        return short_label(self.inner(x, pos), self.size)

    def format_ticks(self, values):
        return [short_label(label, self.size) for label in self.inner.format_ticks(values)]

    def get_offset(self):
        return self.inner.get_offset()

    def set_locs(self, locs):
        self.inner.set_locs(locs)

    def set_axis(self, axis):  # the inner formatter keeps the axis it was given
        self.axis = axis


def _render(fig: Figure, dpi: float) -> np.ndarray:
    """The figure drawn at ``dpi`` as an (h, w, 3) uint8 array (Agg, no pyplot)."""
    canvas = FigureCanvasAgg(fig)
    fig.set_dpi(dpi)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def _save(fig: Figure, path: str | Path) -> Path:
    """Write ``fig`` as a PNG at `DPI` (lower only for a figure wider than `MAX_WIDTH`: a
    layout's bug, shrunk rather than cropped) with a palette of 256 colours (a third of the
    bytes of true colour; plots have few colours, and text stays sharp), and beside it the same
    figure as a vector PDF for print (`pdf_of`); return the PNG's path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _short_texts(fig)
    fig.savefig(pdf_of(path), format="pdf", metadata={"CreationDate": None})
    rgb = _render(fig, min(DPI, MAX_WIDTH_PX / fig.get_figwidth()))
    image = Image.fromarray(rgb).quantize(
        256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE
    )
    palette = np.array(image.getpalette()[: 3 * 256]).reshape(-1, 3)
    palette[(palette >= 249).all(axis=1)] = 255  # the octree's near-whites: the page's white
    image.putpalette(palette.ravel().tolist())
    image.save(path, format="PNG", compress_level=6)  # 9 or optimize: 7% smaller, 2.5x slower
    return path


def pdf_of(png: str | Path) -> Path:
    """The vector PDF `_save` writes beside the PNG ``png``."""
    return Path(png).with_suffix(".pdf")


@cache
def _renderer() -> RendererAgg:
    return RendererAgg(1, 1, 72)  # at 72 dpi a pixel is a point


def _text_inches(labels, fontsize: float) -> float:
    """Width in inches of the widest line of ``labels`` at ``fontsize`` points, as
    `short_label` draws them (0 without)."""
    lines = [line for s in labels for line in short_label(s, fontsize).split("\n")]
    return max((_inches(line, fontsize) for line in lines), default=0.0)


def _wrap(text: str, width: float, fontsize: float) -> str:
    """``text`` on two lines, broken after the "_" (or before the " ") that balances them best,
    when it is wider than ``width`` inches (shortened first: `short_label`)."""
    text = short_label(text, fontsize)
    cuts = [i + 1 for i, ch in enumerate(text) if ch == "_"] + [
        i for i, ch in enumerate(text) if ch == " " and i > 0
    ]
    if not cuts or _text_inches([text], fontsize) <= width:
        return text
    best = min(cuts, key=lambda i: _text_inches([text[:i], text[i:]], fontsize))
    return f"{text[:best].rstrip()}\n{text[best:].lstrip()}"


def _figure(width: float, height: float, title: str, fontsize: float = TITLE) -> Figure:
    """A ``width`` × ``height`` inches figure titled at its top (callers leave 0.45 in a line)."""
    fig = Figure(figsize=(width, height), dpi=DPI)
    fig.suptitle(title, fontsize=fontsize, y=1 - 0.08 / height, va="top")
    return fig


def _axes(fig: Figure, left: float, bottom: float, width: float, height: float) -> Axes:
    """Axes at a position given in inches from the figure's bottom left corner, at least
    `MIN_AXES` inches wide and high (a layout squeezed by labels of many long words, which
    `short_label` leaves whole, still draws)."""
    w, h = fig.get_size_inches()
    width, height = max(width, MIN_AXES), max(height, MIN_AXES)
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


def method_styles(methods: Sequence[str], controls: Collection[str] = ()) -> dict[str, dict]:
    """Line and marker style per method: the real methods (in the given order) a qualitative
    colour each, with dashes and a marker that cycle with other periods; the ``controls`` grey
    and dashed, no marker, under the others: references, not contenders. Keys: color, ls,
    marker, lw, zorder."""
    styles, real = {}, [m for m in methods if m not in controls]
    for i, m in enumerate(real):
        styles[m] = {
            "color": PALETTE[i % len(PALETTE)],
            "ls": _LINES[(i // len(PALETTE)) % len(_LINES)],
            "marker": _MARKERS[i % len(_MARKERS)],
            "lw": 1.5,
            "zorder": 3,
        }
    for j, m in enumerate(m for m in methods if m in controls):
        ls = _CONTROL_LINES[j % len(_CONTROL_LINES)]
        styles[m] = {"color": CONTROL_COLOR, "ls": ls, "marker": None, "lw": 1.3, "zorder": 2}
    return styles


def seconds(v: float, _pos=None) -> str:
    """A duration in seconds with its unit (a tick formatter): 20 µs, 1.5 ms, 2 s; "0" for 0."""
    if not v > 0:
        return "0" if v == 0 else ""
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if v >= scale * 0.999:
            return f"{v / scale:.3g} {unit}"
    return f"{v / 1e-9:.3g} ns"


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
    cbar.ax.set_yticklabels(["−max|a|", "0", "+max|a|"], fontsize=SMALL)
    short = cax.get_position().height * fig.get_figheight() < 2.8
    sep = "\n" if short else " "  # the label on two lines beside a short colorbar
    cbar.set_label(f"{what},{sep}each map scaled by its own max |a|", fontsize=SMALL)


ANNOTATION = "annotation fontsize="  # the gid of `_annotate`'s glyphs: their size, for tests


def _annotate(
    ax: Axes, values: np.ndarray, fmt, dark, *, fontsize: float, xs=None, ys=None
) -> None:
    """Each finite cell's ``fmt(v)`` centred on it, white where ``dark(v)``, otherwise black.
    Cell (i, j) is centred at data (``xs[j]``, ``ys[i]``), by default (j, i) as ``imshow``'s.

    The glyphs are drawn as one path collection per colour, which looks like text and costs
    a fraction of one ``Text`` per cell; its gid records the font size (`ANNOTATION`).
    """
    prop, glyphs, cells = FontProperties(size=fontsize), {}, {"white": [], "black": []}
    xs = np.arange(values.shape[1]) if xs is None else np.asarray(xs, dtype=float)
    ys = np.arange(values.shape[0]) if ys is None else np.asarray(ys, dtype=float)
    for (i, j), v in np.ndenumerate(values):
        if np.isfinite(v):
            text = fmt(v)
            if text not in glyphs:
                path = TextPath((0, 0), text, prop=prop)  # in points
                middle = (path.vertices.min(axis=0) + path.vertices.max(axis=0)) / 2
                glyphs[text] = path.transformed(Affine2D().translate(*-middle))
            cells["white" if dark(v) else "black"].append((glyphs[text], (xs[j], ys[i])))
    points = Affine2D().scale(1 / 72) + ax.figure.dpi_scale_trans
    for color, items in cells.items():
        if items:
            paths, offsets = zip(*items, strict=True)
            style = {"facecolors": color, "edgecolors": "none", "linewidths": 0}
            collection = PathCollection(
                paths, offsets=offsets, offset_transform=ax.transData, transform=points, **style
            )
            collection.set_gid(f"{ANNOTATION}{fontsize}")
            ax.add_collection(collection, autolim=False)


def _label(key) -> str:
    return " / ".join(map(str, key)) if isinstance(key, tuple) else str(key)


# label placement ----------------------------------------------------------------------------
# Candidate offsets of a label from its point's marker edge (points), nearest first: 16
# directions (the diagonals first) on square rings of growing size (so that a corner of the
# label clears the marker too), each with the alignment that keeps the text on that side. Beyond the first two rings a label gets a leader line.
_ANGLES = [45, -45, 135, -135, 0, 180, 90, -90, 22.5, -22.5, 157.5, -157.5, 67.5, -67.5]
_ANGLES += [112.5, -112.5]
_RADII = (1.5, 6.0, 13.0, 22.0, 34.0, 48.0, 64.0, 82.0, 102.0, 125.0, 150.0, 180.0, 215.0)
LABEL_GID = "point label"  # the gid of every label `place_labels` draws
_CLASH, _CROSSING = 1e5, 2e3  # costs: overlapping a label or leaving the axes, then a leader


def _overlap(box: Bbox, others: list[Bbox]) -> float:
    """Total area of ``box`` shared with ``others`` (display pixels)."""
    return float(_areas(np.array([box.extents]), np.array([o.extents for o in others])).sum())


def _areas(boxes: np.ndarray, others: np.ndarray) -> np.ndarray:
    """(C, K) areas shared by (C, 4) and (K, 4) boxes given as x0, y0, x1, y1."""
    if len(others) == 0:
        return np.zeros((len(boxes), 0))
    w = np.minimum(boxes[:, None, 2], others[None, :, 2]) - np.maximum(
        boxes[:, None, 0], others[None, :, 0]
    )
    h = np.minimum(boxes[:, None, 3], others[None, :, 3]) - np.maximum(
        boxes[:, None, 1], others[None, :, 1]
    )
    return np.clip(w, 0, None) * np.clip(h, 0, None)


def _inside(points: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """(..., K): whether each of ``points`` (..., 2) lies inside each of the (K, 4) boxes."""
    x, y = points[..., 0, None], points[..., 1, None]
    return (x > boxes[:, 0]) & (x < boxes[:, 2]) & (y > boxes[:, 1]) & (y < boxes[:, 3])


def _segments(start: np.ndarray, boxes: np.ndarray, n: int = 12) -> np.ndarray:
    """(C, n, 2) points along the segment from ``start`` to the nearest point of each box."""
    end = np.clip(start, boxes[:, :2], boxes[:, 2:])
    return start + np.linspace(0.0, 1.0, n)[None, :, None] * (end - start)[:, None, :]


def place_labels(
    ax: Axes,
    xy: np.ndarray,
    texts: Sequence[str],
    *,
    avoid=None,
    hlines=(),
    marker_px=4.0,
    each=None,
    **style,
) -> list:
    """Label the points ``xy`` (data coordinates, one row per text) so that no two labels
    overlap, none covers a point (of ``xy`` and ``avoid``, markers ``marker_px`` pixels in
    radius) or a horizontal line at ``hlines`` (data y, e.g. reference lines) and all stay
    inside the axes when they can. ``style`` applies to every label,
    ``each`` (a dict per label, or None) to one: a label is measured as it will be drawn.

    Greedy placement, label by label: each candidate place (16 directions around the point
    at growing distances, nearest first) costs its overlap with the labels placed so far and
    leaving the axes (most), the leader lines it would cross or lie across (a label set away
    from its point gets one), then its overlap with the markers (the other points' with a
    margin, so that a label does not look like theirs); the cheapest, nearest one wins. The axes limits must be final (placement is in pixels). Returns the annotations
    (gid `LABEL_GID`).
    """
    if not isinstance(ax.figure.canvas, FigureCanvasAgg):
        FigureCanvasAgg(ax.figure)
    renderer = ax.figure.canvas.get_renderer()
    xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    points = xy if avoid is None else np.r_[xy, np.asarray(avoid, dtype=float).reshape(-1, 2)]
    centres = ax.transData.transform(points)
    frame = ax.get_window_extent(renderer).extents
    lines = [ax.transData.transform((ax.get_xlim()[0], y))[1] for y in hlines]
    scene = {
        "frame": frame,
        "marks": np.c_[centres - marker_px, centres + marker_px],
        "lines": np.array([(frame[0], y - 2, frame[2], y + 2) for y in lines]).reshape(-1, 4),
        "margin": 6 * ax.figure.dpi / 72,  # 6 points around the other points
        "boxes": np.zeros((0, 4)),
        "leaders": np.zeros((0, 12, 2)),
    }
    labels, each = [], [{}] * len(xy) if each is None else each
    texts = [short_label(text, style.get("fontsize", NORMAL)) for text in texts]
    for point, centre, text, own in zip(xy, centres[: len(xy)], texts, each, strict=True):
        size = _text_size(ax, renderer, text, style | own)
        offset, ha, va, leader, box = _best_place(centre, size, marker_px, ax.figure.dpi, scene)
        line = {"arrowstyle": "-", "color": "0.55", "lw": 0.6, "shrinkA": 0, "shrinkB": marker_px}
        labels.append(
            ax.annotate(
                text,
                point,
                xytext=offset,
                textcoords="offset points",
                ha=ha,
                va=va,
                gid=LABEL_GID,
                arrowprops=line if leader else None,
                **style | own,
            )
        )
        scene["boxes"] = np.r_[scene["boxes"], box[None]]
        if leader:
            scene["leaders"] = np.r_[scene["leaders"], _segments(centre, box[None])]
    return labels


def _text_size(ax: Axes, renderer, text: str, style: dict) -> tuple[float, float]:
    """Width and height in pixels of ``text`` drawn as a label with ``style``."""
    probe = ax.annotate(text, (0, 0), xytext=(0, 0), textcoords="offset points", **style)
    box = Text.get_window_extent(probe, renderer)
    probe.remove()
    return box.width, box.height


@cache
def _candidates(marker_pt: float):
    """Offsets (points), alignments, pixel shifts of the aligned box per unit size, and
    whether a leader line is drawn, of every candidate place, nearest first."""
    rows = []
    for r, angle in product(_RADII, _ANGLES):
        dx, dy = np.cos(np.deg2rad(angle)), np.sin(np.deg2rad(angle))
        dx, dy = dx / max(abs(dx), abs(dy)), dy / max(abs(dx), abs(dy))  # on a square ring
        h = 0 if dx > 0.2 else 2 if dx < -0.2 else 1  # left, right, center
        v = 0 if dy > 0.2 else 2 if dy < -0.2 else 1  # bottom, top, center
        rows.append(((marker_pt + r) * dx, (marker_pt + r) * dy, h, v, r > _RADII[1]))
    offsets = np.array([r[:2] for r in rows])
    align = np.array([r[2:4] for r in rows]) / 2.0  # the box starts align * size before
    return offsets, align, np.array([r[4] for r in rows])


_HA, _VA = ("left", "center", "right"), ("bottom", "center", "top")


def _best_place(centre, size, marker_px: float, dpi: float, scene: dict):
    """The cheapest candidate place of a label of ``size`` pixels for the point at
    ``centre`` (pixels): (offset in points, ha, va, leader?, box)."""
    offsets, align, leaders = _candidates(round(marker_px * 72 / dpi, 3))
    corner = centre + offsets * dpi / 72 - align * np.asarray(size)
    boxes = np.c_[corner - 1.5, corner + np.asarray(size) + 1.5]
    own = np.all(np.isclose(scene["marks"][:, :2] + marker_px, centre, atol=0.5), axis=1)
    marks = scene["marks"] + np.where(own, 0.0, scene["margin"])[:, None] * [-1, -1, 1, 1]
    frame = scene["frame"]
    outside = np.clip(frame[:2] - boxes[:, :2], 0, None).sum(1)
    outside += np.clip(boxes[:, 2:] - frame[2:], 0, None).sum(1)
    shared = _areas(boxes, scene["boxes"])
    cost = _CLASH * ((shared > 0).sum(1) + (outside > 0)) + 10.0 * shared.sum(1)
    cost += _areas(boxes, marks).sum(1) + _areas(boxes, scene["lines"]).sum(1)
    cost += 50.0 * outside * size[1]
    crossed = _inside(_segments(centre, boxes), scene["boxes"]).any(axis=1).sum(1)  # own line
    lying = _inside(scene["leaders"], boxes).any(axis=(1, 0))  # over a placed label's line
    cost += _CROSSING * (np.where(leaders, crossed, 0) + lying)
    best = int(np.argmin(cost))  # the first of the cheapest: the nearest
    (h, v), box = (align[best] * 2).astype(int), boxes[best]
    return tuple(offsets[best]), _HA[h], _VA[v], bool(leaders[best]), box


# the page rule, checked ---------------------------------------------------------------------


def page_problems(fig: Figure) -> list[str]:
    """What breaks the page rule in a drawn figure (empty when nothing): wider than
    `MAX_WIDTH_PX` at `DPI`, a text (``Text`` artists and `_annotate` glyphs) under
    `MIN_FONT`, or two texts that overlap. Overlaps are judged on the texts' boxes for
    horizontal and vertical texts, and across the line for texts slanted at the same angle
    (tick labels at 45°). The tests run it on every figure of every figure function."""
    problems = []
    if fig.get_figwidth() * DPI > MAX_WIDTH_PX + 0.5:  # `_save` would shrink it: smaller text
        problems.append(f"{fig.get_figwidth() * DPI:.0f} px wide")
    for c in fig.findobj(PathCollection):
        gid = c.get_gid() or ""
        if gid.startswith(ANNOTATION) and float(gid[len(ANNOTATION) :]) < MIN_FONT:
            problems.append(f"cell text at {gid[len(ANNOTATION) :]} pt")
    hidden, renderer = _hidden_ticks(fig), fig.canvas.get_renderer()
    texts = [
        t
        for t in fig.findobj(Text)
        if t.get_visible() and t.get_text().strip() and id(t) not in hidden
    ]
    problems += [
        f"{t.get_text()!r} at {t.get_fontsize()} pt" for t in texts if t.get_fontsize() < MIN_FONT
    ]
    boxes = [Text.get_window_extent(t, renderer) for t in texts]
    e = np.array([b.shrunk(0.98, 0.9).extents for b in boxes]).reshape(-1, 4)  # x0 y0 x1 y1
    meet = (np.minimum(e[:, None, 2], e[None, :, 2]) > np.maximum(e[:, None, 0], e[None, :, 0])) & (
        np.minimum(e[:, None, 3], e[None, :, 3]) > np.maximum(e[:, None, 1], e[None, :, 1])
    )
    for i, j in zip(*np.nonzero(np.triu(meet, 1)), strict=True):
        if _clash(texts[i], texts[j], boxes[i], boxes[j], fig.dpi):
            problems.append(f"{texts[i].get_text()!r} overlaps {texts[j].get_text()!r}")
    return list(dict.fromkeys(problems))


def _hidden_ticks(fig: Figure) -> set[int]:
    """The ids of the tick labels matplotlib does not draw (their ticks are out of view, or
    their axes is off); ``Axis._update_ticks`` is what ``Axis.draw`` asks."""
    hidden = set()
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            drawn = {id(t) for t in axis._update_ticks()} if ax.axison else set()
            for tick in axis.majorTicks + axis.minorTicks:
                if id(tick) not in drawn or not tick.get_visible():
                    hidden |= {id(tick.label1), id(tick.label2)}
    return hidden


def _clash(a: Text, b: Text, box_a: Bbox, box_b: Bbox, dpi: float) -> bool:
    if _overlap(box_a.shrunk(0.98, 0.9), [box_b.shrunk(0.98, 0.9)]) == 0:
        return False
    angle_a, angle_b = a.get_rotation() % 180, b.get_rotation() % 180
    if angle_a in (0, 90) and angle_b in (0, 90):
        return True
    if angle_a != angle_b:
        return False  # slanted against straight: boxes say too little, left to the eye
    theta = np.deg2rad(angle_a)
    normal = np.array([-np.sin(theta), np.cos(theta)])
    centre_a = np.array([box_a.x0 + box_a.width / 2, box_a.y0 + box_a.height / 2])
    centre_b = np.array([box_b.x0 + box_b.width / 2, box_b.y0 + box_b.height / 2])
    line = 0.9 * max(a.get_fontsize(), b.get_fontsize()) * dpi / 72
    return abs(float((centre_a - centre_b) @ normal)) < line
