"""Explainer quality gates in a test suite (the xaibench pytest plugin loads by itself)."""

import pytest

import xaibench as xb
from xaibench.testing import assert_beats_random

METHODS = ["saliency", "integrated_gradients"]
METRICS = ["deletion", "insertion"]


def digits_linear(n=32):
    data = xb.datasets.load("digits")
    return xb.models.get("linear", "digits"), data.x_test[:n], data.y_test[:n]


@pytest.mark.parametrize("method", METHODS)
def test_method_beats_the_random_control(method):
    model, x, y = digits_linear()
    assert_beats_random(model, x, y, method, metrics=METRICS)


def test_no_regression_against_the_baseline(xaibench_check):
    # skipped unless a baseline is given: pytest --xaibench-baseline tests/explainer_baseline.csv
    model, x, y = digits_linear()
    scores = xb.evaluate(model, x, y, METHODS, METRICS, seed=0)
    xaibench_check(scores, dataset="digits", model="linear")
