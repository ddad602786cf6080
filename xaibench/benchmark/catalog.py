"""What ``xaibench list`` shows: the registered components, datasets and models, with the
suites that use them."""

from __future__ import annotations

from xaibench import datasets, methods, metrics, models
from xaibench.benchmark.config import SUITES
from xaibench.models.training import cached_models

Table = tuple[list[str], list[list[str]]]


def _suites_with(predicate) -> str:
    return ",".join(name for name, cfg in SUITES.items() if predicate(cfg)) or "-"


def _uses_method(name):
    return lambda cfg: name in cfg.methods


def method_table() -> Table:
    header = ["name", "inputs", "needs", "seeded", "suites", "description"]
    rows = []
    for name in methods.names():
        c = methods.cls(name)
        needs = [w for w, f in (("gradients", c.needs_gradients), ("conv", c.needs_conv)) if f]
        rows.append(
            [
                name,
                "/".join(c.inputs),
                ",".join(needs) or "-",
                "yes" if c.stochastic else "-",
                _suites_with(_uses_method(name)),
                c.description,
            ]
        )
    for name, hint in methods.missing().items():
        rows.append([name, "", "", "", "", f"(not installed) {hint}"])
    return header, sorted(rows)


def metric_table() -> Table:
    header = ["name", "category", "better", "needs", "suites", "description"]
    rows = []
    for name in metrics.names():
        c = metrics.cls(name)
        needs = [w for w, f in (("explain", c.needs_explain), ("masks", c.needs_masks)) if f]
        if not c.needs_model:
            needs.append("no model")
        rows.append(
            [
                name,
                c.category,
                "higher" if c.higher_is_better else "lower",
                ",".join(needs) or "-",
                _suites_with(lambda cfg, n=name: n in cfg.metrics),
                c.description,
            ]
        )
    return header, rows


def dataset_table() -> Table:
    header = ["name", "kind", "train", "test", "input", "classes", "masks", "suites", "description"]
    rows = []
    for name in datasets.names():
        d = datasets.load(name)
        rows.append(
            [
                name,
                d.kind,
                str(len(d.x_train)),
                str(len(d.x_test)),
                "x".join(map(str, d.input_shape)),
                str(d.n_classes),
                "yes" if d.masks is not None else "-",
                _suites_with(lambda cfg, n=name: n in cfg.datasets),
                datasets.describe(name),
            ]
        )
    return header, rows


def model_table() -> Table:
    accuracy: dict[str, list[str]] = {}
    for meta in cached_models():
        if meta.get("seed", 0) == 0:
            accuracy.setdefault(meta["model"], []).append(
                f"{meta['dataset']} {meta['accuracy']:.3f}"
            )
    header = ["name", "data", "test accuracy (trained so far)", "suites", "description"]
    rows = [
        [
            name,
            "/".join(models.cls(name).kinds),
            ", ".join(sorted(accuracy.get(name, []))) or "not trained yet",
            _suites_with(lambda cfg, n=name: any(n in cfg.models_for(d) for d in cfg.datasets)),
            models.describe(name),
        ]
        for name in models.names()
    ]
    return header, rows


TABLES = {
    "methods": method_table,
    "metrics": metric_table,
    "datasets": dataset_table,
    "models": model_table,
}
