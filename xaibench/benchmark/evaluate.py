"""``xb.evaluate``: score methods with metrics on one model and one batch of data."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd

from xaibench._checks import NotApplicable, as_inputs, as_targets, read_only
from xaibench.benchmark import components
from xaibench.models.outputs import check_targets


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
    to the model or input (with a warning). A method or metric that raises is left out with a
    warning and the others are still scored; ``df.attrs["failed"]`` maps ``"method/metric"``
    (``"method"`` alone when the method itself failed) to the error. Bad inputs (shapes, targets
    the model does not score) raise ValueError before anything is computed.

    Example
    -------
    >>> df = xb.evaluate(model, x, y, ["saliency", "random"], ["deletion"])
    """
    x = as_inputs(x)  # the caller's array, if float32: components get copies (own_copies)
    y = as_targets(y, len(x))
    x, y, masks = read_only(x), read_only(y), read_only(masks)
    if model is not None and len(x):
        check_targets(model, x, y)
    method_list = components.methods(methods, seed, params)
    metric_list = [
        q
        for q in components.metrics(metrics, seed, params)
        if not components.not_applicable(q, masks)
    ]
    frames, failed = [], {}

    def fail(key: str, err: Exception) -> None:
        failed[key] = f"{type(err).__name__}: {err}"
        warnings.warn(f"{key} failed and is left out: {failed[key]}", stacklevel=3)

    for method in method_list:
        reason = method.applicable(model, x)
        if reason is not None:
            warnings.warn(f"skipping method {method.name!r}: {reason}", stacklevel=2)
            continue
        try:
            a = method(model, x, y)
        except NotApplicable as err:
            warnings.warn(f"skipping method {method.name!r}: {err}", stacklevel=2)
            continue
        except Exception as err:  # noqa: BLE001 - one method's failure loses nothing else
            fail(method.name, err)
            continue
        for metric in metric_list:
            try:
                scores, _ = components.score_cell(
                    metric, model, x, y, a, method=method, masks=masks
                )
            except NotApplicable as err:
                warnings.warn(f"skipping {method.name}/{metric.name}: {err}", stacklevel=2)
                continue
            except Exception as err:  # noqa: BLE001 - as above, for one cell
                fail(f"{method.name}/{metric.name}", err)
                continue
            frames.append(
                pd.DataFrame(
                    {
                        "method": method.name,
                        "metric": metric.name,
                        "category": metric.category,
                        "higher_is_better": metric.higher_is_better,
                        "tradeoff": metric.tradeoff,
                        "control": method.control,
                        "sample": np.arange(len(x)),
                        "score": scores,
                        "method_params": json.dumps(method.params, sort_keys=True, default=str),
                        "metric_params": json.dumps(metric.params, sort_keys=True, default=str),
                    }
                )
            )
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    df.attrs["failed"] = failed
    return df
