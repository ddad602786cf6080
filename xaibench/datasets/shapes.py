"""Synthetic shapes with ground-truth localisation masks (seeded, generated in memory).

Each 32x32 RGB image shows one *class shape* — a square, circle, triangle or cross, whose kind is
the label — and one or two *distractor shapes* over smoothed colour noise. Distractors are drawn
only from two other kinds, a ring (a hollow circle) and a diagonal bar, which never define a class,
so every image has exactly one shape of a class kind and its label is never ambiguous. Position,
size and colour of every shape are random and independent of the label, so only the kind of the
class shape carries class information and a model must recognise it wherever it is (a linear model
on pixels cannot). ``masks`` marks exactly the pixels of the class shape.

Design, all seeded by ``SEED``:

- background: a dark random base colour per image (each channel uniform in [0.1, 0.4]) plus
  Gaussian noise smoothed with sigma 1.5 pixels (std about 0.08, clipped at +-0.2), so
  background pixels lie in [0, 0.6];
- shapes: flat colours, each channel 0.4-0.6 above the image's base colour (so in [0.5, 1] and
  brighter than the background around them by at least 0.2 in every channel: a fixed polarity
  with random hue); axis-aligned bounding boxes of 7-14 pixels (class shapes) or 7-12 pixels
  (distractors), placed at random so that no two boxes touch (at least one pixel apart): shapes
  never overlap, and a mask pixel never belongs to a distractor;
- kinds, for a box of side ``s`` centred at ``c``: square (the whole box), circle (distance to ``c``
  at most s/2), triangle (pointing up, 1-2 pixels wide at the top, the box's width at the
  bottom), cross (a plus sign, arms about s/3 wide), ring (distance to ``c`` in (s/2 - 1.5, s/2]),
  bar (a line about 1.5 pixels wide through ``c`` at 30-60 degrees from horizontal, rising or
  falling);
- labels: exactly balanced (n/4 per class), shuffled; one or two distractors (each 50%), each a ring
  or a bar (each 50%).

Ground truth by intervention: ``load().interventions(indices)`` gives the test samples'
:class:`~xaibench.datasets.base.Parts` (the class shape, distractor slots 1 and 2, the
background), regenerated from the same draws (``generate(..., parts=True)``), to render each
sample with any of them removed.

>>> from xaibench.datasets import shapes
>>> d = shapes.load()
>>> d.x_test.shape, d.masks.shape
((1000, 32, 32, 3), (1000, 32, 32))
"""

from __future__ import annotations

import functools

import numpy as np
from scipy.ndimage import gaussian_filter

from xaibench.datasets._split import stratified_split
from xaibench.datasets.base import Dataset, Parts, registry

SIZE = 32
N_SAMPLES = 4000
TEST_FRACTION = 0.25
SEED = 0
SPLIT_SEED = 0
VERSION = 1
CLASSES = ("square", "circle", "triangle", "cross")
DISTRACTORS = ("ring", "bar")
CLASS_SIZES = (7, 14)  # bounding-box side in pixels, inclusive
DISTRACTOR_SIZES = (7, 12)
GAP = 1  # free pixels at least between two bounding boxes
PART_NAMES = ("object", "distractor 1", "distractor 2", "background")  # Parts slots
_CANDIDATES = 32  # joint placements tried per image and round of rejection sampling


def _kind_pixels(kind: str, dy, dx, s, angle):
    """Pixels of a shape of ``kind`` given offsets (dy, dx) from the box centre and box side s."""
    r = s / 2
    if kind == "square":
        return np.ones(np.broadcast_shapes(dy.shape, s.shape), bool)
    if kind == "circle":
        return dy**2 + dx**2 <= r**2
    if kind == "triangle":  # row k (0 at the top) of s spans |dx| <= (k + 1) / 2
        return np.abs(dx) <= (dy + (s - 1) / 2 + 1) / 2
    if kind == "cross":
        arm = np.maximum(s / 6, 0.5)
        return (np.abs(dx) <= arm) | (np.abs(dy) <= arm)
    if kind == "ring":
        d2 = dy**2 + dx**2
        return (d2 <= r**2) & (d2 > (r - 1.5) ** 2)
    if kind == "bar":
        along = np.cos(angle) * dx + np.sin(angle) * dy
        across = -np.sin(angle) * dx + np.cos(angle) * dy
        return (np.abs(across) <= 0.75) & (np.abs(along) <= r)
    raise ValueError(f"unknown shape kind {kind!r}")


