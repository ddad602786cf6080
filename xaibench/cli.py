"""The ``xaibench`` command line (see ``xaibench --help``).

Exit codes: 0 ok; 1 the run finished with failed cells, or ``check`` found regressions; 2 bad usage
or input (a one-line message, no traceback); 130 interrupted (finished cells are kept; run the same command again to resume).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

KINDS = ("methods", "metrics", "datasets", "models")


class UsageError(Exception):
    """A user error: printed as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse exits 2 with usage: keep that, one line of message
        self.print_usage(sys.stderr)
        self.exit(2, f"xaibench: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="xaibench", description="Benchmark attribution methods across models and datasets."
    )
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    ls = sub.add_parser("list", help="list methods, metrics, datasets or models")
    ls.add_argument("kind", nargs="?", choices=KINDS, help="what to list (default: everything)")
    run = sub.add_parser("run", help="run a suite or a config into a run directory")
    run.add_argument(
        "--suite", choices=("quick", "default", "full"), help="built-in suite (default: quick)"
    )
    run.add_argument("--config", type=Path, help="TOML config file (overrides --suite)")
    run.add_argument(
        "--out", type=Path, help="run directory (default: results/<suite or config name>)"
    )
    run.add_argument("--samples", type=int, help="test samples per (dataset, model)")
    run.add_argument("--seed", type=int, help="seed of sample selection and stochastic components")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.add_argument(
        "--executor",
        choices=("local", "dask"),
        default="local",
        help="where cells are computed: this process (default) or Dask workers",
    )
    run.add_argument(
        "--scheduler", help="address of a running Dask scheduler (with --executor dask)"
    )
    run.add_argument(
        "--workers",
        type=int,
        help="processes of the local Dask cluster (with --executor dask; default: one per CPU)",
    )
    rep = sub.add_parser(
        "report", help="rebuild tables and plots of a run directory from its store"
    )
    rep.add_argument("dir", type=Path)
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


def _list(kind: str | None) -> int:
    from xaibench.benchmark.catalog import TABLES

    kinds = [kind] if kind else list(KINDS)
    for k in kinds:
        if len(kinds) > 1:
            print(f"\n{k}:")
        print(_table(*TABLES[k]()))
    return 0


# Above this many metrics per (dataset, model) the terminal gets the aggregate ranks instead.
WIDE_METRICS = 6
TOP = 5


def _print_top(board) -> None:
    from xaibench.results.stats import aggregate_ranks
    from xaibench.results.tables import fmt, wide

    ranks = aggregate_ranks(board)
    for (dataset, model), g in board.groupby(["dataset", "model"], sort=True):
        if g["metric"].nunique() <= WIDE_METRICS:
            header, rows = wide(g, tie=" ({})")
            rows = [[c.replace("**", "*") for c in r] for r in rows]
            print(
                f"\n{dataset} / {model}   (mean [95% CI]; * = rank 1; "
                "(a) = not significantly different from the other (a) methods)"
            )
            print(_table(header, rows))
            continue
        r = ranks[(ranks.dataset == dataset) & (ranks.model == model)].head(TOP)
        columns = [c for c in r.columns if c.startswith("rank_")]
        header = ["#", "method"] + [c.removeprefix("rank_") for c in columns]
        rows = [
            [str(row["overall"]), row["method"]] + [fmt(row[c]) for c in columns]
            for _, row in r.iterrows()
        ]
        print(f"\n{dataset} / {model}: top {len(rows)} methods by mean rank (1 = best)")
        print(_table(header, rows))
    print("\nfull tables with confidence intervals: leaderboard.md, report.html")


def _run(args) -> int:
    from xaibench.benchmark.config import load_config, suite
    from xaibench.benchmark.runner import run

    if args.config and args.suite:
        raise UsageError("give --suite or --config, not both")
    config = load_config(args.config) if args.config else suite(args.suite or "quick")
    config = config.with_overrides(samples=args.samples, seed=args.seed)
    out = args.out or Path("results") / config.name
    config.validate()
    where = ""
    if args.executor == "dask":
        where = f" on the Dask scheduler at {args.scheduler}" if args.scheduler else " on Dask"
    print(f"xaibench run: {config.name} -> {out}{where}", file=sys.stderr)
    try:
        result = run(
            config,
            out,
            progress=not args.no_progress,
            command=shlex.join(sys.argv),
            executor_name=args.executor,
            scheduler=args.scheduler,
            workers=args.workers,
        )
    except KeyboardInterrupt:
        print(
            f"\ninterrupted; finished cells are kept in {out / 'results.sqlite'}: "
            "run the same command again to resume",
            file=sys.stderr,
        )
        return 130
    from xaibench.results.outputs import rebuild

    result.leaderboard = rebuild(out, result.run_id).board  # the run's outputs, from its store
    print(
        f"\n{result.total} cells: {result.computed} computed, {result.reused} reused from the store, "
        f"{result.not_applicable} not applicable, {len(result.failures)} failed"
    )
    if result.leaderboard is not None and not result.leaderboard.empty:
        _print_top(result.leaderboard)
    print(
        f"\nresults in {out}/: report.html (everything in one page), leaderboard.csv/.md/.tex, "
        "tradeoffs.csv, ranks.csv, plots/, results.sqlite"
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
    return result.exit_code


def _report(args) -> int:
    from xaibench.results.outputs import rebuild

    made = rebuild(args.dir)
    print(f"rebuilt {len(made.files)} files in {args.dir}/ from its results.sqlite:")
    for path in made.files:
        print(f"  {path}")
    return 0


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


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "list":
            return _list(args.kind)
        if args.command == "run":
            return _run(args)
        if args.command == "check":
            return _check(args)
        return _report(args)
    except (UsageError, ValueError) as err:
        print(f"xaibench: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
