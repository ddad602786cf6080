"""Hand-made samples with parts, and linear models whose answer to every intervention is known:
the cases of the ground-truth metrics' tests (tests/metrics/test_<ground truth metric>.py).

Every sample is 6x6 grey (one channel) with the same layout: the class object (colour 1.0) on rows
0-1 x cols 0-1, distractor 1 (0.5) on rows 4-5 x cols 4-5, distractor 2 (0.25) on rows 0-1 x cols
4-5 (samples 0 and 1 have it, sample 2 not), and a background that is 0 but for 0.9 on rows 4-5 x
col 0 (mean 1.8 / 36 = 0.05). Under a removed shape the background shows (0); removing the
background leaves 0.05 everywhere outside the shapes.
"""

from __future__ import annotations

import _tiny
import numpy as np

from xaibench.datasets.base import Parts

SHAPE = (6, 6, 1)
REGIONS = {  # part slot -> (rows, cols)
    0: (slice(0, 2), slice(0, 2)),
    1: (slice(4, 6), slice(4, 6)),
    2: (slice(0, 2), slice(4, 6)),
}
COLOURS = (1.0, 0.5, 0.25)
CORNER = (slice(4, 6), slice(0, 1))  # the background's bright pixels


def region(slot) -> np.ndarray:
    """(6, 6) bool: the pixels of a shape slot, or of the background's bright corner ("corner")."""
    m = np.zeros(SHAPE[:2], bool)
    m[CORNER if slot == "corner" else REGIONS[slot]] = True
    return m


def parts(n: int = 3, *, second: tuple = (True, True, False)) -> Parts:
    """``n`` samples as the module says; ``second[i]``: sample i has distractor 2."""
    masks = np.zeros((n, 4, 6, 6), bool)
    for i in range(n):
        for slot in (0, 1, 2):
            masks[i, slot] = region(slot) if slot < 2 or second[i] else False
    masks[:, 3] = ~masks[:, :3].any(axis=1)
    background = np.zeros((n, *SHAPE), np.float32)
    background[:, CORNER[0], CORNER[1]] = 0.9
    colours = np.zeros((n, 4, 1), np.float32)
    colours[:, :3, 0] = COLOURS
    names = ("object", "distractor 1", "distractor 2", "background")
    return Parts(names, masks, background, colours)


def samples(n: int = 3, **kwargs):
    """``(x, y, parts)``: the samples rendered with nothing removed, all of class 0."""
    p = parts(n, **kwargs)
    return p.render(np.zeros((n, 4), bool)), np.zeros(n, np.int64), p


def reading(weights: dict, other: float = 2.0):
    """A linear model on the 6x6 samples: logit 0 = sum over each region of ``weights`` (keys:
    shape slots 0, 1, 2 and "corner") of weight x pixel; logit 1 = ``other`` (a constant)."""
    w = np.zeros((36, 2))
    for key, weight in weights.items():
        w[region(key).ravel(), 0] = weight
    return _tiny.linear_image(w, [0.0, other], SHAPE)


def attribution(values: dict) -> np.ndarray:
    """(3, 6, 6) attributions: ``values[key]`` on every pixel of each region (keys as
    ``reading``; "rest" for every other pixel)."""
    a = np.full(SHAPE[:2], float(values.get("rest", 0.0)))
    for key, value in values.items():
        if key != "rest":
            a[region(key)] = value
    return np.broadcast_to(a, (3, *SHAPE[:2])).copy()


def parts_of(x: np.ndarray) -> Parts:
    """Parts that render any images ``x`` (n, H, W, C) exactly: the object is pixel (0, 0), a
    distractor pixel (H-1, W-1), each of its own colour in x, over a background that is x with
    0 under the object (removing the distractor changes nothing: it is irrelevant to any model,
    so every sample has an irrelevant part; for the tests that score every metric on arbitrary
    images)."""
    n, h, w, _ = x.shape
    masks = np.zeros((n, 3, h, w), bool)
    masks[:, 0, 0, 0] = masks[:, 1, h - 1, w - 1] = True
    masks[:, 2] = ~masks[:, :2].any(axis=1)
    background = np.where(masks[:, 0, :, :, None], 0, x).astype(np.float32)
    colours = np.stack([x[:, 0, 0], x[:, h - 1, w - 1], np.zeros_like(x[:, 0, 0])], axis=1)
    return Parts(("object", "distractor", "background"), masks, background, colours)