def rasterise(kinds, kind_idx, top, left, size, angle, *, canvas: int = SIZE) -> np.ndarray:
    """(n, canvas, canvas) bool pixels of n shapes: ``kinds[kind_idx[i]]`` in the box of side
    ``size[i]`` whose top-left pixel is (``top[i]``, ``left[i]``); ``angle`` (radians) is used by
    bars."""
    col = (slice(None), None, None)
    s = np.asarray(size, np.float32)[col]
    half = (s - 1) / 2
    yy, xx = np.mgrid[0:canvas, 0:canvas].astype(np.float32)
    dy = yy[None] - (np.asarray(top, np.float32)[col] + half)
    dx = xx[None] - (np.asarray(left, np.float32)[col] + half)
    in_box = (np.abs(dy) <= half) & (np.abs(dx) <= half)
    out = np.zeros((len(s), canvas, canvas), bool)
    angle = np.asarray(angle, np.float32)[col]
    for k, kind in enumerate(kinds):
        sel = np.asarray(kind_idx) == k
        if sel.any():
            out[sel] = _kind_pixels(kind, dy[sel], dx[sel], s[sel], angle[sel]) & in_box[sel]
    return out


def _apart(corners: np.ndarray, sizes: np.ndarray, active: np.ndarray) -> np.ndarray:
    """Whether no two active boxes come closer than ``GAP`` pixels, per placement: ``corners``
    (..., boxes, 2) top-left pixels, ``sizes`` and ``active`` (..., boxes)."""
    ok = np.ones(corners.shape[:-2], bool)
    boxes = corners.shape[-2]
    for a in range(boxes):
        for b in range(a + 1, boxes):
            lo_a, lo_b = corners[..., a, :], corners[..., b, :]
            s_a, s_b = sizes[..., a, None], sizes[..., b, None]
            apart = ((lo_a + s_a + GAP <= lo_b) | (lo_b + s_b + GAP <= lo_a)).any(axis=-1)
            ok &= apart | ~(active[..., a] & active[..., b])
    return ok


def place(
    rng: np.random.Generator, sizes: np.ndarray, active: np.ndarray, canvas: int = SIZE
) -> np.ndarray:
    """Top-left corners (n, boxes, 2) of square boxes of side ``sizes`` (n, boxes) on a canvas of
    ``canvas`` pixels, uniform over the placements where no two active boxes come closer than
    ``GAP`` pixels (rejection sampling: ``_CANDIDATES`` joint placements per image and round; the
    first valid one is kept)."""
    n = len(sizes)
    corners = np.zeros((n, sizes.shape[1], 2), np.int64)
    todo = np.arange(n)
    for _ in range(1000):
        high = (canvas - sizes[todo] + 1)[:, None, :, None]  # (todo, 1, boxes, 1)
        trial = np.floor(rng.random((len(todo), _CANDIDATES, sizes.shape[1], 2)) * high)
        trial = trial.astype(np.int64)
        ok = _apart(trial, sizes[todo, None], active[todo, None])
        found = ok.any(axis=1)
        corners[todo[found]] = trial[found, ok[found].argmax(axis=1)]
        todo = todo[~found]
        if not todo.size:
            return corners
    raise RuntimeError("could not place the shapes without overlap; use smaller shapes")


def _colours(rng: np.random.Generator, base: np.ndarray, count: int) -> np.ndarray:
    """(n, count, 3) flat colours, every channel 0.4-0.6 above the image's base colour (n, 3)."""
    return (base[:, None] + rng.uniform(0.4, 0.6, (len(base), count, 3))).astype(np.float32)


