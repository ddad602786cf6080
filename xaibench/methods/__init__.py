"""Attribution methods: a registry of name -> method.

>>> import xaibench as xb
>>> m = xb.methods.get("integrated_gradients", steps=32)
>>> a = m(model, x, y)  # doctest: +SKIP
"""

from xaibench._registry import Registry, import_submodules
from xaibench.methods.base import Method, NotApplicable, wrap_function

_registry = Registry("method", Method, wrap_function)
register = _registry.register
register_missing = _registry.register_missing
missing = _registry.missing
get = _registry.get
names = _registry.names
cls = _registry.cls

# Every module of this package defines and registers methods: import them all.
import_submodules(__name__, __path__)

__all__ = ["Method", "NotApplicable", "register", "get", "names", "cls", "missing"]
