"""The ``xaibench`` command line (see ``xaibench --help``).

Exit codes: 0 ok; 1 the run finished with failed cells, or stopped because its store could not be
written (the disk is full: finished cells are kept), or ``check`` found regressions; 2 bad usage
or input (a one-line message, no traceback); 130 interrupted (finished cells are kept; run the
same command again to resume).

Plugins (``xaibench.plugins``): the entry points of installed packages in the group
``xaibench.plugins``, a config's ``imports`` and ``--import MODULE`` are imported before ``run``,
``report`` and ``list`` do anything else, so that the components they register work by name.
Without plugins, ``xaibench list`` and ``xaibench --version`` do not import TensorFlow.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib.util
import json
import shlex
import sys
import textwrap
import time
from pathlib import Path

from xaibench._suites import SUITE_NAMES
from xaibench._text import visible
from xaibench._version import __version__

KINDS = ("methods", "metrics", "datasets", "models")
# Written into a run directory after its outputs: what they were written from (see _stamp).
STAMP = ".outputs.json"


class UsageError(Exception):
    """A user error: printed as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse exits 2 with usage: keep that, one line of message
        self.print_usage(sys.stderr)
        self.exit(2, f"xaibench: error: {message}\n")


def _names(text: str) -> tuple[str, ...]:
    """``A,B`` as ``("A", "B")`` (the value of ``--methods`` and the like)."""
    names = tuple(name.strip() for name in text.split(","))
    if not all(names):
        raise argparse.ArgumentTypeError(f"{text!r} has an empty name: give names as A,B")
    return names


def _add_imports(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--import",
        dest="imports",
        action="append",
        default=[],
        metavar="MODULE",
        help="import MODULE first, so that the methods, metrics, datasets and models it "
        "registers can be used by name (repeatable; the current directory is importable)",
    )


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="xaibench", description="Benchmark attribution methods across models and datasets."
    )
    p.add_argument("--version", action="version", version=f"xaibench {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    ls = sub.add_parser("list", help="list methods, metrics, datasets or models")
    ls.add_argument("kind", nargs="?", choices=KINDS, help="what to list (default: everything)")
    _add_imports(ls)
    run = sub.add_parser("run", help="run a suite or a config into a run directory")
    run.add_argument("--suite", choices=SUITE_NAMES, help="built-in suite (default: quick)")
    run.add_argument("--config", type=Path, help="TOML config file (overrides --suite)")
    run.add_argument(
        "--out", type=Path, help="run directory (default: results/<suite or config name>)"
    )
    run.add_argument("--samples", type=int, help="test samples per (dataset, model)")
    run.add_argument("--seed", type=int, help="seed of sample selection and stochastic components")
    for kind in KINDS:
        run.add_argument(
            f"--{kind}",
            type=_names,
            metavar="A,B",
            help=f"these {kind} instead of the suite's or config's",
        )
    _add_imports(run)
    run.add_argument(
        "--meta",
        action="store_true",
        help="also meta-evaluate the metrics (how far to trust each: meta.csv; the config's "
        "[meta] settings, else the suite's budget)",
    )
    run.add_argument(
        "--sweep",
        choices=("default",),
        help="default: also score the faithfulness metrics with their documented alternative "
        "settings (sweep.csv), besides the config's [sweep.<metric>] tables",
    )
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.add_argument(
        "--max-minutes",
        type=float,
        metavar="M",
        help="stop before computing anything (exit 2) when the run's cost estimate exceeds M "
        "minutes (without it, a run estimated over 30 minutes is warned about)",
    )
    run.add_argument(
        "--executor",
        choices=("local", "dask"),
        default="local",
        help="where cells are computed: local (default): this process, or --workers K worker "
        "processes on this machine; dask: Dask workers",
    )
    run.add_argument(
        "--scheduler", help="address of a running Dask scheduler (with --executor dask)"
    )
    run.add_argument(
        "--workers",
        type=int,
        help="processes computing the cells: with --executor local, K worker processes on this "
        "machine (1: this process; default: the suite's choice, 1 for a config file); with "
        "--executor dask, the local cluster's (default: one per CPU)",
    )
    rep = sub.add_parser(
        "report", help="rebuild tables and plots of a run directory from its store"
    )
    rep.add_argument("dir", type=Path)
    rep.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="write the outputs to DIR and leave the run directory untouched (needed with the "
        "paper options below: shaped tables never overwrite the run's full ones)",
    )
    _add_imports(rep)
    paper = "leaderboard.tex for a paper"
    rep.add_argument(
        "--no-ci", dest="ci", action="store_false", help=f"{paper}: means without intervals"
    )
    rep.add_argument("--methods", type=_names, help=f"{paper}: only these methods (A,B)")
    rep.add_argument(
        "--metrics", type=_names, help=f"{paper}: one table of these metrics, in this order"
    )
    rep.add_argument(
        "--tex-width",
        metavar="LENGTH",
        help=f"{paper}: the line its tables fit, e.g. 6.5in, 469pt, 16.5cm (default: 345pt, "
        "a 10 pt one-column article)",
    )
    chk = sub.add_parser(
        "check",
        help="compare a run with a baseline leaderboard; exit 1 on regressions",
        description="Compare run DIR's leaderboard with a baseline leaderboard CSV. A regression "
        "is a mean that moved in the metric's worse direction with non-overlapping confidence "
        "intervals and a relative change above the tolerance. Exit 0: no regression; 1: "
        "regressions or missing rows; 2: bad input.",
    )
    chk.add_argument(
        "--baseline",
        type=Path,
        required=True,
        metavar="FILE",
        help="baseline leaderboard CSV (or run directory)",
    )
    chk.add_argument(
        "dir",
        type=Path,
        metavar="DIR",
        help="run directory (leaderboard.csv or results.sqlite) or a leaderboard CSV",
    )
    chk.add_argument(
        "--tolerance",
        type=float,
        default=0.05,
        help="relative change a regression must exceed (default: 0.05)",
    )
    chk.add_argument(
        "--allow-missing", action="store_true", help="baseline rows absent from the run pass"
    )
    chk.add_argument(
        "--include-cost",
        action="store_true",
        help="also gate cost metrics (runtime; off by default: timings depend on the machine)",
    )
    chk.add_argument("--json", action="store_true", help="print the comparison as JSON")
    return p


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=True)]
    line = lambda r: "  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(r) for r in rows])


