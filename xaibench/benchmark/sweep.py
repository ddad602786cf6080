"""Setting sweeps: a metric scored again with other values of its settings, to see whether the
ranking of the methods (and the verdict's recommendation) depends on them.

A config's ``[sweep.<metric>]`` table lists values of the metric's settings::

    [sweep.deletion]
    baseline = [0.0, "mean", "blur", "noisy_linear"]
    steps = [10, 20, 50]

Each setting is varied one at a time around the run's configured value (``baseline = "mean"``
with the other settings as configured, ...), or over the full product of the lists with
``product = true``. A value equal to the configured one is the run's own cell, not a variant.
Each variant is a metric cell of its own (the store's ``variant`` is ``sweep:<label>``, e.g.
``sweep:baseline=mean``), scoring the method's explanation of the task (no re-explanation).
``xaibench run --sweep default`` sweeps the settings each metric of the run declares in its
``sweep`` class attribute (the faithfulness metrics: their documented baselines or noise).
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass

from xaibench import metrics as _metrics

PRODUCT = "product"


@dataclass(frozen=True)
class Variant:
    """One variant of a metric: its store ``variant`` label, the metric with the variant's
    settings, and the settings that differ from the run's (``changed``)."""

    label: str
    metric: object
    changed: dict


def text(value) -> str:
    """A setting's value as a label shows it: strings as they are, the rest as JSON."""
    return value if isinstance(value, str) else json.dumps(value)


def label(changed: dict) -> str:
    """``sweep:baseline=mean,steps=10``."""
    return "sweep:" + ",".join(f"{k}={text(v)}" for k, v in changed.items())


def defaults(names) -> dict[str, dict]:
    """The built-in sweep (``--sweep default``) of the metrics ``names``: each metric's declared
    ``sweep`` (a dict of setting -> values), for those that declare one."""
    out = {}
    for name in names:
        declared = getattr(_metrics.cls(name), "sweep", None) if name in _metrics.names() else None
        if declared:
            out[name] = {k: list(v) for k, v in declared.items()}
    return out


def _settings(name: str, table, metric) -> tuple[dict, bool]:
    """``({setting: [values]}, product)`` of ``[sweep.<name>]``; ValueError naming a bad entry."""
    where = f"[sweep.{name}]"
    if not isinstance(table, dict) or not table:
        raise ValueError(f"{where} must be a table of settings, each with a list of values")
    product = table.get(PRODUCT, False)
    if not isinstance(product, bool):
        raise ValueError(f"{where} product must be true or false, got {product!r}")
    settings = {k: v for k, v in table.items() if k != PRODUCT}
    valid = metric.param_names()
    for key, values in settings.items():
        if key not in valid:
            raise ValueError(
                f"{where}: metric {name!r} has no setting {key!r}; its settings: {', '.join(valid)}"
            )
        if not isinstance(values, list) or not values:
            raise ValueError(f"{where} {key} must be a non-empty list of values, got {values!r}")
    if not settings:
        raise ValueError(f"{where} lists no setting to vary")
    return settings, product


def variants(metric, table: dict) -> list[Variant]:
    """The variants of ``metric`` (the run's instance, with its configured settings) that
    ``table`` (a ``[sweep.<metric>]`` table) asks for, in the table's order, each once and none
    equal to ``metric`` itself. ValueError (one line, naming the setting and value) for a
    setting the metric does not take or a value it refuses."""
    settings, product = _settings(metric.name, table, metric)
    if product:
        keys = list(settings)
        changes = [
            dict(zip(keys, values, strict=True)) for values in itertools.product(*settings.values())
        ]
    else:
        changes = [{k: v} for k, values in settings.items() for v in values]
    out, seen = [], {json.dumps(metric.get_config(), sort_keys=True, default=str)}
    for changed in changes:
        try:
            variant = _metrics.get(metric, **changed)
        except (ValueError, TypeError) as err:
            shown = ", ".join(f"{k} = {v!r}" for k, v in changed.items())
            raise ValueError(f"[sweep.{metric.name}] {shown}: {err}") from None
        config = json.dumps(variant.get_config(), sort_keys=True, default=str)
        if config in seen:
            continue
        seen.add(config)
        diff = {k: v for k, v in changed.items() if variant.params[k] != metric.params[k]}
        out.append(Variant(label(diff), variant, diff))
    return out


def build(metrics: list, sweeps: dict) -> dict[str, list[Variant]]:
    """``{metric name: [Variant]}`` of the run's ``metrics`` (instances) for the ``sweeps`` of
    its config; ValueError for a sweep of a metric not in the run, or a bad table."""
    by_name = {m.name: m for m in metrics}
    if not isinstance(sweeps, dict):
        raise ValueError(f"[sweep] must hold one table per metric, got {sweeps!r}")
    for name in sweeps:
        if name not in by_name:
            raise ValueError(
                f"[sweep.{name}] names no metric of this run; its metrics: {', '.join(by_name)}"
            )
    return {name: variants(by_name[name], table) for name, table in sweeps.items()}
