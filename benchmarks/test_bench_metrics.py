"""Perturbation metrics on a 28x28 CNN over 128 images, as a ratio to the bare forward passes
they need (goal: <= 1.3x). Run: python -m pytest benchmarks/"""

import pytest
from conftest import bare_forward_seconds, record_ratio

import xaibench as xb

CASES = [
    ("deletion", {}, lambda q: q.steps + 1),
    ("insertion", {}, lambda q: q.steps + 1),
    ("faithfulness_correlation", {"runs": 100}, lambda q: q.runs + 1),
]


@pytest.mark.parametrize("name, params, copies", CASES, ids=[c[0] for c in CASES])
def test_metric_speed(benchmark, cnn28, name, params, copies):
    model, x, y, a = cnn28
    metric = xb.metrics.get(name, **params)
    metric(model, x, y, a)  # warm-up
    benchmark.pedantic(metric, args=(model, x, y, a), rounds=3, iterations=1)
    floor = bare_forward_seconds(model, x, copies(metric))
    record_ratio(benchmark, name, floor)
