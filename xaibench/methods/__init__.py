"""Attribution methods: a registry of name -> method.

>>> import xaibench as xb
>>> m = xb.methods.get("integrated_gradients", steps=32)
>>> a = m(model, x, y)  # doctest: +SKIP
"""

from xaibench._registry import Registry
from xaibench.methods.base import Method, NotApplicable, wrap_function

_registry = Registry("method", Method, wrap_function)
register = _registry.register
get = _registry.get
names = _registry.names
cls = _registry.cls

# Built-in methods register themselves on import.
from xaibench.methods import integrated_gradients, random, saliency  # noqa: E402,F401

__all__ = ["Method", "NotApplicable", "register", "get", "names", "cls"]
