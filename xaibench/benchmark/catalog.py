"""What ``xaibench list`` shows: the registered methods, metrics, datasets and models, with the
suites that use them and the models trained so far.

xaibench's own components are read from ``xaibench/_catalog.json``, written from the live
registries by ``python -m xaibench.benchmark.catalog --write`` (a test fails when the file
differs from them), so that listing them imports neither the registries nor TensorFlow. The
components of plugins (and of the code that calls ``table`` with the registries imported) are
read from the live registries. The models' "trained so far" column is read from the model cache
at every call, without TensorFlow too.

Importing this module imports nothing of xaibench: the registries are imported by the functions
that read them.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

from xaibench._cache import cached_models

FILE = Path(__file__).resolve().parents[1] / "_catalog.json"
KINDS = ("methods", "metrics", "datasets", "models")
HEADERS = {
    "methods": ["name", "inputs", "needs", "seeded", "suites", "description"],
    "metrics": ["name", "category", "better", "needs", "suites", "description"],
    "datasets": [
        "name",
        "kind",
        "train",
        "test",
        "input",
        "classes",
        "masks",
        "suites",
        "description",
    ],
    "models": ["name", "data", "suites", "description"],
}
# The models table's column read from the model cache, and where it goes.
TRAINED = "test accuracy (trained so far)"
TRAINED_AT = 2
COMMAND = "python -m xaibench.benchmark.catalog --write"

Table = tuple[list[str], list[list[str]]]


# The live registries ---------------------------------------------------------------------------


def _registry(kind: str):
    import xaibench as xb

    return getattr(xb, kind)


def _is_own(kind: str, name: str) -> bool:
    return _registry(kind).cls(name).__module__.startswith("xaibench.")


def own_names(kind: str) -> list[str]:
    """The names of xaibench's own components of ``kind`` registered here."""
    return [n for n in _registry(kind).names() if _is_own(kind, n)]


def plugin_names(kind: str) -> list[str]:
    """The names of ``kind`` registered by other code (plugins, the user's session): components
    whose class is defined outside xaibench, built-in names replaced included."""
    return [n for n in _registry(kind).names() if not _is_own(kind, n)]


def _suites_with(predicate) -> str:
    from xaibench.benchmark.config import SUITES

    return ",".join(name for name, cfg in SUITES.items() if predicate(cfg)) or "-"


def _method_row(name: str) -> list[str]:
    c = _registry("methods").cls(name)
    needs = [w for w, f in (("gradients", c.needs_gradients), ("conv", c.needs_conv)) if f]
    return [
        name,
        "/".join(c.inputs),
        ",".join(needs) or "-",
        "yes" if c.stochastic else "-",
        _suites_with(lambda cfg: name in cfg.methods),
        c.description,
    ]


def _metric_row(name: str) -> list[str]:
    c = _registry("metrics").cls(name)
    flags = (("explain", c.needs_explain), ("masks", c.needs_masks), ("parts", c.needs_parts))
    needs = [w for w, f in flags if f]
    if not c.needs_model:
        needs.append("no model")
    return [
        name,
        c.category,
        "higher" if c.higher_is_better else "lower",
        ",".join(needs) or "-",
        _suites_with(lambda cfg: name in cfg.metrics),
        c.description,
    ]


def _dataset_row(name: str) -> list[str]:
    datasets = _registry("datasets")
    d = datasets.load(name)
    return [
        name,
        d.kind,
        str(len(d.x_train)),
        str(len(d.x_test)),
        "x".join(map(str, d.input_shape)),
        str(d.n_classes),
        "yes" if d.masks is not None else "-",
        _suites_with(lambda cfg: name in cfg.datasets),
        datasets.describe(name),
    ]


def _model_row(name: str) -> list[str]:
    models = _registry("models")
    return [
        name,
        "/".join(models.cls(name).kinds),
        _suites_with(lambda cfg: any(name in cfg.models_for(d) for d in cfg.datasets)),
        models.describe(name),
    ]


ROWS = {"methods": _method_row, "metrics": _metric_row, "datasets": _dataset_row}
ROWS["models"] = _model_row


def _optional_package(name: str) -> dict | None:
    """For a method that wraps an optional package (``xaibench/methods/<package>_adapters.py``):
    the package and how to install it (the module's ``HINT``); else None."""
    module = _registry("methods").cls(name).__module__
    leaf = module.rsplit(".", 1)[-1]
    if not leaf.endswith("_adapters"):
        return None
    return {"package": leaf.removesuffix("_adapters"), "hint": sys.modules[module].HINT}


