"""Every image method and perturbation metric at ImageNet size: MobileNetV2 (weights=None, 10
classes, 3.5 M parameters) on 224x224x3 inputs, each at its default ``batch_size="auto"``, as a
ratio to the bare compiled forward passes or batched gradients of the same number of inputs
(goal <= 1.3x). Run: python -m pytest benchmarks/test_bench_224.py -s

A 224x224 forward pass costs ~1,000x the 28x28 CNN's, so few images are explained and the methods
and metrics with hundreds of model calls per image run on reduced budgets (``SETTINGS``): the ratio
to the floor of the same calls does not depend on the budget. The floors run at the batch size
``batch_size="auto"`` picks for this model (models.batching), best of two.
"""

import numpy as np
import pytest

import xaibench as xb
from conftest import AT_224, best_seconds
from xaibench._tf import keras, tf
from xaibench.models.batching import model_batch

IMAGES = 4
SHAPE = (224, 224, 3)
SETTINGS = {
    "occlusion": {"patch": 32, "stride": 32},
    "rise": {"masks": 64},
    "lime": {"samples": 64},
    "kernel_shap": {"samples": 64},
    "integrated_gradients": {"steps": 16},
    "smoothgrad": {"samples": 8},
    "vargrad": {"samples": 8},
    "faithfulness_correlation": {"runs": 20},
    "infidelity": {"samples": 8},
    "max_sensitivity": {"samples": 4},
    "avg_sensitivity": {"samples": 4},
}


@pytest.fixture(scope="module")
def mobilenet():
    model = keras.applications.MobileNetV2(
        input_shape=SHAPE, weights=None, classes=10, classifier_activation=None
    )
    rng = np.random.default_rng(0)
    x = rng.random((IMAGES,) + SHAPE, dtype=np.float32)
    y = rng.integers(0, 10, IMAGES)
    a = rng.random((IMAGES,) + SHAPE[:2] + (1,), dtype=np.float32) * np.ones(SHAPE, np.float32)
    return model, x, y, a


def bare_forward(model, n: int) -> float:
    """Best-of-2 seconds of ``n`` inputs through the compiled forward pass, in the batches
    ``batch_size="auto"`` chooses for this model."""
    batch = model_batch("auto", model, SHAPE, gradient=False)
    big = np.random.default_rng(1).random((min(n, batch),) + SHAPE, dtype=np.float32)
    model.predict_on_batch(big)

    def forward():
        for start in range(0, n, batch):
            model.predict_on_batch(big[: min(batch, n - start)])

    return best_seconds(forward, 2)


def bare_gradients(model, n: int) -> float:
    """Best-of-2 seconds of ``n`` gradients of the target logit, compiled and batched as
    ``batch_size="auto"`` chooses for this model."""
    batch = model_batch("auto", model, SHAPE, gradient=True)

    @tf.function(reduce_retracing=True)
    def grad(xb_, yb):
        with tf.GradientTape() as tape:
            tape.watch(xb_)
            s = tf.gather(model(xb_, training=False), yb, axis=1, batch_dims=1)
        return tape.gradient(s, xb_)

    big = tf.constant(np.random.default_rng(1).random((min(n, batch),) + SHAPE, np.float32))
    labels = tf.zeros(len(big), tf.int64)
    grad(big, labels)

    def gradients():
        for start in range(0, n, batch):
            k = min(batch, n - start)
            grad(big[:k], labels[:k]).numpy()

    return best_seconds(gradients, 2)


def timed(work) -> float:
    work()  # warm-up: tracing excluded
    return best_seconds(work, 2)


def image_methods() -> list[str]:
    return [
        n
        for n in xb.methods.names()
        if xb.methods.cls(n).__module__.startswith("xaibench.methods.")
        and "image" in xb.methods.cls(n).inputs
        and xb.methods.cls(n).cost != "adapter"
    ]


@pytest.mark.parametrize("name", image_methods())
def test_method_224(mobilenet, name):
    model, x, y, _ = mobilenet
    method = xb.methods.get(name, **SETTINGS.get(name, {}))
    calls = xb.metrics.cls("runtime").calls(method, x)
    seconds = timed(lambda: method(model, x, y))
    if calls is None or calls["forward"] == 0:
        AT_224[name] = (seconds / IMAGES, np.nan, "-")
        return
    n = int(round(calls["forward"] * IMAGES))
    if calls["backward"] > 0:
        floor, kind = bare_gradients(model, int(round(calls["backward"] * IMAGES))), "gradients"
    else:
        floor, kind = bare_forward(model, n), "forwards"
    AT_224[name] = (seconds / IMAGES, seconds / floor, f"{n} {kind}")


# (name, forward copies per image given the metric)
FORWARD = [
    ("deletion", lambda q: q.steps + 1),
    ("insertion", lambda q: q.steps + 1),
    ("faithfulness_correlation", lambda q: q.runs + 1),
    ("infidelity", lambda q: q.samples + 1),
    ("completeness", lambda q: 2),
    ("road", lambda q: 2 * (q.steps - 1)),
]


@pytest.mark.parametrize("name, copies", FORWARD, ids=[f[0] for f in FORWARD])
def test_metric_224(mobilenet, name, copies):
    model, x, y, a = mobilenet
    metric = xb.metrics.get(name, **SETTINGS.get(name, {}))
    seconds = timed(lambda: metric(model, x, y, a))
    n = copies(metric) * IMAGES
    AT_224[name] = (seconds / IMAGES, seconds / bare_forward(model, n), f"{n} forwards")


@pytest.mark.parametrize("name", ["max_sensitivity", "avg_sensitivity"])
def test_reexplaining_metric_224(mobilenet, name):
    from xaibench.metrics.robustness import _sensitivity

    model, x, y, a = mobilenet
    metric = xb.metrics.get(name, **SETTINGS[name])
    saliency = xb.methods.get("saliency")

    def work():
        _sensitivity._LAST.clear()  # max and avg share re-explanations within a run
        metric(model, x, y, a, explain=saliency)

    seconds = timed(work)
    n = metric.samples * IMAGES
    AT_224[f"{name}(saliency)"] = (seconds / IMAGES, seconds / bare_gradients(model, n), "")
