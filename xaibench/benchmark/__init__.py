"""Running the benchmark: ``evaluate`` on one model (``xaibench.benchmark.evaluate``), the grid
runner, configs and the store.

Nothing is imported here, so that the store (and ``xaibench report``, which reads only the store)
does not import TensorFlow; ``xb.evaluate`` is the public entry point.
"""
