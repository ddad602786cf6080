"""Scenes: large shapes pasted on photographs, 96x96 RGB, with ground-truth localisation masks.

The realistic built-in dataset, sized for ImageNet-style networks (``mobilenet_v2``, ``resnet50``)
and for methods and metrics at a size where their cost matters, yet small enough to train on in
CI. Each image is a crop of one of the two photographs scikit-learn installs with itself
(``sklearn.datasets.load_sample_images``: a temple in China and a flower, 427x640, CC BY 2.0),
with one *class shape* (square, circle, triangle or cross: the label) and, in half of the images,
one *distractor* (a ring or a diagonal bar, never a class) pasted on it. ``masks`` marks exactly
the pixels of the class shape. Position, size and colour of every shape, and the photograph
behind it, are random and independent of the label.

Design, all seeded by ``SEED``:

- background: a 96x96 crop at a random place of one of the two photographs shrunk by a random
  one of the factors 1, 1.5, 2, 3 or 4 (area averaging; 4 leaves 106x160 pixels), its
  intensities compressed to [0.05, 0.45]: the texture and edges of a real photograph at several
  scales, darker than the shapes;
- shapes: flat colours, every channel uniform in [0.6, 1.0] (so brighter than any background
  pixel: a fixed polarity with random hue); bounding boxes of 32-56 pixels (class shapes) or
  20-36 pixels (distractors), placed so that no two touch; the kinds are drawn as in
  :mod:`xaibench.datasets.shapes` (the same rasteriser, on a 96-pixel canvas);
- labels: exactly balanced (n/4 per class), shuffled; a distractor in each image with
  probability 1/2, a ring or a bar (each 50%).

Ground truth by intervention: ``load().interventions(indices)`` gives the test samples'
:class:`~xaibench.datasets.base.Parts` (the class shape, the distractor slot, the background), as
in :mod:`xaibench.datasets.shapes`.

>>> from xaibench.datasets import scenes
>>> d = scenes.load()
>>> d.x_test.shape, d.masks.shape
((400, 96, 96, 3), (400, 96, 96))
"""

from __future__ import annotations

import functools

import numpy as np

from xaibench.datasets._split import stratified_split
from xaibench.datasets.base import Dataset, registry
from xaibench.datasets.shapes import (
    CLASSES,
    DISTRACTORS,
    image_parts,
    parts_of_test_samples,
    place,
    rasterise,
)

SIZE = 96
N_SAMPLES = 1600
TEST_FRACTION = 0.25
SEED = 0
SPLIT_SEED = 0
VERSION = 1
CLASS_SIZES = (32, 56)  # bounding-box side in pixels, inclusive
DISTRACTOR_SIZES = (20, 36)
SCALES = (1.0, 1.5, 2.0, 3.0, 4.0)  # the photographs are shrunk by these factors before cropping
BACKGROUND_RANGE = (0.05, 0.45)
SHAPE_RANGE = (0.6, 1.0)
DISTRACTOR_PROBABILITY = 0.5
PHOTOS = ("china.jpg", "flower.jpg")
PART_NAMES = ("object", "distractor", "background")  # Parts slots


@functools.lru_cache(maxsize=1)
def photographs() -> tuple[np.ndarray, ...]:
    """The two photographs scikit-learn installs (``PHOTOS``), float32 (427, 640, 3) in [0, 1]."""
    from sklearn.datasets import load_sample_images

    images = load_sample_images()
    by_name = {
        name.replace("\\", "/").rsplit("/", 1)[-1]: img
        for name, img in zip(images.filenames, images.images, strict=True)
    }
    return tuple(by_name[name].astype(np.float32) / 255.0 for name in PHOTOS)


def _shrink(image: np.ndarray, factor: float) -> np.ndarray:
    """``image`` (h, w, 3) shrunk by ``factor`` >= 1 in each direction by area averaging: each
    output pixel is the mean of the input pixels its square covers, fractional pixels weighted
    by their share."""

    def weights(n: int) -> np.ndarray:  # (n / factor, n): the share of input j in output i
        edges = np.arange(int(n / factor) + 1)[:, None] * factor
        j = np.arange(n)[None]
        w = np.clip(np.minimum(edges[1:], j + 1) - np.maximum(edges[:-1], j), 0.0, None)
        return (w / w.sum(axis=1, keepdims=True)).astype(np.float32)

    rows, cols = weights(image.shape[0]), weights(image.shape[1])
    return np.einsum("ij,jkc,lk->ilc", rows, image, cols, optimize=True)


@functools.lru_cache(maxsize=1)
def _scaled_photographs() -> tuple[np.ndarray, ...]:
    """Every photograph shrunk by every factor of ``SCALES``, in that order."""
    return tuple(_shrink(photo, f) for photo in photographs() for f in SCALES)


