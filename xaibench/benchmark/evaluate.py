"""``xb.evaluate``: score methods with metrics on one model and one batch of data."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd

from xaibench._checks import as_inputs, as_targets
from xaibench.benchmark import components


def evaluate(
    model,
    x,
    y,
    methods,
    metrics,
    *,
    seed: int = 0,
    masks=None,
    params: dict | None = None,
) -> pd.DataFrame:
    """Score every method with every metric on ``(x, y)``.

    Parameters
    ----------
    model : a Keras model mapping a batch to class scores.
    x, y : inputs (N, H, W, C) or (N, F) and integer targets (N,).
    methods, metrics : names, instances or ``(name, params)`` pairs.
    seed : seed for every stochastic component not given one explicitly.
    masks : ground-truth relevant features for localisation metrics (optional).
    params : ``{name: {setting: value}}`` overriding defaults by name.

    Returns
    -------
    A long DataFrame, one row per (method, metric, sample): ``method, metric, category,
    higher_is_better, sample, score, method_params, metric_params`` (params as JSON). Metrics that
    do not apply (localisation without masks) are skipped, and so are methods that do not apply
    to the model or input (with a warning).

    Example
    -------
    >>> df = xb.evaluate(model, x, y, ["saliency", "random"], ["deletion"])  # doctest: +SKIP
    """
    x = as_inputs(x)
    y = as_targets(y, len(x))
    method_list = components.methods(methods, seed, params)
    metric_list = [
        q
        for q in components.metrics(metrics, seed, params)
        if not components.not_applicable(q, masks)
    ]
    frames = []
    for method in method_list:
        reason = method.applicable(model, x)
        if reason is not None:
            warnings.warn(f"skipping method {method.name!r}: {reason}", stacklevel=2)
            continue
        a = method(model, x, y)
        for metric in metric_list:
            scores, _ = components.score_cell(metric, model, x, y, a, method, masks)
            frames.append(
                pd.DataFrame(
                    {
                        "method": method.name,
                        "metric": metric.name,
                        "category": metric.category,
                        "higher_is_better": metric.higher_is_better,
                        "sample": np.arange(len(x)),
                        "score": scores,
                        "method_params": json.dumps(method.params, sort_keys=True, default=str),
                        "metric_params": json.dumps(metric.params, sort_keys=True, default=str),
                    }
                )
            )
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
