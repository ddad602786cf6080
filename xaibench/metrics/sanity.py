"""The two sanity estimators of the meta-evaluation (Hedström et al. 2023, "The Meta-Evaluation
Problem in Explainable AI", section 5: a meta-evaluation must fail them where they are broken).

They stand in for a quality metric, so that ``xb.meta_evaluate`` can be checked on them: a metric
that ignores the attributions and the model (``ConstantScores``) must fail the adversary tests
(IAC_AR and IEC_AR near 0: its scores never react), one whose scores are noise
(``RandomScores``) must fail the resilience test of rankings (IEC_NR near chance: 1 over the
number of methods). They are not registered (no run or suite lists them, ``xaibench list`` does
not show them): pass instances.

>>> from xaibench.metrics.sanity import ConstantScores, RandomScores
>>> df = xb.meta_evaluate(model, x, y, ["saliency", "random"], [RandomScores()])  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib

import numpy as np

from xaibench._checks import check_batch_size, check_seed
from xaibench.metrics.base import NO_MODEL_CALLS, Metric
from xaibench.models.outputs import class_scores


class ConstantScores(Metric):
    """The same score for every sample whatever the attributions and the model: ``value``.

    MetaQuantus's "Estimator_Same". Higher is better (no direction can make it react).
    """

    name = "sanity_constant"
    higher_is_better = True
    category = "faithfulness"
    needs_model = False
    scores_constant_maps = True  # it reads no map
    model_calls = NO_MODEL_CALLS

    def __init__(self, *, value: float = 0.5, batch_size: int | str = "auto"):
        self.value = float(value)
        self.batch_size = check_batch_size(batch_size)

    def score(self, model, x, y, a, **extra):
        return np.full(len(x), self.value)


class RandomScores(Metric):
    """Uniform scores in [0, 1) drawn afresh whenever anything the metric sees changes.

    MetaQuantus's "Estimator_Different" (a new draw at every call) made deterministic: the draws
    come from ``np.random.default_rng`` seeded with ``seed`` and a hash of the inputs, the
    attributions and the model's class scores on the inputs, so the same call gives the same
    scores and a perturbed model or input other ones. Higher is better.
    """

    name = "sanity_random"
    higher_is_better = True
    category = "faithfulness"
    stochastic = True
    scores_constant_maps = True  # it reads no feature order
    model_calls = {"forward": 1, "backward": 0}  # noqa: RUF012 - read-only metadata

    def __init__(self, *, seed: int = 0, batch_size: int | str = "auto"):
        self.seed = check_seed(seed)
        self.batch_size = check_batch_size(batch_size)

    def score(self, model, x, y, a, **extra):
        outputs = class_scores(model, x, y, batch_size=self.batch_size)
        digest = hashlib.sha256()
        for array in (x, a, outputs):
            digest.update(np.ascontiguousarray(array).tobytes())
        entropy = [self.seed, int.from_bytes(digest.digest()[:8], "little")]
        return np.random.default_rng(entropy).random(len(x))
