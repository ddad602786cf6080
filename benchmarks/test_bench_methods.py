"""Every built-in image attribution method (and the shap/lime adapters when installed) on a 28x28
CNN: seconds per explained sample, the model calls each declares per sample, and for the gradient
methods the ratio to the bare batched gradient computations they need (goal <= 1.3x).
Run: python -m pytest benchmarks/test_bench_methods.py

Expensive perturbation methods explain fewer images (one timed round after a warm-up on two
images); shap_kernel uses a background of 4 inputs (its cost is linear in the background size).
"""

import time

import numpy as np
import pytest
from conftest import (
    BARE_ROW_SECONDS,
    N_IMAGES,
    MethodTiming,
    bare_forward_seconds,
    bare_gradient_seconds,
    record_method,
)

import xaibench as xb

# Methods whose time is compared with the bare batched gradients they declare: the goal is
# <= 1.3x for xaibench's own; shap_gradient (shap's GradientExplainer) is shown for information.
GRADIENT_GOAL = [
    "saliency",
    "gradient_x_input",
    "guided_backprop",
    "integrated_gradients",
    "smoothgrad",
    "vargrad",
]
VERSUS_GRADIENTS = [*GRADIENT_GOAL, "shap_gradient"]
FEW_IMAGES = {
    "occlusion": 16,
    "rise": 16,
    "lime": 16,
    "kernel_shap": 16,
    "lime_image": 16,
    "shap_gradient": 16,
    "shap_kernel": 4,
}
SETTINGS = {"shap_kernel": {"background_size": 4}}


def rounds_for(name: str, calls: dict | None) -> int:
    """Timed rounds: one for the expensive methods, 20 for those of one model call per sample or
    less (tens of milliseconds, noisy), 5 otherwise."""
    if name in FEW_IMAGES:
        return 1
    return 20 if calls is not None and calls["forward"] <= 1 else 5


def image_methods() -> list[str]:
    """The methods shipped with xaibench (adapters included) that explain images."""
    return [
        name
        for name in xb.methods.names()
        if xb.methods.cls(name).__module__.startswith("xaibench.")
        and "image" in xb.methods.cls(name).inputs
    ]


def bare_forward_row(model, x) -> float:
    """Seconds of one input row through the model's bare compiled forward pass (batches of 256),
    best of 3 over 8 copies of ``x``."""
    copies = 8
    return bare_forward_seconds(model, x, copies) / (copies * len(x))


def interleaved_ratio(method, model, x, y, copies: int, rounds: int) -> float:
    """Median over ``rounds`` of the method's time over the time of ``copies`` bare batched
    gradients of ``x`` timed right after it, so that other load on the machine (bursty on a shared
    machine) hits both sides of each ratio alike."""
    ratios = []
    for _ in range(rounds):
        start = time.perf_counter()
        method(model, x, y)
        seconds = time.perf_counter() - start
        ratios.append(seconds / bare_gradient_seconds(model, x, copies, repeats=1))
    return float(np.median(ratios))


@pytest.mark.parametrize("name", image_methods())
def test_method_speed(benchmark, cnn28, name):
    model, x_all, y_all, _ = cnn28
    n = FEW_IMAGES.get(name, N_IMAGES)
    x, y = x_all[:n], y_all[:n]
    method = xb.methods.get(name, **SETTINGS.get(name, {}))
    calls = xb.metrics.cls("runtime").calls(method, x)
    warm = 2 if name in FEW_IMAGES else n
    method(model, x[:warm], y[:warm])  # warm-up: tracing excluded
    rounds = rounds_for(name, calls)
    benchmark.pedantic(method, args=(model, x, y), rounds=rounds, iterations=1)
    best = benchmark.stats.stats.min
    timing = MethodTiming(images=n, seconds_per_sample=best / n)
    if calls is not None:
        timing.forward, timing.backward = calls["forward"], calls["backward"]
        if name in VERSUS_GRADIENTS:
            copies = int(calls["backward"])
            timing.ratio_to_gradient = interleaved_ratio(method, model, x, y, copies, rounds)
        elif calls["backward"] == 0 and calls["forward"] > 0:
            row = bare_forward_row(model, x_all)
            BARE_ROW_SECONDS["forward"] = min(BARE_ROW_SECONDS.get("forward", np.inf), row)
            timing.ratio_to_forward = best / n / (calls["forward"] * row)
    record_method(benchmark, name, timing)
