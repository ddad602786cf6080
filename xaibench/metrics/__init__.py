"""Evaluation metrics: a registry of name -> metric.

>>> import xaibench as xb
>>> q = xb.metrics.get("deletion", steps=20)
>>> scores = q(model, x, y, a)
"""

from xaibench._categories import TRADEOFF_AXES
from xaibench._registry import Registry, import_submodules
from xaibench.metrics.base import CATEGORIES, CurveMetric, Metric, wrap_function

_registry = Registry("metric", Metric, wrap_function)
get = _registry.get
names = _registry.names
cls = _registry.cls
from_config = _registry.from_config


def register(name: str, *, replace: bool = False, **metadata):
    """Register a metric class or function ``fn(model, x, y, a, **settings) -> (N,) scores``.

    Functions declare their metadata here, e.g.
    ``@register("my_metric", higher_is_better=True, category="complexity", needs_model=False)``.
    """
    category = metadata.get("category")
    if category is not None and category not in CATEGORIES:
        raise ValueError(f"category must be one of {', '.join(CATEGORIES)}, got {category!r}")
    if metadata.get("tradeoff") not in (None, *TRADEOFF_AXES):
        raise ValueError(
            f"tradeoff must be one of {', '.join(TRADEOFF_AXES)} or None, "
            f"got {metadata['tradeoff']!r}"
        )
    inner = _registry.register(name, replace=replace, **metadata)

    def decorator(obj):
        if not isinstance(obj, type) and not {"higher_is_better", "category"} <= set(metadata):
            raise ValueError(
                f"metric function {name!r} must declare higher_is_better= and category= "
                "when registered"
            )
        return inner(obj)

    return decorator


register_missing = _registry.register_missing
missing = _registry.missing

# Every module of the category subpackages defines and registers metrics: import them all.
import_submodules(__name__, __path__)

__all__ = ["Metric", "CurveMetric", "CATEGORIES", "register", "get", "names", "cls", "from_config"]
