"""Tiny run configs on digits for the runner's and the executors' end-to-end tests."""

from __future__ import annotations


def write_config(path, methods, metrics, models=("linear",), samples=6, extra=""):
    """A TOML config at ``path``: digits, seed 0, the given grid and ``extra`` TOML lines."""
    path.write_text(
        f'samples = {samples}\nseed = 0\ndatasets = ["digits"]\nmodels = {list(models)!r}\n'
        f"methods = {list(methods)!r}\nmetrics = {list(metrics)!r}\n{extra}".replace("'", '"')
    )
    return path
