"""Shared perturbation machinery: filling removed features with a baseline, and
batched scoring of the perturbed copies.

Every perturbation metric builds its inputs the same way, whatever the baseline: a bool mask of the
removed features per copy goes to ``Removal.fill``, which calls ``_baselines.fill_removed`` (values
computed from x, or the seeded noisy linear imputation). Copies are built for a chunk of samples at
once (all steps or runs of every sample in the chunk), and the model reads them in batches of
``batch_size``.

>>> removal = Removal(x, "noisy_linear", rng=0, name="deletion")  # doctest: +SKIP
>>> for s in chunks(len(x), samples_per_chunk(x, variants)):  # doctest: +SKIP
...     scores = copy_scores(model, removal.fill(s, removed[s]), y[s], output="logit", batch_size=256)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import numpy as np

from xaibench._baselines import Baseline, baseline_values, fill_removed, needs_removed
from xaibench._checks import NotApplicable, samples_per_chunk
from xaibench._imputation import NOISE
from xaibench.models.outputs import class_scores

# Perturbed copies per chunk when chunks are prepared ahead of the model (``ahead``): a few
# model batches, so that preparing the next chunk overlaps scoring this one.
AHEAD_COPIES = 2048
# Baselines defined for images only.
IMAGE_ONLY = ("blur", "noisy_linear")


def chunks(n: int, size: int) -> Iterator[slice]:
    """Consecutive slices of ``range(n)`` of ``size`` samples (the last may be shorter)."""
    return (slice(s, s + size) for s in range(0, n, size))


def ahead_chunks(x: np.ndarray, variants: int) -> Iterator[slice]:
    """Chunks of samples for ``ahead``: about AHEAD_COPIES perturbed copies each (at least one
    sample, at most ``samples_per_chunk``)."""
    size = max(1, min(samples_per_chunk(x, variants), AHEAD_COPIES // variants))
    return chunks(len(x), size)


T = TypeVar("T")
R = TypeVar("R")


def ahead(prepare: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
    """``prepare(item)`` for every item, in order, each computed on a worker thread while the
    caller uses the one before: the next chunk's perturbed copies (numpy, which releases the
    GIL) are built while the model scores this chunk's. One worker, so the calls run one after
    another in order, and a seeded Generator they share draws what it would in one loop. An
    exception is raised where its result is taken."""
    with ThreadPoolExecutor(1) as worker:
        pending = None
        for item in items:
            following = worker.submit(prepare, item)
            if pending is not None:
                yield pending.result()
            pending = following
        if pending is not None:
            yield pending.result()


class Removal:
    """Fills the removed features of chunks of ``x`` with ``baseline``.

    A baseline computed from ``x`` alone (a number, "mean", "blur", a callable) is computed once
    for all of ``x`` (a callable sees the whole batch); ``"noisy_linear"`` imputes every copy from
    its own removed features, with noise of standard deviation ``noise`` drawn from ``rng`` (a
    Generator or a seed). Chunks filled in sample order draw the noise from one stream, sample
    by sample, so the copies do not depend on the chunk size. ``name`` (the metric's) goes into the
    NotApplicable raised for an image-only baseline ("blur", "noisy_linear") on tabular data.
    """

    def __init__(
        self,
        x: np.ndarray,
        baseline: Baseline,
        *,
        rng: np.random.Generator | int | None = None,
        noise: float = NOISE,
        name: str = "this metric",
    ):
        if x.ndim != 4 and isinstance(baseline, str) and baseline in IMAGE_ONLY:
            raise NotApplicable(
                f"{name} with baseline={baseline!r} needs images (N, H, W, C): it fills a removed "
                f"pixel from the image around it; got tabular data of shape {x.shape} (use a "
                "number or 'mean' as the baseline)"
            )
        self.x = x
        self.masked = needs_removed(baseline)
        self.baseline = baseline if self.masked else baseline_values(x, baseline)
        self.rng = np.random.default_rng(rng) if self.masked else None
        self.noise = noise

    def fill(self, s: slice, removed: np.ndarray) -> np.ndarray:
        """Copies of ``x[s]``: ``removed`` bool (m, V, n_features) -> (m, V) + x.shape[1:]."""
        base = self.baseline if self.masked else self.baseline[s]
        return fill_removed(self.x[s], removed, base, rng=self.rng, noise=self.noise)


def copy_scores(
    model, copies: np.ndarray, y: np.ndarray, *, output: str, batch_size: int | str
) -> np.ndarray:
    """f_y of perturbed copies (m, V) + input shape, copy v of sample i scored for class y[i];
    float64 (m, V). The model reads them sample-major, in batches of ``batch_size`` inputs
    (``"auto"``: ``models.batching.model_batch``).

    The scores are laid out column-major, as the earlier copy-major code returned them, so that
    reductions over them sum in the same order and scores stay bit-identical across versions.
    """
    m, v = copies.shape[:2]
    flat = copies.reshape((m * v,) + copies.shape[2:])
    scores = class_scores(model, flat, np.repeat(y, v), output=output, batch_size=batch_size)
    return np.asfortranarray(scores.reshape(m, v))
