"""Noisy linear imputation (Rong, Leemann, Borisov, Kasneci & Kasneci 2022, "A Consistent and
Efficient Evaluation Strategy for Attribution Methods", the ROAD paper).

Every removed pixel becomes the weighted mean of its 8 neighbours inside the image, removed or not
(weight 1/6 for the 4 direct and 1/12 for the 4 diagonal neighbours, so the weights sum to 1 inside
the image and are renormalised by their sum at the border), plus Gaussian noise of standard deviation
``noise`` (the paper's 0.01, absolute, in input units). The removed pixels' values depend on each
other, so they are the solution of one sparse linear system per image, with the same matrix for every
channel (one right-hand side per channel). The systems of many images are solved together as one
block-diagonal sparse system: a banded Cholesky solve for small images, ``spsolve`` for wide ones.

>>> out = noisy_linear(x, removed, noise=0.01, rng=0)  # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.linalg import solveh_banded
from scipy.sparse.linalg import spsolve

NOISE = 0.01
# Half of the 8-neighbourhood as (row offset, column offset, weight); the other half mirrors it.
HALF_NEIGHBOURS = ((0, 1, 1 / 6), (1, -1, 1 / 12), (1, 0, 1 / 6), (1, 1, 1 / 12))
# Unknowns per block-diagonal solve (bounds the factors' memory; ~330 images of 28x28 at 50%).
_UNKNOWNS_PER_SOLVE = 2**17
# Up to this image width the banded Cholesky solver (LAPACK pbsv, work ~ K * W^2) is the fastest;
# wider images go to SuperLU (spsolve), whose fill-reducing ordering grows more slowly with W.
_BANDED_MAX_WIDTH = 64


def noisy_linear(
    x: np.ndarray,
    removed: np.ndarray,
    *,
    noise: float = NOISE,
    rng: np.random.Generator | int | None = None,
) -> np.ndarray:
    """Images ``x`` (M, H, W, C) with the pixels marked in ``removed`` imputed.

    ``removed`` is bool (M, H, W) or (M, H*W). Kept pixels are returned unchanged. The noise is
    ``noise * rng.standard_normal(x.shape)`` on the removed pixels, drawn once for all images
    (``rng`` is a numpy Generator or a seed), so a seed reproduces it. An image with every pixel
    removed has nothing to interpolate from: its pixels become 0 (plus the noise).
    """
    if x.ndim != 4:
        raise ValueError(
            f"noisy linear imputation needs images (N, H, W, C), got shape {x.shape}; "
            "use a number or 'mean' as the baseline for tabular data"
        )
    removed = np.asarray(removed, dtype=bool)
    if removed.shape not in (x.shape[:3], (len(x), x.shape[1] * x.shape[2])):
        raise ValueError(
            f"removed must have shape {x.shape[:3]} or {(len(x), x.shape[1] * x.shape[2])} "
            f"to match x, got {removed.shape}"
        )
    removed = removed.reshape(x.shape[:3])
    out = x.astype(np.float64)
    everything = removed.all(axis=(1, 2))
    out[everything] = 0.0
    solve = removed & ~everything[:, None, None]
    for group in _groups(solve.sum(axis=(1, 2))):  # slices: out[group] is a view
        out[group][solve[group]] = _solve_block(x[group], solve[group])
    if noise:
        out += noise * np.random.default_rng(rng).standard_normal(x.shape) * removed[..., None]
    return out.astype(x.dtype)


def _groups(unknowns: np.ndarray) -> list[slice]:
    """Consecutive slices of images with at most ``_UNKNOWNS_PER_SOLVE`` unknowns each (at least
    one image per slice)."""
    ends = np.cumsum(unknowns)
    out, start = [], 0
    while start < len(unknowns):
        before = ends[start - 1] if start else 0
        stop = max(start + 1, int(np.searchsorted(ends, before + _UNKNOWNS_PER_SOLVE, "right")))
        out.append(slice(start, stop))
        start = stop
    return out


def _solve_block(x: np.ndarray, removed: np.ndarray) -> np.ndarray:
    """Imputed values (K, C) of the K removed pixels of images ``x``, in row-major order.

    Every image must keep at least one pixel. The equation of a removed pixel i with in-image
    neighbours N(i) is ``sum_{j in N(i)} w_ij * u_i - sum_{j in N(i), removed} w_ij * u_j =
    sum_{j in N(i), kept} w_ij * x_j``: the matrix is symmetric, positive definite (diagonally
    dominant, strictly so next to a kept pixel) and, with the unknowns in row-major order, banded
    with half-bandwidth at most W + 1, across the block-diagonal system of all the images.
    """
    _, h, w, c = x.shape
    k = int(removed.sum())
    if k == 0:
        return np.zeros((0, c))
    var = np.full(removed.shape, -1, np.int64)
    var[removed] = np.arange(k)
    kept = np.pad(np.where(removed[..., None], 0.0, x), ((0, 0), (1, 1), (1, 1), (0, 0)))
    inside = np.pad(np.ones((h, w)), 1)
    rhs, diag = np.zeros(x.shape), np.zeros((h, w))
    rows, cols, vals = [], [], []  # the lower triangle: row > column
    for di, dj, weight in HALF_NEIGHBOURS:
        for a, b in ((di, dj), (-di, -dj)):
            rhs += weight * kept[:, 1 + a : 1 + a + h, 1 + b : 1 + b + w]
            diag += weight * inside[1 + a : 1 + a + h, 1 + b : 1 + b + w]
        # removed pixels p and p + (di, dj), which comes later in row-major order
        i0, i1, j0, j1 = max(0, -di), h - max(0, di), max(0, -dj), w - max(0, dj)
        here, there = var[:, i0:i1, j0:j1], var[:, i0 + di : i1 + di, j0 + dj : j1 + dj]
        both = (here >= 0) & (there >= 0)
        rows.append(there[both])
        cols.append(here[both])
        vals.append(np.full(int(both.sum()), -weight))
    diag = np.broadcast_to(diag, removed.shape)[removed]
    rows, cols, vals = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
    if w <= _BANDED_MAX_WIDTH:
        band = np.zeros((int((rows - cols).max(initial=0)) + 1, k))
        band[0] = diag
        band[rows - cols, cols] = vals
        return solveh_banded(band, rhs[removed], lower=True, check_finite=False).reshape(k, c)
    matrix = sparse.csc_matrix(
        (
            np.concatenate([diag, vals, vals]),
            (np.r_[np.arange(k), rows, cols], np.r_[np.arange(k), cols, rows]),
        ),
        shape=(k, k),
    )
    return np.asarray(spsolve(matrix, rhs[removed])).reshape(k, c)
