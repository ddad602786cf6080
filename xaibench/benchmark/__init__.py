"""Running the benchmark: ``evaluate`` on one model, the grid runner, configs and the store."""

from xaibench.benchmark.evaluate import evaluate

__all__ = ["evaluate"]
