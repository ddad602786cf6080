"""Name -> component registries: one kind for methods, metrics, datasets and models.

A component is a class whose settings are keyword-only constructor arguments stored under the same
attribute names, so ``params`` (and hence every stored result) can reproduce it. Plain functions can
be registered too; their keyword arguments after the data arguments become the settings.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable
from typing import Any


class Component:
    """Base of methods, metrics, dataset sources and model architectures: settings in the
    constructor, data in the call."""

    name: str = ""
    description: str = ""

    @classmethod
    def param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [
            p.name
            for p in sig.parameters.values()
            if p.name != "self" and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]

    @property
    def params(self) -> dict[str, Any]:
        """The settings of this instance, as passed to ``get(name, **params)``."""
        return {p: getattr(self, p) for p in self.param_names()}

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, **self.params}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{type(self).__name__}({args})"


def _describe(obj: Any) -> str:
    doc = inspect.getdoc(obj) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


class Registry:
    """Holds the components of one kind (``"method"``, ``"metric"``, ``"dataset"``, ``"model"``)
    by name; ``from_config(component.get_config())`` makes the same component again.

    >>> from xaibench import methods
    >>> m = methods.get("integrated_gradients", steps=16)
    >>> methods.from_config(m.get_config()).params == m.params
    True
    """

    def __init__(self, kind: str, base: type[Component], wrap: Callable[..., type[Component]]):
        self.kind = kind
        self._base = base
        self._wrap = wrap
        self._items: dict[str, type[Component]] = {}
        self._missing: dict[str, str] = {}

    def register(self, name: str, *, replace: bool = False, **metadata: Any):
        """Decorator registering a component class or function under ``name``.

        ``metadata`` sets class attributes (e.g. ``higher_is_better=True, category="complexity"``
        for a metric function).
        """
        if not isinstance(name, str) or not name:
            raise TypeError(f"{self.kind} name must be a non-empty string, got {name!r}")

        def decorator(obj):
            if name in self._items and not replace:
                raise ValueError(
                    f"{self.kind} {name!r} is already registered; pass replace=True to override it"
                )
            if inspect.isclass(obj) and issubclass(obj, self._base):
                cls = obj
            elif callable(obj) and not inspect.isclass(obj):
                cls = self._wrap(obj)
            else:
                raise TypeError(
                    f"can only register a {self._base.__name__} subclass or a function as a "
                    f"{self.kind}, got {obj!r}"
                )
            cls.name = name
            cls.description = metadata.pop("description", None) or _describe(obj)
            for key, value in metadata.items():
                setattr(cls, key, value)
            self._items[name] = cls
            return obj

        return decorator

    def names(self) -> list[str]:
        """Sorted names of the registered components."""
        return sorted(self._items)

    def register_missing(self, name: str, hint: str) -> None:
        """Record that ``name`` exists but cannot be used here (e.g. an optional package is not
        installed); ``hint`` says how to get it (shown by ``get`` and ``xaibench list``)."""
        if name not in self._items:
            self._missing[name] = hint

    def missing(self) -> dict[str, str]:
        """Components that are known but unavailable here, with how to get them."""
        return dict(sorted(self._missing.items()))

    def cls(self, name: str) -> type[Component]:
        """The class registered under ``name``; ValueError naming close matches if unknown."""
        if name in self._missing:
            raise ValueError(f"{self.kind} {name!r} is not available here: {self._missing[name]}")
        if name not in self._items:
            close = difflib.get_close_matches(str(name), self._items, n=3)
            hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
            raise ValueError(
                f"unknown {self.kind} {name!r}.{hint} Valid {self.kind}s: {', '.join(self.names())}"
            )
        return self._items[name]

    def get(self, name: str | Component, **params: Any) -> Component:
        """An instance of ``name`` with ``params`` overriding its defaults.

        Unknown names or parameters raise ValueError naming them and the valid choices.
        """
        if isinstance(name, self._base):
            if params:
                return self.get(name.name, **{**name.params, **params})
            return name
        cls = self.cls(name)
        valid = cls.param_names()
        unknown = sorted(set(params) - set(valid))
        if unknown:
            raise ValueError(
                f"unknown parameter{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))} "
                f"for {self.kind} {name!r}; valid parameters: {', '.join(valid) or '(none)'}"
            )
        try:
            return cls(**params)
        except (ValueError, TypeError) as err:
            if str(err).startswith(f"{self.kind} {name!r}"):
                raise
            error = TypeError if isinstance(err, TypeError) else ValueError
            raise error(f"{self.kind} {name!r}: {err}") from err

    def from_config(self, config: dict[str, Any]) -> Component:
        """The component a ``get_config()`` dict describes: ``{"name": ..., **settings}``."""
        if not isinstance(config, dict) or not isinstance(config.get("name"), str):
            raise ValueError(f"a {self.kind} config is a dict with a 'name', got {config!r}")
        settings = {k: v for k, v in config.items() if k != "name"}
        return self.get(config["name"], **settings)

    def __contains__(self, name: object) -> bool:
        return name in self._items


def import_submodules(package: str, path) -> None:
    """Import every public module of a package (and of its subpackages), so that the components
    defined there register themselves. Modules whose name starts with "_" and ``base`` are skipped.
    """
    import importlib
    import pkgutil

    for info in pkgutil.walk_packages(path, prefix=package + "."):
        leaf = info.name.rsplit(".", 1)[1]
        if not leaf.startswith("_") and leaf != "base":
            importlib.import_module(info.name)


def function_params(
    fn: Callable, n_data: int, exclude: tuple[str, ...] = ()
) -> list[inspect.Parameter]:
    """Keyword parameters of ``fn`` after its first ``n_data`` data arguments (all need defaults)."""
    params = [
        p for p in list(inspect.signature(fn).parameters.values())[n_data:] if p.name not in exclude
    ]
    for p in params:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if p.default is p.empty:
            raise TypeError(
                f"{fn.__name__}: parameter {p.name!r} needs a default to be a setting "
                f"(the first {n_data} arguments are the data)"
            )
    return [p for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def make_function_class(
    fn: Callable, base: type, n_data: int, call_name: str, exclude: tuple[str, ...] = ()
) -> type:
    """A ``base`` subclass whose settings are ``fn``'s keyword arguments and whose
    ``call_name`` method calls ``fn`` with them (``exclude`` names are passed per call)."""
    params = function_params(fn, n_data, exclude)
    names = [p.name for p in params]

    def __init__(self, **kwargs):
        unknown = set(kwargs) - set(names)
        if unknown:
            raise ValueError(f"unknown parameters {sorted(unknown)} for {fn.__name__}")
        for p in params:
            setattr(self, p.name, kwargs.get(p.name, p.default))

    __init__.__signature__ = inspect.Signature(
        [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
        + [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in params]
    )

    def call(self, *args, **per_call):
        return fn(*args, **per_call, **self.params)

    attrs = {
        "__init__": __init__,
        call_name: call,
        "__doc__": fn.__doc__,
        "__module__": fn.__module__ or "__main__",
        "__qualname__": fn.__qualname__,
        "_registered_function": staticmethod(fn),  # its code is fingerprinted
    }
    return type(fn.__name__, (base,), attrs)
