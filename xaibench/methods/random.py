"""The random control: attributions that carry no information about the model."""

from __future__ import annotations

import numpy as np

from xaibench.methods import register
from xaibench.methods.base import Method, check_batch_size, check_seed
from xaibench.models.batching import model_batch


@register("random")
class Random(Method):
    """Uniform noise in [0, 1) of the input's shape: the control every method must beat.

    Parameters
    ----------
    seed : seed of the noise (default 0); same seed, same attributions.
    batch_size : samples drawn per step, or "auto" (default): as many as fit the memory budget
        (``xaibench.models.batching``, at most 256); the noise is one stream, so it does not
        depend on the batch size.
    """

    control = True
    stochastic = True
    model_calls = {"forward": 0.0, "backward": 0.0}

    def __init__(self, *, seed: int = 0, batch_size: int | str = "auto"):
        self.seed = check_seed(seed)
        self.batch_size = check_batch_size(batch_size)

    def explain(self, model, x, y):
        rng = np.random.default_rng(self.seed)
        bs = model_batch(self.batch_size, None, x.shape[1:], gradient=False)  # no model read
        return np.concatenate(
            [
                rng.random((len(x[i : i + bs]),) + x.shape[1:], dtype=np.float32)
                for i in range(0, len(x), bs)
            ]
        )
