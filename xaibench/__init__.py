"""xaibench: benchmark attribution methods across models and datasets.

>>> import xaibench as xb
>>> df = xb.evaluate(model, x, y, methods=["saliency", "random"], metrics=["deletion"])  # doctest: +SKIP
>>> xb.leaderboard(df)  # doctest: +SKIP
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from xaibench import (  # noqa: E402
    _tf,  # noqa: E402,F401  (imports TensorFlow quietly, before anything else)
    datasets,
    methods,
    metrics,
    models,
)
from xaibench._version import __version__  # noqa: E402
from xaibench.benchmark import evaluate  # noqa: E402
from xaibench.results import leaderboard  # noqa: E402

__all__ = ["datasets", "methods", "metrics", "models", "evaluate", "leaderboard", "__version__"]
