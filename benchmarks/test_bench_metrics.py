"""Metrics on a 28x28 CNN over 128 images.

Perturbation metrics report their time as a ratio to the bare forward passes of the copies they
score (goal: <= 1.3x); road also as a ratio to those forward passes plus the noisy linear
imputation of its copies (the exact linear solves its definition needs); metrics that re-run a
method (max/avg sensitivity with saliency) as a ratio to the bare batched gradients of the
perturbed inputs they explain. Metrics without a model-call
floor (complexity, sparseness, localisation) report seconds per sample only.
Run: python -m pytest benchmarks/"""

import numpy as np
import pytest
from conftest import (
    N_IMAGES,
    RATIOS,
    bare_forward_seconds,
    bare_gradient_seconds,
    best_seconds,
    record_ratio,
)

import xaibench as xb
from xaibench._imputation import noisy_linear
from xaibench.metrics.robustness import _sensitivity

# (name, settings, forward copies per image)
FORWARD = [
    ("deletion", {}, lambda q: q.steps + 1),
    ("insertion", {}, lambda q: q.steps + 1),
    ("faithfulness_correlation", {"runs": 100}, lambda q: q.runs + 1),
    ("road", {}, lambda q: 2 * (q.steps - 1)),
    ("infidelity", {}, lambda q: q.samples + 1),
    ("completeness", {}, lambda q: 2),
]
# (name, settings, gradient copies per image) for metrics that re-run saliency
GRADIENT = [
    ("max_sensitivity", {}, lambda q: q.samples),
    ("avg_sensitivity", {}, lambda q: q.samples),
]
MODEL_FREE = [
    "complexity",
    "sparseness",
    "pointing_game",
    "relevance_mass",
    "relevance_rank",
    "attribution_auroc",
]


def timed(benchmark, metric, args, kwargs=None):
    kwargs = kwargs or {}
    metric(*args, **kwargs)  # warm-up: tracing excluded
    benchmark.pedantic(
        metric, args=args, kwargs=kwargs, setup=forget_results, rounds=3, iterations=1
    )
    benchmark.extra_info["seconds_per_sample"] = benchmark.stats.stats.min / N_IMAGES


def forget_results():
    """Drop the re-explanations max_sensitivity and avg_sensitivity share (a run scores both of
    one method on the same inputs), so that every round does the work."""
    _sensitivity._LAST.clear()


@pytest.mark.parametrize("name, params, copies", FORWARD, ids=[c[0] for c in FORWARD])
def test_metric_speed(benchmark, cnn28, name, params, copies):
    model, x, y, a = cnn28
    metric = xb.metrics.get(name, **params)
    timed(benchmark, metric, (model, x, y, a))
    floor = bare_forward_seconds(model, x, copies(metric))
    record_ratio(benchmark, name, floor)
    if name == "road":
        imputation = imputation_seconds(metric, x, a)
        benchmark.extra_info["imputation_seconds"] = imputation
        RATIOS["road (vs forward + imputation)"] = benchmark.stats.stats.min / (floor + imputation)
        RATIOS["road's imputation (vs forward)"] = imputation / floor


def imputation_seconds(road, x, a, repeats: int = 3) -> float:
    """Best-of-``repeats`` seconds of the noisy linear imputation of road's copies of ``x``."""
    removed = road.removed(a.reshape(len(a), -1))
    copies = np.repeat(x, removed.shape[1], axis=0)
    removed = removed.reshape(copies.shape[:3])
    return best_seconds(
        lambda: noisy_linear(copies, removed, noise=road.noise, rng=road.seed), repeats
    )


@pytest.mark.parametrize("name, params, copies", GRADIENT, ids=[c[0] for c in GRADIENT])
def test_reexplaining_metric_speed(benchmark, cnn28, name, params, copies):
    model, x, y, a = cnn28
    metric = xb.metrics.get(name, **params)
    timed(benchmark, metric, (model, x, y, a), {"explain": xb.methods.get("saliency")})
    floor = bare_gradient_seconds(model, x, copies(metric))
    record_ratio(benchmark, f"{name}(saliency)", floor)


@pytest.mark.parametrize("name", MODEL_FREE)
def test_model_free_metric_speed(benchmark, cnn28, name):
    model, x, y, a = cnn28
    metric = xb.metrics.get(name)
    kwargs = {}
    if metric.needs_masks:
        masks = np.zeros(x.shape[:-1], bool)
        masks[:, 8:20, 8:20] = True
        kwargs["masks"] = masks
    timed(benchmark, metric, (None, x, y, a), kwargs)
