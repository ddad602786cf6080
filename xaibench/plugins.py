"""Plugins: modules whose import registers methods, metrics, datasets or models
(``@xb.methods.register``, ``@xb.metrics.register``, ``xb.datasets.register``,
``xb.models.register``), so that the command line can use them by name like the built-ins.

The command line imports them before ``xaibench run``, ``report`` and ``list`` do anything else,
from three places: the entry points of installed packages in the group ``xaibench.plugins``
(``GROUP``), the ``imports`` list of a run config, and ``--import MODULE``. As with
``python -m``, the current directory is importable, so ``--import mine`` finds ``./mine.py``.

An entry point names a module (``my_plugin = "my_package.xaibench_plugin"`` in the
``[project.entry-points."xaibench.plugins"]`` table of ``pyproject.toml``); an attribute after a
colon is ignored: importing the module is what registers its components.

Finding the entry points imports nothing of xaibench's, so ``xaibench list`` without plugins does
not import TensorFlow; with a plugin, TensorFlow is imported (quietly) first.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

GROUP = "xaibench.plugins"


class PluginError(ValueError):
    """A plugin module that cannot be imported: one line naming it, where it was named, and the
    error (the command line exits 2)."""


@dataclass(frozen=True)
class Plugin:
    """A module to import, and where it was named (for error messages)."""

    module: str
    origin: str


def discover() -> list[Plugin]:
    """The modules named by installed packages' entry points in ``GROUP``, sorted by entry
    point name (the order of installation is no order)."""
    from importlib.metadata import entry_points

    found = []
    for ep in sorted(entry_points(group=GROUP), key=lambda ep: (ep.name, ep.value)):
        dist = getattr(ep, "dist", None)
        package = f" of the installed package {dist.name!r}" if dist is not None else ""
        found.append(Plugin(ep.module, f"entry point {ep.name!r}{package}"))
    return found


def requested(modules: Iterable[str], origin: str) -> list[Plugin]:
    """``modules`` as plugins named by ``origin`` (``"--import"``, ``"imports of run.toml"``)."""
    return [Plugin(m, origin) for m in modules]


def load(plugins: Iterable[Plugin]) -> list[str]:
    """Import every plugin's module once, in order, and return the modules imported.

    Raises PluginError at the first one that cannot be imported (any exception its import
    raises, or ``sys.exit``: a missing module, a syntax error, a name registered twice) or that
    is a standard library module."""
    modules = list(dict.fromkeys(p.module for p in plugins))
    origins = {}
    for p in plugins:
        origins.setdefault(p.module, p.origin)
    for module in modules:
        import_plugin(module, origins[module])
    return modules


def import_plugin(module: str, origin: str) -> None:
    """Import ``module`` (named by ``origin``) with the current directory importable, TensorFlow
    imported quietly before it; PluginError if that fails (an exception or ``sys.exit`` at
    import) or if it is a module of Python's standard library. A note on stderr says where a
    module that hides an installed one of its name was imported from (``./lime.py``), and
    names a module that registered nothing."""
    import xaibench._tf  # noqa: F401 - a plugin that imports TensorFlow itself stays quiet

    top = module.split(".")[0]
    if top in sys.stdlib_module_names:
        raise PluginError(
            f"plugin module {module!r} ({origin}) is Python's standard library module {top!r}, "
            "not a plugin: give your module another name"
        )
    before = _registered()  # xaibench's own components first, with the modules they import
    _current_directory_importable()
    _note_hidden()
    fresh = module not in sys.modules
    try:
        importlib.import_module(module)
    except (Exception, SystemExit) as err:  # noqa: BLE001 - whatever it raises, in one line
        raise PluginError(
            f"cannot import plugin module {module!r} ({origin}): {_why(err)}"
        ) from err
    named = f"plugin module {module!r} ({origin})"
    local, imported = _local_spec(top), sys.modules[top]
    if local is not None and _file(local.origin) != _file(getattr(imported, "__file__", None)):
        _note(
            f"{named}: imported the installed {top!r} ({_where(imported)}), which was imported "
            f"before, not {_where(local)} in the current directory; rename your file to import it"
        )
    if fresh and _registered() == before:
        where = _where(sys.modules[module])
        _note(f"{named}, imported from {where}, registered no method, metric, dataset or model")


def _why(err: BaseException) -> str:
    """What went wrong importing a plugin, in one line."""
    if isinstance(err, SystemExit):
        return f"it called sys.exit({err.code!r}) while being imported"
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0]}" if text else type(err).__name__


def _note(text: str) -> None:
    print(f"xaibench: note: {text}", file=sys.stderr)


def _registered() -> set[tuple[str, str, type]]:
    """Every registered component as (kind, name, class)."""
    from xaibench import methods, metrics
    from xaibench.datasets.base import registry as datasets
    from xaibench.models.zoo import registry as models

    registries = (methods._registry, metrics._registry, datasets, models)
    return {(r.kind, name, r.cls(name)) for r in registries for name in r.names()}


# Modules of the current directory already said to hide an installed module of their name.
_HIDING: set[str] = set()


def _note_hidden() -> None:
    """A note (once each) for every module or package in the current directory that hides an
    installed one of its name not imported yet: what imports that name in this command gets the
    current directory's (``./shap.py`` for xaibench's shap adapters)."""
    from importlib.machinery import PathFinder

    cwd = Path.cwd().resolve()
    files = [p.stem for p in cwd.glob("*.py")]
    packages = [p.name for p in cwd.iterdir() if (p / "__init__.py").is_file()]
    elsewhere = [p for p in sys.path if p and Path(p).resolve() != cwd]
    for name in sorted(set(files + packages) - set(sys.modules) - _HIDING):
        if not name.isidentifier():
            continue
        installed = PathFinder.find_spec(name, elsewhere)
        if installed is not None:
            _HIDING.add(name)
            _note(
                f"{_where(_local_spec(name))} in the current directory hides the installed "
                f"{name!r} ({installed.origin}): plugins are imported with the current directory "
                f"first on the import path, so what imports {name!r} in this command gets yours; "
                "rename your file to use the installed one"
            )


def _local_spec(top: str):
    """The module spec of ``top`` in the current directory, or None."""
    from importlib.machinery import PathFinder

    return PathFinder.find_spec(top, [str(Path.cwd().resolve())])


def _file(name: str | None) -> Path | None:
    return Path(name).resolve() if name else None


def _where(found) -> str:
    """The file a module (or module spec) was imported from, as ``./name.py`` when it is in the
    current directory."""
    file = getattr(found, "__file__", None) or getattr(found, "origin", None)
    if not file or not Path(file).exists():
        return "no file (a namespace or built-in module)"
    path, cwd = Path(file).resolve(), Path.cwd().resolve()
    return f"./{path.relative_to(cwd)}" if path.is_relative_to(cwd) else str(path)


def _current_directory_importable() -> None:
    """Put the current directory first on the import path, as ``python -m`` does (the
    ``xaibench`` console script starts with its own folder there instead)."""
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)
