"""The meta-evaluation's scores on one model and one batch of data (``xb.meta_evaluate`` turns
them into MC with ``xaibench.results.meta``), computed as a run computes its meta cells
(``executors.compute_method`` with ``meta.MetaTask``)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from xaibench._checks import as_inputs, as_targets
from xaibench.benchmark import components, meta
from xaibench.benchmark.executors import Work, compute_method
from xaibench.models.outputs import check_targets


def meta_scores(
    model,
    x,
    y,
    methods,
    metrics,
    *,
    seed: int = 0,
    masks=None,
    params: dict | None = None,
    **settings,
) -> pd.DataFrame:
    """The scores of the meta-evaluation of ``metrics`` with ``methods`` on ``(x, y)``: one row
    per (method, metric, variant, sample), ``variant`` "meta:reference" or
    "meta:<test>:<nr|ar>:<l>:<k>" (``xaibench.benchmark.meta``), columns ``method, metric,
    category, higher_is_better, control, variant, sample, score`` (NaN where the test does not
    keep the sample).

    ``settings``: those of a config's ``[meta]`` table (``meta.MetaSettings``: iterations,
    perturbations, samples, tests, sigma_nr, sigma_ar, eps_nr, eps_ar); ``seed`` seeds the
    perturbations, the subset of samples and every stochastic component not given its own.
    Metrics of category cost are left out. A method or metric that does not apply is skipped
    with a warning; one that fails is left out with a warning (``df.attrs["failed"]``: "method"
    or "method/metric" -> the first line of the error). Bad inputs or settings raise ValueError
    before anything is computed.
    """
    x = as_inputs(x)
    y = as_targets(y, len(x))
    check_targets(model, x, y)
    config = meta.MetaSettings.from_config(settings, "meta_evaluate")
    method_list = components.methods(methods, seed, params)
    metric_list = [
        q
        for q in components.metrics(metrics, seed, params)
        if meta.evaluated(q) and not components.not_applicable(q, masks)
    ]
    plan = meta.perturbations(config, seed, len(x))
    items = [(p, q) for p in plan for q in metric_list]
    frames, failed = [], {}
    for method in method_list:
        work = Work(method, [], x, y, masks, meta=items, samples=np.arange(len(x)))
        out = compute_method(model, work)
        for (p, q), (status, fields) in zip(items, out.outcomes, strict=True):
            if status == "ok":
                frames.append(_frame(method, q, p.variant, fields))
            elif status == "error":
                failed.setdefault(f"{method.name}/{q.name}", fields["error"].splitlines()[0])
            else:
                failed.setdefault(f"{method.name}/{q.name} (not applicable)", fields["error"])
    for key, error in failed.items():
        warnings.warn(f"{key} is left out: {error}", stacklevel=2)
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    df.attrs["failed"] = {k: v for k, v in failed.items() if "(not applicable)" not in k}
    return df


def _frame(method, metric, variant: str, fields: dict) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "method": method.name,
            "metric": metric.name,
            "category": metric.category,
            "higher_is_better": metric.higher_is_better,
            "control": method.control,
            "variant": variant,
            "sample": fields["samples"],
            "score": np.asarray(fields["scores"], dtype=float),
        }
    )
