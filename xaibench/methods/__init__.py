"""Attribution methods: a registry of name -> method.

>>> import xaibench as xb
>>> m = xb.methods.get("integrated_gradients", steps=32)
>>> a = m(model, x, y)
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
from_config = _registry.from_config


def register_optional(available: bool, hint: str, **classes: type[Method]) -> None:
    """Register ``classes`` under their keyword names if their optional package is
    ``available``; otherwise list the names as missing, with ``hint`` saying how to get them."""
    for name, method in classes.items():
        if available:
            register(name)(method)
        else:
            register_missing(name, hint)


# Every module of this package defines and registers methods: import them all.
import_submodules(__name__, __path__)

__all__ = ["Method", "NotApplicable", "register", "get", "names", "cls", "from_config", "missing"]