def _plugins(*named) -> list[str]:
    """Import the installed packages' plugins (entry points) and then the ``named`` ones (lists
    of ``plugins.Plugin``); the modules imported."""
    from xaibench import plugins

    return plugins.load([*plugins.discover(), *(p for group in named for p in group)])


def _list(args) -> int:
    """The tables of ``xaibench list``: the catalog file for xaibench's own components (no
    TensorFlow), the live registries for the plugins' ones."""
    from xaibench import plugins
    from xaibench.benchmark.catalog import table

    loaded = _plugins(plugins.requested(args.imports, "--import"))
    kinds = [args.kind] if args.kind else list(KINDS)
    for k in kinds:
        if len(kinds) > 1:
            print(f"\n{k}:")
        print(_table(*table(k, plugins=bool(loaded))))
    return 0


#: A (dataset, model) of at most this many metrics gets its leaderboard printed after a run.
PRINTED_METRICS = 6


def _width() -> int:
    import shutil

    return max(60, min(110, shutil.get_terminal_size((100, 24)).columns))


def _print_verdict(out: Path, board) -> None:
    """The verdict of the run (from its verdict.csv) and the leaderboard of every (dataset,
    model) of at most ``PRINTED_METRICS`` metrics, sized to the terminal."""
    from xaibench.results import verdict, verdict_text

    path = out / "verdict.csv"
    if path.exists():
        print("\n" + verdict_text.text(verdict.read(path), width=_width()))
    _print_leaderboards(board, _width())
    print("\nthe full tables with confidence intervals: report.html, leaderboard.md")


