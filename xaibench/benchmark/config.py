"""Run configurations: the built-in suites and TOML config files (format in the README)."""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from xaibench import datasets as _datasets
from xaibench import methods as _methods
from xaibench import metrics as _metrics
from xaibench import models as _models
from xaibench.benchmark import components

KEYS = ("samples", "seed", "datasets", "models", "methods", "metrics", "params")


@dataclass(frozen=True)
class RunConfig:
    """What a run computes: the grid datasets x models x methods x metrics.

    ``samples`` test samples per (dataset, model), chosen with ``seed``; ``seed`` also seeds every
    stochastic method and metric that is not given its own in ``params``.
    """

    datasets: tuple[str, ...]
    models: tuple[str, ...]
    methods: tuple[str, ...]
    metrics: tuple[str, ...]
    samples: int = 32
    seed: int = 0
    params: dict = field(default_factory=dict)
    name: str = "custom"

    def to_dict(self) -> dict:
        return asdict(self)

    def with_overrides(self, samples: int | None = None, seed: int | None = None) -> RunConfig:
        return replace(
            self,
            samples=self.samples if samples is None else samples,
            seed=self.seed if seed is None else seed,
        )

    def validate(self) -> RunConfig:
        """Check every name and parameter now, before any work (ValueError naming the problem)."""
        if isinstance(self.samples, bool) or not isinstance(self.samples, int) or self.samples < 1:
            raise ValueError(f"samples must be a positive integer, got {self.samples!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ValueError(f"seed must be an integer, got {self.seed!r}")
        for key in ("datasets", "models", "methods", "metrics"):
            value = getattr(self, key)
            if not value:
                raise ValueError(f"{key} is empty: list at least one")
            if len(set(value)) != len(value):
                raise ValueError(f"{key} lists a name twice: {list(value)}")
        for name in self.datasets:
            _datasets._loader(name)
        for name in self.models:
            if name not in _models.names():
                raise ValueError(
                    f"unknown model {name!r}; valid models: {', '.join(_models.names())}"
                )
        known = set(self.methods) | set(self.metrics)
        for name, p in self.params.items():
            if name not in known:
                raise ValueError(
                    f"[params.{name}] names no method or metric of this run "
                    f"(methods: {', '.join(self.methods)}; metrics: {', '.join(self.metrics)})"
                )
            if not isinstance(p, dict):
                raise ValueError(f"[params.{name}] must be a table of settings, got {p!r}")
        components.methods(list(self.methods), self.seed, self.params)
        components.metrics(list(self.metrics), self.seed, self.params)
        return self


def _suite(name: str, samples: int) -> RunConfig:
    return RunConfig(
        name=name,
        datasets=("digits",),
        models=("linear", "cnn"),
        methods=("saliency", "integrated_gradients", "random"),
        metrics=("deletion", "insertion", "faithfulness_correlation", "sparseness", "runtime"),
        samples=samples,
    )


SUITES = {
    "quick": _suite("quick", 32),
    "default": _suite("default", 128),
    "full": _suite("full", 256),
}


def suite(name: str) -> RunConfig:
    if name not in SUITES:
        raise ValueError(f"unknown suite {name!r}; valid suites: {', '.join(SUITES)}")
    return SUITES[name]


def load_config(path: str | Path) -> RunConfig:
    """Read a TOML run configuration; unknown keys and bad values raise ValueError naming them."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError as err:
        raise ValueError(f"config file {path} does not exist") from err
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"config file {path} is not valid TOML: {err}") from err
    unknown = sorted(set(raw) - set(KEYS))
    if unknown:
        raise ValueError(
            f"config {path}: unknown key{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(map(repr, unknown))}; valid keys: {', '.join(KEYS)}"
        )
    base = _suite(path.stem, 32)
    values = {}
    for key in ("datasets", "models", "methods", "metrics"):
        if key in raw:
            v = raw[key]
            if isinstance(v, str):
                v = [v]
            if not isinstance(v, list) or not all(isinstance(s, str) for s in v):
                raise ValueError(f"config {path}: {key} must be a list of names, got {v!r}")
            values[key] = tuple(v)
    for key in ("samples", "seed"):
        if key in raw:
            values[key] = raw[key]
    if "params" in raw:
        values["params"] = raw["params"]
    return replace(base, **values)


def all_names() -> dict[str, list[str]]:
    return {
        "datasets": _datasets.names(),
        "models": _models.names(),
        "methods": _methods.names(),
        "metrics": _metrics.names(),
    }
