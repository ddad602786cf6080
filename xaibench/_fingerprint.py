"""Fingerprints of user-supplied code: a changed method or metric never gets its old cells back.

A cell is stored under the hash of its settings. xaibench's own components are covered by its
version; a component you register yourself is covered by ``code_fingerprint``: a hash of the
bytecode of the function (or of every function of the class and its own base classes), its
constants, defaults and the values its closure holds, and, followed recursively, of the
functions, classes and immutable values (numbers, strings, tuples, arrays) it reads from its
module or from other modules of yours. Code of installed packages (NumPy, TensorFlow, ...) and of
the standard library is named, not hashed: a change inside a library the component calls is not
detected (upgrade, then delete the run directory or use a new ``--out``). Neither is what it
reads at call time from files, environment variables, other objects, or the contents of dicts,
lists and sets (hashed by type only: they are often state, such as a cache or a counter).

>>> def mine(model, x, y):
...     return abs(x)
>>> len(code_fingerprint(mine))
16
"""

from __future__ import annotations

import hashlib
import sys
import types
from typing import Any

import numpy as np

# Arrays up to this many bytes are hashed by value (a weight vector a metric closes over); larger
# ones by shape and dtype only.
ARRAY_BYTES = 1 << 20


def is_user_module(name: str | None) -> bool:
    """Whether the module ``name`` is the user's code: not xaibench, not the standard library,
    not an installed package."""
    if not name:
        return True
    root = name.split(".")[0]
    if root == "xaibench" or root in sys.stdlib_module_names or root == "builtins":
        return False
    module = sys.modules.get(name)
    path = getattr(module, "__file__", None) or ""
    return not any(part in path for part in ("site-packages", "dist-packages"))


def code_fingerprint(obj: Any) -> str:
    """A 16-hex-digit hash of the code of ``obj`` (a function or a class), as described above."""
    digest = hashlib.sha256()
    _Walker(digest).visit(obj)
    return digest.hexdigest()[:16]


def component_fingerprint(cls: type) -> str | None:
    """``code_fingerprint`` of a registered component class (of the function it wraps, for a
    registered function), or None for xaibench's own components."""
    wrapped = vars(cls).get("_registered_function")
    target = cls if wrapped is None else wrapped.__func__
    if not is_user_module(getattr(target, "__module__", None)):
        return None
    return code_fingerprint(target)


class _Walker:
    def __init__(self, digest):
        self.digest = digest
        self.seen: set[int] = set()

    def put(self, *parts: Any) -> None:
        for part in parts:
            self.digest.update(repr(part).encode())
            self.digest.update(b"\x00")

    def visit(self, obj: Any) -> None:
        if isinstance(obj, types.MethodType):
            obj = obj.__func__
        if isinstance(obj, staticmethod | classmethod):
            obj = obj.__func__
        if isinstance(obj, property):
            for f in (obj.fget, obj.fset, obj.fdel):
                self.visit(f)
            return
        if id(obj) in self.seen:
            self.put("seen", getattr(obj, "__qualname__", type(obj).__name__))
            return
        if isinstance(obj, types.FunctionType | type):
            self.seen.add(id(obj))
        if isinstance(obj, types.FunctionType):
            self.function(obj)
        elif isinstance(obj, type):
            self.cls(obj)
        else:
            self.value(obj)

    def function(self, fn: types.FunctionType) -> None:
        if not is_user_module(fn.__module__):
            self.put("library function", fn.__module__, fn.__qualname__)
            return
        self.put("function", fn.__qualname__)
        self.code(fn.__code__, skip_doc=fn.__doc__)
        for value in fn.__defaults__ or ():
            self.value(value)
        for key, value in sorted((fn.__kwdefaults__ or {}).items()):
            self.put(key)
            self.value(value)
        for cell in fn.__closure__ or ():
            try:
                self.value(cell.cell_contents)
            except ValueError:  # an empty cell
                self.put("empty cell")
        for name in _global_names(fn.__code__):
            if name in fn.__globals__:
                self.put("global", name)
                self.value(fn.__globals__[name])

    def cls(self, cls: type) -> None:
        if not is_user_module(cls.__module__):
            self.put("library class", cls.__module__, cls.__qualname__)
            return
        self.put("class", cls.__qualname__)
        for base in cls.__bases__:
            self.visit(base)
        for key, value in sorted(vars(cls).items()):
            if key in ("__dict__", "__weakref__", "__module__", "__doc__", "__qualname__"):
                continue
            self.put("attribute", key)
            self.value(value)

    def code(self, code: types.CodeType, skip_doc: str | None = None) -> None:
        self.put(code.co_code, code.co_names, code.co_varnames, code.co_freevars)
        for i, const in enumerate(code.co_consts):
            if i == 0 and skip_doc is not None and const == skip_doc:
                continue
            if isinstance(const, types.CodeType):
                self.code(const)
            else:
                self.put(const)

    def value(self, value: Any) -> None:
        if value is None or isinstance(value, bool | int | float | complex | str | bytes):
            self.put(value)
        elif isinstance(value, tuple | frozenset):
            self.put(type(value).__name__, len(value))
            for item in sorted(value, key=repr) if isinstance(value, frozenset) else value:
                self.value(item)
        elif isinstance(value, list | dict | set):  # often state (a cache, a counter): by type
            self.put("mutable", type(value).__name__)
        elif isinstance(value, np.ndarray):
            self.put("array", value.shape, value.dtype.str)
            if value.nbytes <= ARRAY_BYTES and value.dtype != object:
                self.digest.update(np.ascontiguousarray(value).tobytes())
        elif isinstance(value, np.generic):
            self.put(value.item())
        elif isinstance(value, types.ModuleType):
            self.put("module", value.__name__)
        elif isinstance(
            value, types.FunctionType | type | types.MethodType | staticmethod | classmethod
        ) or isinstance(value, property):
            self.visit(value)
        elif isinstance(value, types.BuiltinFunctionType):
            self.put("builtin", getattr(value, "__module__", None), value.__qualname__)
        else:
            self.put("object of", type(value).__module__, type(value).__qualname__)


def _global_names(code: types.CodeType) -> list[str]:
    """The names ``code`` and the code objects nested in it may read as globals."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names.update(_global_names(const))
    return sorted(names)