def _print_leaderboards(board, width: int) -> None:
    """Per (dataset, model) of at most ``PRINTED_METRICS`` metrics: every method's mean and 95%
    CI per metric (the best method starred, tie letters), in column groups that fit ``width``."""
    from xaibench.results.tables import wide

    for (dataset, model), g in board.groupby(["dataset", "model"], sort=True):
        if g["metric"].nunique() > PRINTED_METRICS:
            continue
        header, rows = wide(g, tie=" ({})", bold="*{}")
        title = (
            f"{dataset} / {model}: mean [95% CI]; * = the best method (controls aside); "
            "methods that share a letter (a) are not significantly different from their "
            "rank neighbours"
        )
        print("\n" + textwrap.fill(title, width))
        for part in _column_parts(header, rows, width):
            print("\n" + _table([header[i] for i in part], [[r[i] for i in part] for r in rows]))


def _column_parts(header: list[str], rows: list[list[str]], width: int) -> list[list[int]]:
    """The column indices of ``header`` in parts whose tables fit ``width`` characters, each
    part led by the method column (0)."""
    size = [max(len(str(c)) for c in col) + 2 for col in zip(header, *rows, strict=True)]
    parts: list[list[int]] = []
    for i in range(1, len(header)):
        if parts and sum(size[j] for j in parts[-1]) + size[i] <= width:
            parts[-1].append(i)
        else:
            parts.append([0, i])
    return parts or [[0]]


def _run_config(args):
    """The run's config: the suite or config file, its plugins and those of ``--import``
    imported (and recorded in ``imports``), the flags' values instead of its own; validated."""
    from xaibench import plugins
    from xaibench.benchmark.config import load_config, suite

    if args.config and args.suite:
        raise UsageError("give --suite or --config, not both")
    config = load_config(args.config) if args.config else suite(args.suite or "quick")
    imported = _plugins(
        plugins.requested(config.imports, f"imports of {args.config}"),
        plugins.requested(args.imports, "--import"),
    )
    config = config.with_overrides(
        samples=args.samples,
        seed=args.seed,
        datasets=args.datasets,
        models=args.models,
        methods=args.methods,
        metrics=args.metrics,
        imports=tuple(imported),
        meta=args.meta,
        sweep_default=args.sweep == "default",
    )
    return config.validate()


def _uses_torch(args) -> bool:
    """Whether the run may load a torch model: ``torch`` in ``--models``, in the config file's
    text or in the source of an ``--import`` module (read, not imported; a guess that errs
    towards yes: then torch is imported for nothing)."""
    texts = [args.models or ""]
    if args.config:
        try:
            texts.append(Path(args.config).read_text(errors="replace"))
        except (OSError, ValueError):
            pass  # the config's own loading says what is wrong with it
    for name in args.imports or []:
        try:
            spec = importlib.util.find_spec(name)
            if spec is not None and spec.origin and Path(spec.origin).is_file():
                texts.append(Path(spec.origin).read_text(errors="replace"))
        except (ImportError, OSError, ValueError):
            pass  # the import itself reports it
    return any("torch" in text for text in texts)


