"""Shared fixtures of the speed benchmarks: a 28x28 CNN and 128 images, and the bare
forward-pass time every perturbation metric is compared with."""

import time

import numpy as np
import pytest

from xaibench._tf import keras

RATIOS: dict[str, float] = {}
N_IMAGES = 128
BATCH = 256


@pytest.fixture(scope="session")
def cnn28():
    model = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Conv2D(16, 3, activation="relu"),
            keras.layers.Conv2D(32, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
            keras.layers.Dense(10),
        ]
    )
    rng = np.random.default_rng(0)
    x = rng.random((N_IMAGES, 28, 28, 1), dtype=np.float32)
    y = rng.integers(0, 10, N_IMAGES)
    a = rng.random((N_IMAGES, 28, 28, 1), dtype=np.float32)
    return model, x, y, a


def bare_forward_seconds(model, x, copies: int, repeats: int = 3) -> float:
    """Best-of-``repeats`` seconds of the model's own compiled forward pass over ``copies`` copies
    of ``x`` in batches of 256: the floor a perturbation metric is compared with."""
    big = np.repeat(x, copies, axis=0)
    model.predict_on_batch(big[:BATCH])  # warm-up / tracing
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        for i in range(0, len(big), BATCH):
            model.predict_on_batch(big[i : i + BATCH])
        best = min(best, time.perf_counter() - start)
    return best


def record_ratio(benchmark, name: str, floor: float) -> float:
    ratio = benchmark.stats.stats.min / floor
    benchmark.extra_info["forward_seconds"] = floor
    benchmark.extra_info["ratio_to_forward"] = ratio
    RATIOS[name] = ratio
    return ratio


def pytest_terminal_summary(terminalreporter):
    if RATIOS:
        terminalreporter.section("time / bare forward (metrics) or gradient (methods) time")
        for name, ratio in sorted(RATIOS.items()):
            terminalreporter.write_line(f"{name:32s} {ratio:6.2f}x")


def bare_gradient_seconds(model, x, copies: int, repeats: int = 3) -> float:
    """Best-of-``repeats`` seconds of ``copies`` copies of ``x`` through a compiled batched
    gradient of the target logit (batches of 256): the floor of gradient methods."""
    from xaibench._tf import tf

    @tf.function(reduce_retracing=True)
    def grad(xb, yb):
        with tf.GradientTape() as tape:
            tape.watch(xb)
            s = tf.gather(model(xb, training=False), yb, axis=1, batch_dims=1)
        return tape.gradient(s, xb)

    big = np.repeat(x, copies, axis=0)
    y = np.zeros(len(big), np.int64)
    grad(tf.constant(big[:BATCH]), tf.constant(y[:BATCH]))
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        for i in range(0, len(big), BATCH):
            grad(tf.constant(big[i : i + BATCH]), tf.constant(y[i : i + BATCH])).numpy()
        best = min(best, time.perf_counter() - start)
    return best
