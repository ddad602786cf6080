"""Attribution methods on a 28x28 CNN over 128 images: seconds per explained sample, and for
gradient methods the ratio to the bare batched gradient computations they need (goal <= 1.3x).
Run: python -m pytest benchmarks/"""

import pytest
from conftest import N_IMAGES, bare_gradient_seconds, record_ratio

import xaibench as xb

GRADIENTS = {"saliency": lambda m: 1, "integrated_gradients": lambda m: m.steps + 1}


@pytest.mark.parametrize("name", ["saliency", "integrated_gradients", "random"])
def test_method_speed(benchmark, cnn28, name):
    model, x, y, _ = cnn28
    method = xb.methods.get(name)
    method(model, x, y)  # warm-up: tracing excluded
    benchmark.pedantic(method, args=(model, x, y), rounds=3, iterations=1)
    benchmark.extra_info["seconds_per_sample"] = benchmark.stats.stats.min / N_IMAGES
    if name in GRADIENTS:
        floor = bare_gradient_seconds(model, x, GRADIENTS[name](method))
        record_ratio(benchmark, name, floor)