def _run(args) -> int:
    from xaibench._system import torch_before_tensorflow, tune_allocator

    tune_allocator()  # before TensorFlow starts its threads (README, Memory)
    if _uses_torch(args):
        torch_before_tensorflow()  # a CUDA build's Triton after TensorFlow: a segfault
    from xaibench.benchmark.runner import run
    from xaibench.store import StoreWriteError

    config = _run_config(args)
    out = args.out or Path("results") / config.name
    workers, where = args.workers, ""
    if args.executor == "dask":
        where = f" on the Dask scheduler at {args.scheduler}" if args.scheduler else " on Dask"
    elif workers is None and config.workers > 1 and not args.scheduler:
        from xaibench.benchmark.processes import default_workers

        workers = default_workers(config.workers)  # the suite's choice, machine permitting
    if args.executor == "local" and (workers or 1) > 1:
        where = f" on {workers} worker processes"
    print(f"xaibench run: {config.name} -> {out}{where}", file=sys.stderr)
    try:
        result = run(
            config,
            out,
            progress=not args.no_progress,
            command=shlex.join(sys.argv),
            executor_name=args.executor,
            scheduler=args.scheduler,
            workers=workers,
            max_minutes=args.max_minutes,
            outputs=True,
        )
    except KeyboardInterrupt:
        print(
            f"\ninterrupted; finished cells are kept in {out / 'results.sqlite'}: "
            "run the same command again to resume",
            file=sys.stderr,
        )
        return 130
    except StoreWriteError as err:  # the disk is full: not the config's fault, so not exit 2
        print(f"xaibench: error: {err}", file=sys.stderr)
        return 1
    try:
        result.leaderboard, rebuilt = _outputs(out, result)
    except OSError as err:  # a full disk, a file where a folder goes: the cells are safe
        print(
            f"xaibench: error: cannot write the outputs in {out}: {err.strerror or err}"
            f"{f' ({err.filename})' if err.filename else ''}; every cell is kept in "
            f"{out / 'results.sqlite'}: run `xaibench report {out}` once it can be written",
            file=sys.stderr,
        )
        return 1
    _print_summary(result, out, rebuilt)
    _print_cost(result, time.perf_counter(), args.started)  # the command's wall time so far
    return result.exit_code


def _outputs(out: Path, result):
    """Write the run's outputs from its store (``results.outputs.rebuild``), unless the run
    computed nothing (no cell, no gallery) and the run directory's outputs are current (see
    ``_current``). Returns the leaderboard (read back from leaderboard.csv when the outputs were
    current) and whether the outputs were rebuilt."""
    stamp = _stamp(out, result.run_id)
    if result.computed == 0 and result.artifacts == 0 and _current(out, stamp):
        return _read_board(out), False
    from xaibench.results.outputs import rebuild

    _forget_stamp(out)  # a rebuild that fails half-way leaves no stamp
    made = rebuild(out, result.run_id)  # the run's outputs, from its store
    _write_stamp(out, stamp, made.files)
    return made.board, True


def _read_board(out: Path):
    import pandas as pd

    try:
        return pd.read_csv(out / "leaderboard.csv")
    except pd.errors.EmptyDataError:  # a run without a score
        return None


def _print_summary(result, out: Path, rebuilt: bool) -> None:
    """What the terminal shows at the end of a run: the cells, the top methods of each
    (dataset, model), where the outputs are, and the failed cells (on stderr)."""
    print(
        f"\n{result.total} cells: {result.computed} computed, {result.reused} reused from the store, "
        f"{result.not_applicable} not applicable, {len(result.failures)} failed"
    )
    if result.leaderboard is not None and not result.leaderboard.empty:
        _print_verdict(out, result.leaderboard)
    kept = "" if rebuilt else " (unchanged: nothing new was computed)"
    trust = "".join(f"{name}, " for name in ("meta.csv", "sweep.csv") if (out / name).is_file())
    print(
        f"\nresults in {out}/{kept}: report.html (everything in one page), "
        f"leaderboard.csv/.md/.tex, {trust}tradeoffs.csv, ranks.csv, plots/, results.sqlite"
    )
    if result.failures:
        print(
            f"\n{len(result.failures)} cell(s) failed (stored with their error text; "
            "the next run computes them again):",
            file=sys.stderr,
        )
        for f in result.failures[:20]:
            print(
                f"  {f['dataset']}/{f['model']}/{f['method']}/{f['metric']}: {f['error']}",
                file=sys.stderr,
            )
        if len(result.failures) > 20:
            print(f"  ... and {len(result.failures) - 20} more", file=sys.stderr)


def _print_cost(result, now: float, started: float) -> None:
    """The command's wall time (from ``main``'s start at ``started``, so TensorFlow's import,
    loading, the run and writing the outputs) against the run's estimate with the time taken
    before it was made, and the run's peak memory (on stderr)."""
    from xaibench.benchmark.cost import duration

    parts = [f"took {duration(now - started)}"]
    estimate = result.estimate
    if estimate is not None and (estimate.cells or estimate.training):
        before = (result.estimated_at or started) - started  # start-up, loading, the probes
        parts[0] += f" ({estimate.brief(before)})"
    if result.peak_memory_mb is not None:
        parts.append(f"peak memory {result.peak_memory_mb:,.0f} MB")
    print("; ".join(parts), file=sys.stderr)


