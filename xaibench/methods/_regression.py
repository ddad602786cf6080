"""Batched weighted least squares: one small regression per explained sample, solved together.

The normal equations of every sample are stacked into (N, d, d) and solved with one
``np.linalg.solve`` call; a singular system (too few perturbations for the number of units, no
ridge) falls back to the minimum-norm solution from the pseudo-inverse.

The matrices are small (d <= a few hundred), so BLAS runs on one thread here: on a busy machine
(or right after TensorFlow's thread pool) multi-threaded OpenBLAS makes these products 10-20x
slower. ``threadpoolctl`` comes with scikit-learn; without it the products run as configured.
"""

from __future__ import annotations

import contextlib

import numpy as np

try:
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover - scikit-learn (a dependency) installs it
    threadpool_limits = None


def _one_blas_thread():
    if threadpool_limits is None:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a[i].T @ b[i] for every i: (N, S, d) x (N, S, e) -> (N, d, e)."""
    with _one_blas_thread():
        return np.einsum("nsi,nsj->nij", a, b, optimize=True)


def _solve(gram: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Solve gram[i] @ b[i] = rhs[i] for every i; gram (N, d, d), rhs (N, d)."""
    with _one_blas_thread():
        try:
            return np.linalg.solve(gram, rhs[..., None])[..., 0]
        except np.linalg.LinAlgError:
            return (np.linalg.pinv(gram, hermitian=True) @ rhs[..., None])[..., 0]


def weighted_ridge(
    z: np.ndarray, t: np.ndarray, w: np.ndarray, alpha: float
) -> tuple[np.ndarray, np.ndarray]:
    """``(coef, intercept)`` minimising sum_s w_s (t_s - b - z_s . coef)^2 + alpha |coef|^2 per
    sample (the intercept is not penalised, as in scikit-learn's Ridge).

    ``z`` is (N, S, d), ``t`` (N, S), ``w`` (S,) or (N, S). Returns coef (N, d), intercept (N,).
    """
    n, s, d = z.shape
    design = np.concatenate([np.ones((n, s, 1)), z.astype(np.float64)], axis=2)
    w = np.broadcast_to(np.asarray(w, np.float64), (n, s))
    weighted = design * w[..., None]
    gram = _cross(weighted, design)
    gram[:, np.arange(1, d + 1), np.arange(1, d + 1)] += alpha
    beta = _solve(gram, np.einsum("nsi,ns->ni", weighted, t))
    return beta[:, 1:], beta[:, 0]


def constrained_least_squares(
    z: np.ndarray, t: np.ndarray, w: np.ndarray, total: np.ndarray
) -> np.ndarray:
    """``phi`` minimising sum_s w_s (t_s - z_s . phi)^2 subject to sum(phi) = total, per sample.

    The constraint eliminates the last unit (phi_d = total - sum_{j<d} phi_j), leaving an ordinary
    weighted least-squares problem in d - 1 unknowns without intercept (as the shap package's
    KernelExplainer does). ``z`` (N, S, d), ``t`` (N, S), ``w`` (S,) or (N, S), ``total`` (N,).
    """
    n, s, d = z.shape
    total = np.asarray(total, np.float64)
    if d == 1:
        return total[:, None].copy()
    z = z.astype(np.float64)
    last = z[..., -1]
    design = z[..., :-1] - last[..., None]
    target = t - last * total[:, None]
    w = np.broadcast_to(np.asarray(w, np.float64), (n, s))
    weighted = design * w[..., None]
    head = _solve(_cross(weighted, design), np.einsum("nsi,ns->ni", weighted, target))
    return np.concatenate([head, (total - head.sum(axis=1))[:, None]], axis=1)
