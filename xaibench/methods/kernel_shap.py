"""Kernel SHAP (Lundberg & Lee 2017, "A Unified Approach to Interpreting Model Predictions")."""

from __future__ import annotations

import itertools
import math

import numpy as np

from xaibench._baselines import Baseline, baseline_values, check_baseline
from xaibench.methods import register
from xaibench.methods._patches import n_units, units
from xaibench.methods._perturb import surrogate_attributions
from xaibench.methods._regression import constrained_least_squares
from xaibench.methods.base import Method, check_batch_size, check_positive_int, check_seed


def shapley_kernel(m: int, k: np.ndarray) -> np.ndarray:
    """Shapley kernel weight of one coalition of size k (0 < k < m): (m-1) / (C(m,k) k (m-k))."""
    k = np.asarray(k, np.int64)
    comb = np.array([float(math.comb(m, int(j))) for j in range(m + 1)])[k]
    return (m - 1) / (comb * k * (m - k))


class CoalitionPlan:
    """Which coalitions of m units to evaluate within a budget of ``samples``, as in the shap
    package's KernelExplainer.

    Coalition sizes are taken in pairs (k, m - k) from the outside in; a pair whose coalitions all
    fit in its share of the remaining budget (its share of the remaining kernel mass) is
    enumerated with the exact Shapley kernel weights. If every coalition fits (2^m - 2 <= samples)
    all are enumerated and the solution is exact. The rest of the budget samples pairs of
    complementary coalitions: the smaller size k among the pairs left is drawn with probability
    proportional to its kernel mass, the coalition uniformly among those of that size; these rows
    share the remaining kernel mass equally.
    """

    def __init__(self, m: int, samples: int):
        self.m = m
        small = np.arange(1, m // 2 + 1)  # the smaller size k of every pair of sizes (k, m - k)
        paired = small < m - small
        mass = np.where(paired, 2.0, 1.0) * (m - 1) / (small * (m - small))  # kernel mass per pair
        count = [math.comb(m, int(k)) * (2 if p else 1) for k, p in zip(small, paired, strict=True)]
        everything = m <= 30 and 2**m - 2 <= samples
        left, full = samples, 0
        # 1e-8: round-off of a count of coalitions (dimensionless), not a scale of anything
        while full < len(small) and (
            everything or left * mass[full] / mass[full:].sum() >= count[full] - 1e-8
        ):
            left -= count[full]
            full += 1
        sizes = [int(k) for k in small[:full]] + [m - int(k) for k in small[:full] if k < m - k]
        rows = [_all_subsets(m, k) for k in sizes]
        self.enumerated = np.concatenate(rows) if rows else np.zeros((0, m), bool)
        total = mass.sum() if len(mass) else 1.0  # weights: kernel mass normalised to 1
        enumerated_weights = shapley_kernel(m, self.enumerated.sum(axis=1)) / total
        self.small_left = small[full:]
        self.draws = left // 2 if len(self.small_left) else 0
        rest = mass[full:]
        self.size_cdf = np.cumsum(rest) / rest.sum() if len(rest) else rest
        sampled_weights = np.full(2 * self.draws, rest.sum() / total / max(1, 2 * self.draws))
        self.weights = np.concatenate([enumerated_weights, sampled_weights])

    def coalitions(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """The coalitions of ``n`` samples, bool (n, rows, m): the enumerated ones (shared), then
        the sampled pairs (one ``rng.random`` draw per sample, in order)."""
        shared = np.broadcast_to(self.enumerated, (n,) + self.enumerated.shape)
        if not self.draws:
            return np.array(shared)
        u = rng.random((n, self.draws, self.m + 1))
        pick = np.searchsorted(self.size_cdf, u[..., 0], side="right")
        k = self.small_left[np.minimum(pick, len(self.small_left) - 1)]
        keys = u[..., 1:]  # the k units with the smallest keys form the coalition
        kth = np.take_along_axis(np.sort(keys, axis=-1), k[..., None] - 1, axis=-1)
        drawn = keys <= kth
        return np.concatenate([shared, drawn, ~drawn], axis=1)


def _all_subsets(m: int, k: int) -> np.ndarray:
    """Every coalition of size k of m units, bool (C(m, k), m)."""
    idx = np.array(list(itertools.combinations(range(m), k)), dtype=np.int64).reshape(-1, k)
    out = np.zeros((len(idx), m), bool)
    np.put_along_axis(out, idx, True, axis=1)
    return out


@register("kernel_shap")
class KernelShap(Method):
    """Shapley values of superpixels (features) from a Shapley-kernel weighted regression.

    Lundberg & Lee (2017), "A Unified Approach to Interpreting Model Predictions". The units are
    the grid superpixels of an image or the features of tabular data; a coalition z keeps its
    units from x and sets the others to the baseline. phi minimises
    sum_z pi(z) (f_y(z) - f_y(baseline) - z . phi)^2 with the Shapley kernel
    pi(z) = (M-1) / (C(M,|z|) |z| (M-|z|)), subject to the efficiency constraint
    sum(phi) = f_y(x) - f_y(baseline) (raw target output), which is enforced exactly by eliminating
    the last unit (as the shap package does). Coalitions follow the shap package's KernelExplainer:
    size pairs (k, M-k) whose coalitions all fit the budget are enumerated with exact weights
    (all of them when 2^M - 2 <= samples: then phi are the exact Shapley values), the rest of the
    budget samples complementary pairs with sizes drawn by the kernel. The regressions of all
    samples are solved together (batched normal equations).

    A superpixel's value is spread evenly over its pixels, so the attributions of every sample sum
    to f_y(x) - f_y(baseline); returns (N, H, W) for images. Sampled coalitions are drawn per
    sample in order from one seeded stream, independent of ``batch_size``.
    Cost: samples + 2 forward passes per sample.

    Parameters
    ----------
    samples : coalitions evaluated per sample besides x and the baseline (default 2048; the shap
        package's "auto" is 2M + 2048).
    segments : grid cells per image side (default 8: 64 superpixels); ignored for tabular data.
    baseline : value of units outside the coalition: 0.0 (default), a number, "mean", "blur" or a
        callable (the shap package uses a background data set instead).
    seed : seed of the sampled coalitions (default 0).
    batch_size : model inputs per forward call, or "auto" (default): as many as fit the memory
        budget (``xaibench.models.batching``).
    """

    cost = "heavy"

    stochastic = True

    def __init__(
        self,
        *,
        samples: int = 2048,
        segments: int = 8,
        baseline: Baseline = 0.0,
        seed: int = 0,
        batch_size: int | str = "auto",
    ):
        self.samples = check_positive_int(samples, "samples")
        self.segments = check_positive_int(segments, "segments")
        self.baseline = check_baseline(baseline)
        self.seed = check_seed(seed)
        self.batch_size = check_batch_size(batch_size)

    def model_calls(self, input_shape) -> dict[str, float]:
        """Per sample: x, the baseline and the coalitions planned for the input's units."""
        plan = CoalitionPlan(n_units(input_shape, self.segments), self.samples)
        return {"forward": float(len(plan.weights) + 2), "backward": 0.0}

    def explain(self, model, x, y):
        labels, m = units(x, self.segments)
        plan = CoalitionPlan(m, self.samples)
        rng = np.random.default_rng(self.seed)
        ends = np.zeros((2, m), bool)
        ends[0] = True  # x itself, then the baseline

        def draw(n):
            return np.concatenate(
                [np.broadcast_to(ends, (n, 2, m)), plan.coalitions(rng, n)], axis=1
            )

        def fit(masks, t):
            empty = t[:, 1:2]
            phi = constrained_least_squares(
                masks[:, 2:], t[:, 2:] - empty, plan.weights, t[:, 0] - empty[:, 0]
            )
            return phi[:, labels] / np.bincount(labels, minlength=m)[labels]

        return surrogate_attributions(
            model,
            x,
            y,
            baseline_values(x, self.baseline),
            labels,
            rows=len(plan.weights) + 2,
            draw=draw,
            fit=fit,
            batch_size=self.batch_size,
        )
