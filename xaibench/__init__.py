"""xaibench: benchmark attribution methods across models and datasets.

>>> import xaibench as xb
>>> df = xb.evaluate(model, x, y, methods=["saliency", "random"], metrics=["deletion"])
>>> board = xb.leaderboard(df)  # mean, bootstrap CI, n and rank per method and metric
>>> sorted(board.method)
['random', 'saliency']

The subpackages are imported on first use, so that ``import xaibench.testing`` (the pytest
plugin, loaded by every pytest run) and ``xaibench.results.check`` do not import TensorFlow.
"""

import importlib
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from xaibench._version import __version__  # noqa: E402

_SUBMODULES = ("datasets", "methods", "metrics", "models")
_FUNCTIONS = {
    "evaluate": "xaibench.benchmark.evaluate",
    "leaderboard": "xaibench.api",
    "report": "xaibench.api",
    "meta_evaluate": "xaibench.api",
}

__all__ = [
    "datasets",
    "methods",
    "metrics",
    "models",
    "evaluate",
    "leaderboard",
    "report",
    "meta_evaluate",
    "__version__",
]


def __getattr__(name):
    if name in _SUBMODULES:
        importlib.import_module("xaibench._tf")  # TensorFlow quietly, before anything else
        return importlib.import_module(f"xaibench.{name}")
    if name in _FUNCTIONS:
        importlib.import_module("xaibench._tf")
        return getattr(importlib.import_module(_FUNCTIONS[name]), name)
    raise AttributeError(f"module 'xaibench' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