def _backgrounds(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n, SIZE, SIZE, 3) crops of the shrunk photographs, compressed to BACKGROUND_RANGE."""
    scaled = _scaled_photographs()
    which = rng.integers(0, len(scaled), n)
    corner = rng.random((n, 2))
    lo, hi = BACKGROUND_RANGE
    out = np.empty((n, SIZE, SIZE, 3), np.float32)
    for i in range(n):
        image = scaled[which[i]]
        top = int(corner[i, 0] * (image.shape[0] - SIZE + 1))
        left = int(corner[i, 1] * (image.shape[1] - SIZE + 1))
        out[i] = image[top : top + SIZE, left : left + SIZE]
    out = lo + (hi - lo) * np.clip(out, 0.0, 1.0)
    return np.clip(out, lo, hi, out=out)  # float32 round-off could step over the range


def generate(n: int = N_SAMPLES, seed: int = SEED, *, parts: bool = False) -> dict:
    """``n`` scenes (seeded): ``x`` float32 (n, 96, 96, 3) in [0, 1], ``y`` int64 (n,), ``masks``
    (n, 96, 96) bool (the class shape), ``distractor_masks`` (n, 96, 96) bool and ``boxes`` int64
    (n, 2, 3): top, left, side of the class shape and of the distractor (zeros where none). With
    ``parts``, also ``parts``: the :class:`~xaibench.datasets.base.Parts` of every scene (the
    same draws: ``x`` is unchanged)."""
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.arange(n) % len(CLASSES)).astype(np.int64)
    sizes = np.stack(
        [
            rng.integers(CLASS_SIZES[0], CLASS_SIZES[1] + 1, n),
            rng.integers(DISTRACTOR_SIZES[0], DISTRACTOR_SIZES[1] + 1, n),
        ],
        axis=1,
    )
    active = np.stack([np.ones(n, bool), rng.random(n) < DISTRACTOR_PROBABILITY], axis=1)
    distractor_kind = rng.integers(0, len(DISTRACTORS), n)
    angle = np.deg2rad(rng.uniform(30, 60, n) * rng.choice([-1, 1], n))
    corners = place(rng, sizes, active, canvas=SIZE)
    x = _backgrounds(rng, n)
    background = x.copy() if parts else None
    colours = rng.uniform(*SHAPE_RANGE, (n, 2, 3)).astype(np.float32)
    masks = rasterise(
        CLASSES, y, corners[:, 0, 0], corners[:, 0, 1], sizes[:, 0], np.zeros(n), canvas=SIZE
    )
    np.copyto(x, colours[:, None, None, 0], where=masks[..., None])
    distractor_masks = rasterise(
        DISTRACTORS,
        distractor_kind,
        corners[:, 1, 0],
        corners[:, 1, 1],
        sizes[:, 1],
        angle,
        canvas=SIZE,
    )
    distractor_masks &= active[:, 1, None, None]
    np.copyto(x, colours[:, None, None, 1], where=distractor_masks[..., None])
    boxes = np.concatenate([corners, sizes[..., None]], axis=2) * active[..., None]
    out = {
        "x": x,
        "y": y,
        "masks": masks,
        "distractor_masks": distractor_masks,
        "boxes": boxes,
    }
    if parts:
        shapes = [masks, distractor_masks]
        out["parts"] = image_parts(PART_NAMES, shapes, background, colours)
    return out


@registry.register("scenes", large=True)
def load() -> Dataset:
    """Shapes pasted on photographs, 96x96 RGB (4 kinds); masks mark the class shape."""
    data = generate(N_SAMPLES, SEED)
    train, test = stratified_split(data["y"], TEST_FRACTION, SPLIT_SEED)
    return Dataset(
        name="scenes",
        x_train=data["x"][train],
        y_train=data["y"][train],
        x_test=data["x"][test],
        y_test=data["y"][test],
        class_names=list(CLASSES),
        kind="image",
        description=load.__doc__.splitlines()[0],
        source=(
            "generated by xaibench.datasets.scenes (seeded) on scikit-learn's sample photographs "
            "china.jpg and flower.jpg"
        ),
        license=(
            "shapes: MIT (generated, as xaibench); photographs: CC BY 2.0, danielbuechele and "
            "vultilion on Flickr (see sklearn.datasets.load_sample_images)"
        ),
        masks=data["masks"][test],
        settings={
            "n_samples": N_SAMPLES,
            "test_fraction": TEST_FRACTION,
            "seed": SEED,
            "split_seed": SPLIT_SEED,
            "class_sizes": list(CLASS_SIZES),
            "distractor_sizes": list(DISTRACTOR_SIZES),
            "scales": list(SCALES),
            "photos": list(PHOTOS),
            "version": VERSION,
        },
        interventions=functools.partial(
            parts_of_test_samples, generate, (N_SAMPLES, SEED, TEST_FRACTION, SPLIT_SEED)
        ),
    )
