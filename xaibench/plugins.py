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
    raises: a missing module, a syntax error, a name registered twice)."""
    modules = list(dict.fromkeys(p.module for p in plugins))
    origins = {}
    for p in plugins:
        origins.setdefault(p.module, p.origin)
    for module in modules:
        import_plugin(module, origins[module])
    return modules


def import_plugin(module: str, origin: str) -> None:
    """Import ``module`` (named by ``origin``) with the current directory importable, TensorFlow
    imported quietly before it; PluginError if that fails."""
    import xaibench._tf  # noqa: F401 - a plugin that imports TensorFlow itself stays quiet

    _current_directory_importable()
    try:
        importlib.import_module(module)
    except Exception as err:  # noqa: BLE001 - whatever the user's module raises, said in one line
        text = str(err).strip().splitlines()
        detail = f"{type(err).__name__}: {text[0]}" if text else type(err).__name__
        raise PluginError(f"cannot import plugin module {module!r} ({origin}): {detail}") from err


def _current_directory_importable() -> None:
    """Put the current directory first on the import path, as ``python -m`` does (the
    ``xaibench`` console script starts with its own folder there instead)."""
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)
