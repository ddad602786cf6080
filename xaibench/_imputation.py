"""Noisy linear imputation (Rong, Leemann, Borisov, Kasneci & Kasneci 2022, "A Consistent and
Efficient Evaluation Strategy for Attribution Methods", the ROAD paper).

Every removed pixel becomes the weighted mean of its 8 neighbours inside the image, removed or not
(weight 1/6 for the 4 direct and 1/12 for the 4 diagonal neighbours, so the weights sum to 1 inside
the image and are renormalised by their sum at the border), plus Gaussian noise of standard deviation
``noise`` (the paper's 0.01, absolute, in input units). The removed pixels' values depend on each
other, so they are the solution of one sparse linear system per image, with the same matrix for every
channel (one right-hand side per channel). The systems of many images are solved together as
block-diagonal sparse systems: banded Cholesky solves for small images, ``spsolve`` for wide ones.

Speed: the equations of all images are assembled at once (one 3x3 correlation for the right-hand
sides, flat pixel indices for the couplings; no Python loop over images); images are then grouped
by the half-bandwidth of their own system (the banded solve costs ~ unknowns * bandwidth, and an
image with few removed pixels has a narrow band), and the groups are solved on a few threads
(LAPACK releases the GIL). In the banded solver each image's block goes through exactly the
operations it would alone, so an image's values do not depend on the other images of the call
(its batch, chunk or order), to the last bit.

>>> out = noisy_linear(x, removed, noise=0.01, rng=0)  # doctest: +SKIP
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
from scipy import ndimage, sparse
from scipy.linalg import solveh_banded
from scipy.sparse.linalg import spsolve

from xaibench._system import usable_cpus

NOISE = 0.01
# Half of the 8-neighbourhood as (row offset, column offset, weight); the other half mirrors it.
HALF_NEIGHBOURS = ((0, 1, 1 / 6), (1, -1, 1 / 12), (1, 0, 1 / 6), (1, 1, 1 / 12))
# Unknowns per block-diagonal solve (bounds the band's memory: (bandwidth + 2) * 2**17 floats).
_UNKNOWNS_PER_SOLVE = 2**17
# Up to this image width the banded Cholesky solver (LAPACK pbsv) is the fastest;
# wider images go to SuperLU (spsolve), whose fill-reducing ordering grows more slowly with W.
_BANDED_MAX_WIDTH = 64
# Threads solving groups at once (at most this many; at most the CPUs this process may use).
_MAX_THREADS = 4


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
    if solve.any():  # values in row-major order, image after image: the order of flatnonzero
        out.reshape(-1, x.shape[-1])[np.flatnonzero(solve)] = _impute(x, solve)
    if noise:
        draws = np.random.default_rng(rng).standard_normal(x.shape)
        np.multiply(draws, noise, out=draws)
        np.add(out, draws, out=out, where=removed[..., None])
    return out.astype(x.dtype)


class _System:
    """The equations of the removed pixels of images ``x`` (every image keeps a pixel), unknowns
    numbered in row-major order image after image.

    ``diag`` (K,) and ``rhs`` (K, C) hold each equation's diagonal and right-hand side;
    ``later[o]`` (K,) is, for the o-th neighbour of HALF_NEIGHBOURS (later in row-major order), how
    many unknowns after the pixel that neighbour's unknown comes, or -1 where that neighbour is
    kept or outside the image; ``counts`` (M,) are the unknowns per image.
    """

    def __init__(self, x: np.ndarray, removed: np.ndarray):
        m, h, w, c = x.shape
        # sum_j w_ij * v_j over the in-image neighbours j of every pixel i, in one pass
        weights = np.zeros((3, 3))
        for di, dj, weight in HALF_NEIGHBOURS:
            weights[1 + di, 1 + dj] = weights[1 - di, 1 - dj] = weight
        kept = np.where(removed[..., None], np.float32(0), x)
        rhs = ndimage.correlate(kept, weights[None, :, :, None], output=np.float64, mode="constant")
        diag = ndimage.correlate(np.ones((h, w)), weights, mode="constant")
        unknowns = np.flatnonzero(removed)
        self.rhs = rhs.reshape(-1, c)[unknowns]
        self.diag = np.take(diag.ravel(), unknowns % (h * w))
        hp, wp = h + 2, w + 2  # a border of kept pixels: the later neighbours never leave the image
        padded = np.zeros((m, hp, wp), bool)
        padded[:, 1:-1, 1:-1] = removed
        flat = padded.ravel()
        index = np.flatnonzero(flat)  # the pixel of every unknown
        there = np.empty_like(index)
        number = np.cumsum(flat, dtype=np.int32) - 1  # the unknown of every removed pixel
        own = np.arange(len(index), dtype=np.int32)
        self.later = []
        for di, dj, _ in HALF_NEIGHBOURS:
            np.add(index, di * wp + dj, out=there)
            ahead = np.take(number, there)
            ahead -= own
            ahead[~np.take(flat, there)] = -1
            self.later.append(ahead)
        self.counts = removed.sum(axis=(1, 2))
        self.width = w

    def bandwidths(self) -> np.ndarray:
        """The half-bandwidth of every image's own system, (M,) (0 for an image without
        unknowns)."""
        reach = np.max(self.later, axis=0)
        out = np.zeros(len(self.counts), np.int64)
        some = self.counts > 0
        starts = np.cumsum(self.counts) - self.counts
        out[some] = np.maximum.reduceat(reach, starts[some])
        return np.maximum(out, 0)

    def solve(self, unknowns: np.ndarray, bandwidth: int) -> np.ndarray:
        """The values (len(unknowns), C) of a set of whole images' unknowns, as one system.

        Banded: every image of the set has half-bandwidth ``bandwidth``, and ``bandwidth`` padding
        equations (u = 0) follow the last image, so that every image's block is factorised and
        solved with exactly the same operations as alone: its values do not depend on the others.
        """
        k = len(unknowns)
        later = [d[unknowns] for d in self.later]
        if self.width > _BANDED_MAX_WIDTH:
            return self._spsolve(self.diag[unknowns], later, self.rhs[unknowns])
        n = k + bandwidth
        band = np.zeros((bandwidth + 2, n))  # the last row takes the absent neighbours
        band[0, :k] = self.diag[unknowns]
        band[0, k:] = 1.0
        columns = np.arange(k)
        for d, (_, _, weight) in zip(later, HALF_NEIGHBOURS, strict=True):
            at = np.where(d >= 0, d, bandwidth + 1).astype(np.int64)
            at *= n
            at += columns
            band.ravel()[at] = -weight  # band[d, column]; absent neighbours to the last row
        rhs = np.zeros((n, self.rhs.shape[1]))
        rhs[:k] = self.rhs[unknowns]
        out = solveh_banded(band[: bandwidth + 1], rhs, lower=True, check_finite=False)
        return out[:k]

    @staticmethod
    def _spsolve(diag, later, rhs) -> np.ndarray:
        k = len(diag)
        rows, cols, vals = [np.arange(k)], [np.arange(k)], [diag]
        for d, (_, _, weight) in zip(later, HALF_NEIGHBOURS, strict=True):
            col = np.flatnonzero(d >= 0)
            rows += [col + d[col], col]
            cols += [col, col + d[col]]
            vals += [np.full(len(col), -weight)] * 2
        matrix = sparse.csc_matrix(
            (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(k, k)
        )
        return np.asarray(spsolve(matrix, rhs)).reshape(k, -1)


def _impute(x: np.ndarray, removed: np.ndarray) -> np.ndarray:
    """Imputed values (K, C) of the K removed pixels of images ``x``, in row-major order.

    Every image must keep at least one pixel. The equation of a removed pixel i with in-image
    neighbours N(i) is ``sum_{j in N(i)} w_ij * u_i - sum_{j in N(i), removed} w_ij * u_j =
    sum_{j in N(i), kept} w_ij * x_j``: the matrix is symmetric, positive definite (diagonally
    dominant, strictly so next to a kept pixel) and, with the unknowns in row-major order, banded
    with half-bandwidth at most W + 1, across the block-diagonal system of all the images.
    """
    system = _System(x, removed)
    bandwidths = system.bandwidths()
    groups = _groups(system.counts, bandwidths)
    starts = np.cumsum(system.counts) - system.counts
    jobs = [(_ranges(starts[g], system.counts[g]), int(bandwidths[g[0]])) for g in groups]
    threads = min(len(jobs), _MAX_THREADS, usable_cpus())
    if threads > 1:
        with ThreadPoolExecutor(threads) as pool:
            values = list(pool.map(lambda job: system.solve(*job), jobs))
    else:
        values = [system.solve(*job) for job in jobs]
    out = np.empty(system.rhs.shape)
    for (unknowns, _), v in zip(jobs, values, strict=True):
        out[unknowns] = v
    return out


def _groups(unknowns: np.ndarray, bandwidths: np.ndarray) -> list[np.ndarray]:
    """Images (index arrays) solved together: those of one half-bandwidth, in runs of at most
    ``_UNKNOWNS_PER_SOLVE`` unknowns (at least one image each); images without unknowns are left
    out."""
    out = []
    for b in np.unique(bandwidths[unknowns > 0]):
        images = np.flatnonzero((bandwidths == b) & (unknowns > 0))
        ends = np.cumsum(unknowns[images])
        start = 0
        while start < len(images):
            before = ends[start - 1] if start else 0
            limit = before + _UNKNOWNS_PER_SOLVE
            stop = max(start + 1, int(np.searchsorted(ends, limit, "right")))
            out.append(images[start:stop])
            start = stop
    return out


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The concatenation of ``arange(s, s + n)`` for every (s, n)."""
    shift = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
    return shift + np.arange(int(lengths.sum()))
