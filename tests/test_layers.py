"""Import rules between xaibench's layers, read from the source (every import statement, the ones
inside functions included, so that no lazy import hides a dependency)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import xaibench

PACKAGE = Path(xaibench.__file__).parent

# The modules every component stands on: they import no other xaibench module but each other.
CORE = (
    "xaibench._checks",
    "xaibench._cache",
    "xaibench._registry",
    "xaibench._fingerprint",
    "xaibench._baselines",
    "xaibench._imputation",
    "xaibench._system",
    "xaibench._categories",
    "xaibench._tf",
    "xaibench._version",
    "xaibench._storefile",
    "xaibench._text",
)


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def xaibench_imports(path: Path) -> set[str]:
    """The xaibench modules ``path`` imports anywhere in its code."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("xaibench")}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.startswith("xaibench"):
                found.add(node.module)
    return found


MODULES = {module_name(p): xaibench_imports(p) for p in sorted(PACKAGE.rglob("*.py"))}


@pytest.mark.parametrize(
    "layer, forbidden",
    [
        ("xaibench.metrics", "xaibench.methods"),
        ("xaibench.methods", "xaibench.metrics"),
    ],
)
def test_methods_and_metrics_are_siblings(layer, forbidden):
    """Metrics used to import methods/base.py for validators and NotApplicable."""
    offenders = {
        name: sorted(i for i in imports if i == forbidden or i.startswith(forbidden + "."))
        for name, imports in MODULES.items()
        if name == layer or name.startswith(layer + ".")
    }
    assert not {k: v for k, v in offenders.items() if v}


@pytest.mark.parametrize(
    "layer, forbidden",
    [("xaibench.results", "xaibench.benchmark"), ("xaibench.benchmark", "xaibench.results")],
)
def test_benchmark_and_results_meet_only_in_the_store(layer, forbidden):
    """The store sits below benchmark/ (which writes it) and results/ (which reads it); the CLI
    runs one, then the other (the runner used to import results.outputs lazily)."""
    assert MODULES["xaibench.store"] <= set(CORE)  # it stands on the core only
    offenders = {
        name: sorted(i for i in imports if i.startswith(forbidden))
        for name, imports in MODULES.items()
        if name.startswith(layer)
    }
    assert not {k: v for k, v in offenders.items() if v}


@pytest.mark.parametrize("core", CORE)
def test_the_core_imports_nothing_above_it(core):
    assert MODULES[core] <= set(CORE) - {core}


def test_importing_xaibench_changes_no_process_wide_state():
    """Importing every module leaves ctypes' Python API prototypes, matplotlib's backend and
    pyplot alone (they used to be set at import)."""
    import subprocess
    import sys

    code = """
import ctypes, sys
f = ctypes.pythonapi.PyCapsule_GetName
before = (f.restype, f.argtypes)
import matplotlib
backend = dict.__getitem__(matplotlib.rcParams, "backend")  # unresolved
import xaibench._imputation, xaibench.results.plots, xaibench.results.tradeoffs, xaibench.results.outputs
assert (f.restype, f.argtypes) == before, "ctypes prototypes changed"
assert dict.__getitem__(matplotlib.rcParams, "backend") is backend, "backend changed"
assert "matplotlib.pyplot" not in sys.modules, "pyplot imported"
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.mark.parametrize(
    "forbidden", ["xaibench.metrics", "xaibench.methods", "xaibench.datasets", "xaibench.models"]
)
def test_results_read_metadata_from_the_scores_not_from_the_registries(forbidden):
    """What results/ knows of a metric (category, direction, tradeoff axis, curves) travels with
    its scores, so reading a run never imports TensorFlow-heavy components."""
    offenders = {
        name: sorted(i for i in imports if i.startswith(forbidden))
        for name, imports in MODULES.items()
        if name.startswith("xaibench.results")
    }
    assert not {k: v for k, v in offenders.items() if v}


def test_no_function_takes_more_than_six_positional_parameters():
    """Long positional parameter lists are where arguments get swapped; past six, the rest are
    keyword-only (``self`` and ``cls`` not counted)."""
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                positional = node.args.posonlyargs + node.args.args
                names = [a.arg for a in positional if a.arg not in ("self", "cls")]
                if len(names) > 6:
                    offenders.append(f"{path.name}:{node.lineno} {node.name}({len(names)})")
    assert not offenders


# What a framework is: its packages, xaibench's modules that import them quietly, and the
# adapters and Keras inspection in models/ (``models.protocol`` says which).
FRAMEWORKS = ("tensorflow", "keras", "torch")
FRAMEWORK_MODULES = (
    "xaibench._tf",
    "xaibench._torch",
    "xaibench.models._keras",
    "xaibench.models._torch",
    "xaibench.models.inspect",
)


def top_level_imports(path: Path) -> set[str]:
    """The first names of every package ``path`` imports anywhere in its code."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("layer", ["xaibench.methods", "xaibench.metrics"])
def test_methods_and_metrics_import_no_framework(layer):
    """Methods and metrics reach a model only through ``models.protocol`` (numpy in, numpy
    out), so one code path serves Keras and PyTorch: neither they nor the modules of models/
    they import (``models.outputs``, ``models.batching``) import a framework or an adapter;
    ``models.protocol`` picks the adapter (``test_only_the_protocol_picks_an_adapter``)."""
    paths = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    names = [n for n in MODULES if n == layer or n.startswith(layer + ".")]
    names += [
        i
        for n in names
        for i in MODULES[n]
        if i.startswith("xaibench.models.") and i != "xaibench.models.protocol"
    ]
    offenders = {}
    for name in sorted(set(names)):
        bad = sorted(top_level_imports(paths[name]) & set(FRAMEWORKS))
        bad += sorted(MODULES[name] & set(FRAMEWORK_MODULES))
        if bad:
            offenders[name] = bad
    assert not offenders


def test_only_the_protocol_picks_an_adapter():
    """``models.protocol`` imports no framework, and imports an adapter only in
    ``_adapter_class``, when a model of that framework is adapted."""
    tree = ast.parse((PACKAGE / "models" / "protocol.py").read_text())
    assert not top_level_imports(PACKAGE / "models" / "protocol.py") & set(FRAMEWORKS)
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name != "_adapter_class":
            inner = {n.module for n in ast.walk(node) if isinstance(n, ast.ImportFrom) and n.module}
            assert not inner & set(FRAMEWORK_MODULES), node.name
