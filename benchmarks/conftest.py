"""Shared fixtures of the speed benchmarks: a 28x28 CNN and 128 images; the bare forward-pass
and gradient times that metrics and methods are compared with; the summary tables."""

import dataclasses
import functools
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


def best_seconds(work, repeats: int = 3) -> float:
    """The shortest of ``repeats`` timings of ``work()``, in seconds."""
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - start)
    return best


def bare_forward_seconds(model, x, copies: int, repeats: int = 3) -> float:
    """Best-of-``repeats`` seconds of the model's own compiled forward pass over ``copies`` copies
    of ``x`` in batches of 256: the floor a perturbation metric is compared with."""
    big = np.repeat(x, copies, axis=0)
    model.predict_on_batch(big[:BATCH])  # warm-up / tracing

    def forward():
        for i in range(0, len(big), BATCH):
            model.predict_on_batch(big[i : i + BATCH])

    return best_seconds(forward, repeats)


def record_ratio(benchmark, name: str, floor: float) -> float:
    ratio = benchmark.stats.stats.min / floor
    benchmark.extra_info["forward_seconds"] = floor
    benchmark.extra_info["ratio_to_forward"] = ratio
    RATIOS[name] = ratio
    return ratio


@dataclasses.dataclass
class MethodTiming:
    """One method's benchmark: seconds per explained sample, the model calls it declares per
    sample, and its time over the bare batched gradients it needs (gradient methods) or over
    its forward calls at the bare per-row forward time (forward-only methods)."""

    images: int
    seconds_per_sample: float
    forward: float | None = None
    backward: float | None = None
    ratio_to_gradient: float | None = None
    ratio_to_forward: float | None = None


METHODS: dict[str, MethodTiming] = {}
BARE_ROW_SECONDS: dict[str, float] = {}  # "forward": best bare seconds per input row seen
# test_bench_224: name -> (seconds per image, time over the floor, the floor's work)
AT_224: dict[str, tuple[float, float, str]] = {}


def record_method(benchmark, name: str, timing: MethodTiming) -> None:
    benchmark.extra_info.update(
        {k: v for k, v in dataclasses.asdict(timing).items() if v is not None}
    )
    METHODS[name] = timing


def _fmt(value, width: int, spec: str, suffix: str = "") -> str:
    return f"{'-' if value is None else f'{value:{spec}}{suffix}':>{width}s}"


def _write_methods(terminalreporter) -> None:
    terminalreporter.section("attribution methods: seconds per explained sample (28x28 CNN)")
    rows = [
        f"{'method':22s} {'images':>6s} {'ms/sample':>10s} {'fwd/sample':>10s} "
        f"{'bwd/sample':>10s} {'x bare grad':>11s} {'x bare fwd*':>11s}"
    ]
    for name, t in sorted(METHODS.items(), key=lambda item: item[1].seconds_per_sample):
        rows.append(
            f"{name:22s} {t.images:6d} {t.seconds_per_sample * 1e3:10.3f} "
            f"{_fmt(t.forward, 10, '.0f')} {_fmt(t.backward, 10, '.0f')} "
            f"{_fmt(t.ratio_to_gradient, 11, '.2f', 'x')} {_fmt(t.ratio_to_forward, 11, '.2f', 'x')}"
        )
    for row in rows:
        terminalreporter.write_line(row)
    terminalreporter.write_line(
        "x bare grad: median ratio to the same number of bare batched gradients timed right "
        "after (goal <= 1.3x for xaibench's gradient methods)"
    )
    if "forward" in BARE_ROW_SECONDS:
        terminalreporter.write_line(
            "x bare fwd*: over the declared forward calls at the bare forward time per row "
            f"({BARE_ROW_SECONDS['forward'] * 1e6:.0f} us, batches of {BATCH}), measured next to it"
        )


def pytest_terminal_summary(terminalreporter):
    if RATIOS:
        terminalreporter.section("metrics: time / bare forward passes they need")
        for name, ratio in sorted(RATIOS.items()):
            terminalreporter.write_line(f"{name:32s} {ratio:6.2f}x")
    if METHODS:
        _write_methods(terminalreporter)
    if AT_224:
        _write_224(terminalreporter)


def _write_224(terminalreporter) -> None:
    terminalreporter.section(
        "224x224 MobileNetV2: seconds per image, time over the bare forwards/gradients (goal 1.3x)"
    )
    terminalreporter.write_line(f"{'component':32s} {'s/image':>8s} {'x floor':>8s}  floor")
    for name, (per_image, ratio, floor) in AT_224.items():
        terminalreporter.write_line(f"{name:32s} {per_image:8.2f} {ratio:7.2f}x  {floor}")


@functools.cache
def _bare_gradient_fn(model):
    from xaibench._tf import tf

    @tf.function(reduce_retracing=True)
    def grad(xb, yb):
        with tf.GradientTape() as tape:
            tape.watch(xb)
            s = tf.gather(model(xb, training=False), yb, axis=1, batch_dims=1)
        return tape.gradient(s, xb)

    return grad


def bare_gradient_seconds(model, x, copies: int, repeats: int = 3) -> float:
    """Best-of-``repeats`` seconds of ``copies`` copies of ``x`` through a compiled batched
    gradient of the target logit (batches of 256): the floor of gradient methods."""
    from xaibench._tf import tf

    grad = _bare_gradient_fn(model)
    big = np.repeat(x, copies, axis=0)
    y = np.zeros(len(big), np.int64)
    grad(tf.constant(big[:BATCH]), tf.constant(y[:BATCH]))

    def gradients():
        for i in range(0, len(big), BATCH):
            grad(tf.constant(big[i : i + BATCH]), tf.constant(y[i : i + BATCH])).numpy()

    return best_seconds(gradients, repeats)