# The outputs' stamp -----------------------------------------------------------------------------


def _results_code() -> str:
    """A hash of the source of ``xaibench.results`` (found without importing it): outputs written
    by other code are rebuilt even when the version number did not change."""
    spec = importlib.util.find_spec("xaibench.results")
    h = hashlib.sha256()
    for folder in spec.submodule_search_locations or []:
        for path in sorted(Path(folder).glob("*.py")):
            h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:16]


def _stamp(out: Path, run_id: int | None) -> dict:
    """What the outputs of run ``run_id`` (default: the latest) of ``out`` are written from: a
    hash of its cells' keys (each key hashes every setting of its cell), the xaibench version
    and the code of ``xaibench.results``."""
    from xaibench.store import Store

    with Store(out / "results.sqlite", readonly=True) as store:
        keys = sorted(store.cells(run_id, variants=True)["key"])
    cells = hashlib.sha256("\n".join(keys).encode()).hexdigest()[:24]
    return {"cells": cells, "xaibench": __version__, "results_code": _results_code()}


def _current(out: Path, stamp: dict) -> bool:
    """Whether ``out``'s outputs were written from what ``stamp`` describes and are all there:
    its ``STAMP`` file says so and lists files that all exist."""
    try:
        written = json.loads((out / STAMP).read_text())
    except (OSError, ValueError):
        return False
    files = written.get("files") if isinstance(written, dict) else None
    same = all(written.get(key) == value for key, value in stamp.items())
    return same and bool(files) and all((out / name).is_file() for name in files)


def _forget_stamp(out: Path) -> None:
    try:
        (out / STAMP).unlink(missing_ok=True)
    except OSError:  # ``out`` is no folder: rebuild says so
        pass


def _write_stamp(out: Path, stamp: dict, files) -> None:
    names = sorted({str(Path(f).relative_to(out)) for f in files})
    (out / STAMP).write_text(json.dumps({**stamp, "files": names}, indent=1) + "\n")


# report -----------------------------------------------------------------------------------------


def _report(args) -> int:
    """Rebuild a run directory's outputs (always), with its plugins imported: ``--import``
    ones must import; those the run recorded are imported where they can be, else the report is
    built from the store alone, which holds every score with its metric's metadata. With
    ``--out`` the outputs go there and the run directory is left untouched."""
    from xaibench import plugins
    from xaibench.results.latex_cells import parse_width
    from xaibench.results.outputs import rebuild

    tables = {
        "ci": args.ci,
        "methods": list(args.methods) if args.methods else None,
        "metrics": list(args.metrics) if args.metrics else None,
    }
    if args.tex_width is not None:
        tables["width"] = parse_width(args.tex_width)
    out = _report_out(
        args,
        shaped=not args.ci
        or args.tex_width is not None
        or any(tables[k] for k in ("methods", "metrics")),
    )
    _plugins(plugins.requested(args.imports, "--import"))
    for module in _recorded_imports(args.dir):
        try:
            plugins.import_plugin(module, f"recorded by the run in {args.dir}")
        except plugins.PluginError as err:
            print(
                f"xaibench: note: {err}; the report is built from the store alone "
                "(it holds every score with its metric's metadata)",
                file=sys.stderr,
            )
    _check_selection(args.dir, tables)  # exit 2 before anything is touched
    if out is None:
        _forget_stamp(args.dir)
    made = rebuild(args.dir, to=out, **tables)
    if out is None:
        _write_stamp(args.dir, _stamp(args.dir, None), made.files)
    print(f"rebuilt {len(made.files)} files in {out or args.dir}/ from {args.dir}/results.sqlite:")
    for path in made.files:
        print(f"  {path}")
    return 0