def live(*, complete: bool = True) -> dict:
    """The catalog of xaibench's own components, from the live registries (what ``--write``
    writes). ``complete``: every optional package must be installed, as the catalog file lists
    their adapters; else the adapters that are not are listed as not installed."""
    from xaibench.models import ZOO_VERSION

    missing = _registry("methods").missing()
    if missing and complete:
        raise ValueError(
            f"the catalog lists every built-in method, but {', '.join(missing)} cannot be "
            "imported here: install the optional packages (pip install -e '.[dev]')"
        )
    optional = {n: _optional_package(n) for n in own_names("methods")}
    rows = {kind: [ROWS[kind](n) for n in own_names(kind)] for kind in KINDS}
    rows["methods"] += [
        [n, "", "", "", "", f"(not installed) {hint}"] for n, hint in missing.items()
    ]
    return {
        "generated_by": COMMAND,
        "zoo_version": ZOO_VERSION,
        "optional": {n: p for n, p in optional.items() if p is not None},
        "rows": rows,
    }


def write(path: Path = FILE) -> Path:
    """Write ``live()`` to ``path`` as JSON (one row per line, for readable diffs)."""
    catalog = live()
    lines = ["{"]
    for key in ("generated_by", "zoo_version", "optional"):
        lines.append(f"  {json.dumps(key)}: {json.dumps(catalog[key], ensure_ascii=False)},")
    lines.append('  "rows": {')
    for i, kind in enumerate(KINDS):
        rows = [f"      {json.dumps(r, ensure_ascii=False)}" for r in catalog["rows"][kind]]
        end = "," if i < len(KINDS) - 1 else ""
        lines += [f"    {json.dumps(kind)}: [", ",\n".join(rows), f"    ]{end}"]
    lines += ["  }", "}", ""]
    text = "\n".join(lines)
    assert json.loads(text) == catalog  # the hand-made layout is the same JSON
    path.write_text(text, encoding="utf-8")
    return path


def read(path: Path = FILE) -> dict:
    """The catalog file; the live registries when it is missing (an installation without it:
    correct, only slower)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return live(complete=False)


# The model cache, read without TensorFlow (xaibench._cache) ---------------------------------------


def _trained(zoo_version: int) -> dict[str, str]:
    """Per architecture, the datasets it was trained on (seed 0) and its test accuracy."""
    accuracy: dict[str, list[str]] = {}
    for meta in cached_models(zoo_version):
        if meta.get("seed", 0) == 0:
            accuracy.setdefault(meta["model"], []).append(
                f"{meta['dataset']} {meta['accuracy']:.3f}"
            )
    return {name: ", ".join(sorted(found)) for name, found in accuracy.items()}


# The tables -------------------------------------------------------------------------------------


def _installed(catalog: dict, rows: dict[str, list[str]]) -> dict[str, list[str]]:
    """``rows`` with the adapters of optional packages that are not installed here marked so
    (found without importing them)."""
    rows = dict(rows)
    for name, optional in catalog["optional"].items():
        if name in rows and importlib.util.find_spec(optional["package"]) is None:
            rows[name] = [name, "", "", "", "", f"(not installed) {optional['hint']}"]
    return rows


def table(kind: str, *, plugins: bool = False) -> Table:
    """The ``xaibench list`` table of ``kind``: xaibench's own components from the catalog file,
    and the components registered by other code from the live registries, when ``plugins`` were
    imported or the registry is imported already (by the code that calls this)."""
    catalog = read()
    rows = {row[0]: row for row in catalog["rows"][kind]}
    if kind == "methods":
        rows = _installed(catalog, rows)
    if plugins or f"xaibench.{kind}" in sys.modules:
        rows |= {name: ROWS[kind](name) for name in plugin_names(kind)}
    header = list(HEADERS[kind])
    if kind == "models":
        trained = _trained(catalog["zoo_version"])
        header.insert(TRAINED_AT, TRAINED)
        for name, row in rows.items():
            rows[name] = [
                *row[:TRAINED_AT],
                trained.get(name, "not trained yet"),
                *row[TRAINED_AT:],
            ]
    return header, [rows[name] for name in sorted(rows)]


def main(argv: list[str] | None = None) -> int:
    """``python -m xaibench.benchmark.catalog --write``: regenerate the catalog file."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m xaibench.benchmark.catalog")
    parser.add_argument(
        "--write", action="store_true", help=f"write {FILE.name} from the registries"
    )
    args = parser.parse_args(argv)
    if not args.write:
        parser.print_help()
        return 0
    print(f"wrote {write()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
