"""Turning user specifications into method and metric instances, and scoring one cell."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from xaibench import methods as _methods
from xaibench import metrics as _metrics
from xaibench._registry import Component, Registry
from xaibench.methods.base import Method, NotApplicable
from xaibench.metrics.base import Metric


def build(registry: Registry, spec: Any, seed: int | None = None, params: dict | None = None):
    """An instance from a name, an instance, or a ``(name, params)`` pair.

    ``params`` (e.g. from a config's ``[params.NAME]``) override defaults; ``seed``, when given, is
    used for components that take a seed and were not given one explicitly.
    """
    if isinstance(spec, Component):
        return spec
    if isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[1], dict):
        name, given = spec[0], dict(spec[1])
    elif isinstance(spec, str):
        name, given = spec, {}
    else:
        raise TypeError(
            f"a {registry.kind} must be a name, an instance or a (name, params) pair, got {spec!r}"
        )
    given = {**(params or {}), **given}
    if seed is not None and "seed" not in given and "seed" in registry.cls(name).param_names():
        given["seed"] = seed
    return registry.get(name, **given)


def build_all(registry: Registry, specs: Iterable, seed=None, params=None) -> list:
    specs = [specs] if isinstance(specs, (str, Component)) else list(specs)
    out = [
        build(registry, s, seed, (params or {}).get(s) if isinstance(s, str) else None)
        for s in specs
    ]
    names = [c.name for c in out]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"{registry.kind}s listed twice: {', '.join(dupes)}")
    return out


def methods(specs, seed=None, params=None) -> list[Method]:
    return build_all(_methods._registry, specs, seed, params)


def metrics(specs, seed=None, params=None) -> list[Metric]:
    return build_all(_metrics._registry, specs, seed, params)


def not_applicable(metric: Metric, masks, parts=None) -> str | None:
    """Why ``metric`` does not apply here, or None (``masks``, ``parts``: None where the data
    has none; only whether they are None is read)."""
    if metric.needs_masks and masks is None:
        return "the dataset has no ground-truth masks"
    if metric.needs_parts and parts is None:
        return "the dataset cannot render its samples without a part (shapes and scenes can)"
    return None


def score_cell(metric: Metric, model, x, y, a, *, method: Method, masks=None, parts=None):
    """Per-sample scores (N,) of ``metric`` for ``method``'s attributions ``a``, and the curves
    (N, steps + 1) for curve metrics (else None). ``parts``: the samples' ``Parts`` where the
    dataset has them (``Dataset.interventions``), for metrics that declare ``needs_parts``."""
    reason = not_applicable(metric, masks, parts)
    if reason:
        raise NotApplicable(reason)
    return metric.scores_and_curves(
        model,
        x,
        y,
        a,
        explain=method if metric.needs_explain else None,
        masks=masks if metric.needs_masks else None,
        parts=parts if metric.needs_parts else None,
    )