def _background(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Base colours (n, 3) and textured backgrounds (n, 32, 32, 3): base plus smoothed noise."""
    base = rng.uniform(0.1, 0.4, (n, 3)).astype(np.float32)
    noise = rng.standard_normal((n, SIZE, SIZE, 3), dtype=np.float32)
    noise = gaussian_filter(noise, (0, 1.5, 1.5, 0), output=noise)
    noise *= np.float32(0.08) / noise[:256].std()  # a sample fixes the scale
    np.clip(noise, -0.2, 0.2, out=noise)
    return base, noise + base[:, None, None, :]


def generate(n: int = N_SAMPLES, seed: int = SEED, *, parts: bool = False) -> dict:
    """``n`` shape images (seeded): ``x`` float32 (n, 32, 32, 3) in [0, 1], ``y`` int64 (n,),
    ``masks`` (n, 32, 32) bool (class shape), ``distractor_masks`` (n, 32, 32) bool (all
    distractors), ``boxes`` int64 (n, 3, 3): top, left, side of the class shape and the two
    distractor slots, and ``n_distractors`` (n,). With ``parts``, also ``parts``: the
    :class:`~xaibench.datasets.base.Parts` of every image (the same draws: ``x`` is unchanged)."""
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.arange(n) % len(CLASSES)).astype(np.int64)
    sizes = np.stack(
        [rng.integers(CLASS_SIZES[0], CLASS_SIZES[1] + 1, n)]
        + [rng.integers(DISTRACTOR_SIZES[0], DISTRACTOR_SIZES[1] + 1, n) for _ in range(2)],
        axis=1,
    )
    n_distractors = 1 + (rng.random(n) < 0.5)
    active = np.stack([np.ones(n, bool), np.ones(n, bool), n_distractors == 2], axis=1)
    distractor_kind = rng.integers(0, len(DISTRACTORS), (n, 2))
    angle = np.deg2rad(rng.uniform(30, 60, (n, 2)) * rng.choice([-1, 1], (n, 2)))
    corners = place(rng, sizes, active)
    base, x = _background(rng, n)
    background = x.copy() if parts else None
    colours = _colours(rng, base, 3)
    masks = rasterise(CLASSES, y, corners[:, 0, 0], corners[:, 0, 1], sizes[:, 0], np.zeros(n))
    np.copyto(x, colours[:, None, None, 0], where=masks[..., None])
    distractor_masks = np.zeros_like(masks)
    slots = [masks]
    for slot in (0, 1):
        m = (
            rasterise(
                DISTRACTORS,
                distractor_kind[:, slot],
                corners[:, slot + 1, 0],
                corners[:, slot + 1, 1],
                sizes[:, slot + 1],
                angle[:, slot],
            )
            & active[:, slot + 1, None, None]
        )
        np.copyto(x, colours[:, None, None, slot + 1], where=m[..., None])
        distractor_masks |= m
        slots.append(m)
    boxes = np.concatenate([corners, sizes[..., None]], axis=2) * active[..., None]
    out = {
        "x": np.clip(x, 0.0, 1.0, out=x),
        "y": y,
        "masks": masks,
        "distractor_masks": distractor_masks,
        "boxes": boxes,
        "n_distractors": n_distractors,
    }
    if parts:
        out["parts"] = image_parts(PART_NAMES, slots, background, colours)
    return out


def image_parts(names, shapes: list[np.ndarray], background: np.ndarray, colours) -> Parts:
    """The :class:`Parts` ``names`` of images made of ``background`` (n, H, W, C) and the
    non-overlapping ``shapes`` (masks (n, H, W), the class shape first, then each distractor
    slot) of flat ``colours`` (n, shapes, C); the background is the last part."""
    masks = np.stack([*shapes, ~np.logical_or.reduce(shapes)], axis=1)
    colours = np.concatenate([colours, np.zeros_like(colours[:, :1])], axis=1)
    return Parts(tuple(names), masks, background, colours.astype(np.float32))


def parts_of_test_samples(generate, settings: tuple, idx) -> Parts:
    """The :class:`Parts` of test samples ``idx`` of the dataset ``generate(n, seed,
    parts=True)``, ``settings = (n, seed, test_fraction, split_seed)``, split as its loader
    splits it (``stratified_split``); regenerated, so the loaded dataset holds nothing more."""
    n, seed, test_fraction, split_seed = settings
    data = generate(n, seed, parts=True)
    test = stratified_split(data["y"], test_fraction, split_seed)[1]
    return data["parts"].take(test[np.asarray(idx)])


@registry.register("shapes")
def load() -> Dataset:
    """Synthetic 32x32 RGB shapes (4 kinds) among distractor shapes; masks mark the class shape."""
    data = generate(N_SAMPLES, SEED)
    train, test = stratified_split(data["y"], TEST_FRACTION, SPLIT_SEED)
    return Dataset(
        name="shapes",
        x_train=data["x"][train],
        y_train=data["y"][train],
        x_test=data["x"][test],
        y_test=data["y"][test],
        class_names=list(CLASSES),
        kind="image",
        description=load.__doc__.splitlines()[0],
        source="generated by xaibench.datasets.shapes (seeded)",
        license="MIT (generated data, same licence as xaibench)",
        masks=data["masks"][test],
        settings={
            "n_samples": N_SAMPLES,
            "test_fraction": TEST_FRACTION,
            "seed": SEED,
            "split_seed": SPLIT_SEED,
            "class_sizes": list(CLASS_SIZES),
            "distractor_sizes": list(DISTRACTOR_SIZES),
            "distractors": list(DISTRACTORS),
            "version": VERSION,
        },
        interventions=functools.partial(
            parts_of_test_samples, generate, (N_SAMPLES, SEED, TEST_FRACTION, SPLIT_SEED)
        ),
    )
