"""Patch superpixels and sliding windows over images (LIME, Kernel SHAP, occlusion).

An image's features are its pixel positions in row-major order (``feature_view``); these helpers
group them into units: a grid of rectangular superpixels, or the windows of a sliding patch.
Tabular inputs have one unit per feature.
"""

from __future__ import annotations

import numpy as np

from xaibench._checks import is_image


def grid_cells(length: int, cells: int) -> np.ndarray:
    """The cell (0..cells-1) of every position along an axis of ``length`` split into ``cells``
    near-equal runs (``cells`` is capped at ``length``)."""
    cells = min(cells, length)
    return (np.arange(length) * cells) // length


def grid_labels(height: int, width: int, segments: int) -> np.ndarray:
    """The superpixel id of every pixel, int (height * width,) row-major: a grid of
    min(segments, height) x min(segments, width) near-equal rectangles, numbered row by row."""
    rows = grid_cells(height, segments)
    cols = grid_cells(width, segments)
    return (rows[:, None] * (cols.max() + 1) + cols[None, :]).ravel()


def n_units(input_shape: tuple[int, ...], segments: int) -> int:
    """The number of units of one input of ``input_shape``: the grid superpixels of an image
    (H, W, C), min(segments, H) * min(segments, W); the features of a tabular row (F,)."""
    if len(input_shape) == 3:
        return min(segments, input_shape[0]) * min(segments, input_shape[1])
    return int(input_shape[0])


def units(x: np.ndarray, segments: int) -> tuple[np.ndarray, int]:
    """``(labels, d)``: the unit of every feature of ``x`` and the number of units — the grid
    superpixels of an image, or one unit per column of tabular data."""
    if is_image(x):
        labels = grid_labels(x.shape[1], x.shape[2], segments)
    else:
        labels = np.arange(x.shape[1])
    return labels, n_units(x.shape[1:], segments)


def default_patch(height: int, width: int) -> int:
    """Occlusion patch side: max(1, round(max(H, W) / 8)), halves rounded up
    (8x8 -> 1, 28x28 -> 4, 32x32 -> 4, 224x224 -> 28)."""
    return max(1, int(np.floor(max(height, width) / 8 + 0.5)))


def window_starts(length: int, patch: int, stride: int) -> np.ndarray:
    """Start of every window of side ``patch`` (capped at ``length``) moved by ``stride``; a last
    window flush with the end is added when the stride would leave the end uncovered."""
    patch = min(patch, length)
    starts = np.arange(0, length - patch + 1, stride)
    if starts[-1] + patch < length:
        starts = np.append(starts, length - patch)
    return starts


def windows(height: int, width: int, patch: int, stride: int) -> np.ndarray:
    """Every position of a square sliding patch as a bool mask, (P, height * width) row-major."""
    ph, pw = min(patch, height), min(patch, width)
    rows = window_starts(height, patch, stride)
    cols = window_starts(width, patch, stride)
    in_row = (np.arange(height)[None] >= rows[:, None]) & (
        np.arange(height)[None] < rows[:, None] + ph
    )
    in_col = (np.arange(width)[None] >= cols[:, None]) & (
        np.arange(width)[None] < cols[:, None] + pw
    )
    masks = in_row[:, None, :, None] & in_col[None, :, None, :]  # (rows, cols, H, W)
    return masks.reshape(len(rows) * len(cols), height * width)


def unit_image(values: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Per-feature values (N, n_features) as attributions: (N, H, W) for images, (N, F) tabular."""
    return values.reshape(x.shape[:-1]) if is_image(x) else values