def _report_out(args, shaped: bool) -> Path | None:
    """Where ``report`` writes: ``--out`` (None: the run directory itself). A UsageError when
    the paper tables are shaped without ``--out`` (they would overwrite the run's full ones),
    or ``--out`` is a file or the run directory with shaped tables."""
    if args.out is None or (
        args.dir.exists() and args.out.exists() and args.out.resolve() == args.dir.resolve()
    ):
        if shaped:
            raise UsageError(
                "--no-ci, --methods, --metrics and --tex-width shape the paper tables: give "
                "--out DIR to write them there (the run's own leaderboard.tex keeps every "
                "method, metric and interval)"
            )
        return None
    if args.out.exists() and not args.out.is_dir():
        raise UsageError(f"--out {args.out} is a file, not a folder: give a folder to write to")
    return args.out


def _check_selection(out: Path, tables: dict) -> None:
    """ValueError naming the methods or metrics of ``--methods``/``--metrics`` that the run in
    ``out`` does not hold."""
    from xaibench.results.tables import select
    from xaibench.store import Store

    if (out / "results.sqlite").is_file() and (tables["methods"] or tables["metrics"]):
        with Store(out / "results.sqlite", readonly=True) as store:
            select(store.scores(), methods=tables["methods"], metrics=tables["metrics"])


def _recorded_imports(out: Path) -> list[str]:
    """The plugin modules the latest run in ``out`` imported (its config's ``imports``)."""
    from xaibench.store import Store

    if not (out / "results.sqlite").is_file():
        return []  # rebuild says what is wrong
    with Store(out / "results.sqlite", readonly=True) as store:
        run = store.run()
    return list(run["config"].get("imports", [])) if run else []


def _check(args) -> int:
    from xaibench.results.check import (
        compare,
        failures,
        format_report,
        read_baseline,
        read_run,
        to_json,
    )

    baseline = read_baseline(args.baseline)
    result = compare(
        read_run(args.dir),
        baseline,
        tolerance=args.tolerance,
        allow_missing=args.allow_missing,
        include_cost=args.include_cost,
    )
    print(to_json(result) if args.json else format_report(result))
    return 1 if len(failures(result)) else 0


class _Visible:
    """The text stream ``inner``, written to with control characters visible
    (``_text.visible``; carriage returns kept: the progress bar redraws its line with them), so
    that names and error messages reach the terminal as text, never as escape sequences."""

    def __init__(self, inner):
        self._inner = inner

    def write(self, text: str) -> int:
        return self._inner.write(visible(text, keep="\r"))

    def writelines(self, lines) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str):
        return getattr(self._inner, name)


@contextlib.contextmanager
def _visible_output():
    """``sys.stdout`` and ``sys.stderr`` through `_Visible` while the command runs."""
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _Visible(sys.stdout), _Visible(sys.stderr)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved


def main(argv: list[str] | None = None) -> int:
    started = time.perf_counter()  # what `took` counts from: all of the command but Python's start
    with _visible_output():
        args = _parser().parse_args(argv)
        args.started = started
        try:
            if args.command == "list":
                return _list(args)
            if args.command == "run":
                return _run(args)
            if args.command == "check":
                return _check(args)
            return _report(args)
        except (UsageError, ValueError) as err:
            print(f"xaibench: error: {one_line(str(err))}", file=sys.stderr)
            return 2


# The longest error line printed: a message quoting a user's value is cut where it would pass it.
MAX_ERROR = 2000


def one_line(text: str, limit: int = MAX_ERROR) -> str:
    """``text`` as one line (its line breaks as ``; ``) of at most about ``limit`` characters.

    >>> one_line("a\\nb" + "c" * 3000, 10)
    'a; bcccccc ... (2,994 more characters)'
    """
    flat = "; ".join(line.strip() for line in text.strip().splitlines() if line.strip())
    if len(flat) <= limit:
        return flat
    return f"{flat[:limit]} ... ({len(flat) - limit:,} more characters)"


if __name__ == "__main__":
    sys.exit(main())
