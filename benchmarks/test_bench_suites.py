"""The built-in suites end to end, as ``xaibench run --suite NAME`` runs them (worker processes,
the suite's budgets), from an empty model cache: the command's wall time against the run's own
estimate, and the cells' wall time against their floor - the seconds the cost probes give the
cells' declared model calls, each method's at its measured time (``cost.method_seconds``: the
model's calls and what the method does beside them), spread over the workers as if they scaled
perfectly (what the cells would take if the model and the methods were all they did). Run:

    python -m pytest benchmarks/test_bench_suites.py -s -k quick       # ~1.5 min
    python -m pytest benchmarks/test_bench_suites.py -s -k default     # ~10 min
    python -m pytest benchmarks/test_bench_suites.py -s -k realistic   # ~10 min, one process

(``full`` is for bigger machines: hours on 2 cores.)

On an idle machine only: the numbers are the machine's, and the README's suite times come from
here (README: Built-in suites).
"""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from xaibench.benchmark import cost
from xaibench.benchmark.config import SUITES
from xaibench.benchmark.processes import default_workers
from xaibench.store import Store


@pytest.mark.parametrize("suite", ["quick", "default", "realistic"])
def test_suite_wall_time(benchmark, tmp_path, suite):
    env = os.environ | {"XAIBENCH_CACHE": str(tmp_path / "cache")}  # an empty model cache
    out = tmp_path / "out"
    xaibench = Path(sys.executable).with_name("xaibench")  # the console script: the CLI's start
    command = [str(xaibench), "run", "--suite", suite, "--out", str(out), "--no-progress"]

    def run():
        start = time.perf_counter()
        subprocess.run(command, env=env, check=True, capture_output=True)
        return time.perf_counter() - start

    wall = benchmark.pedantic(run, rounds=1, iterations=1)
    with Store(out / "results.sqlite", readonly=True) as store:
        estimated = store.run()["estimated_seconds"]
        cells = store.cells()
    ok = cells[cells["status"] == "ok"]
    workers = default_workers(SUITES[suite].workers)  # as the run chose them
    floor = ok["estimated_seconds"].sum() / workers  # the probes' seconds of what cells declare
    measured = (
        ok["metric_seconds"].sum()
        + ok.drop_duplicates(["dataset", "model", "method"])["explain_seconds"].sum()
    ) / workers
    benchmark.extra_info.update(
        wall_seconds=wall,
        estimated_seconds=estimated,
        wall_over_estimate=wall / estimated,
        cells_seconds_per_worker=measured,
        floor_seconds=floor,
        cells_over_floor=measured / floor,
    )
    print(
        f"\n{suite}: took {cost.duration(wall)} (estimated {cost.duration(estimated)}, "
        f"{wall / estimated:.2f}x); cells {measured:.0f} s per worker over a floor "
        f"of {floor:.0f} s: {measured / floor:.2f}x"
    )
    assert wall > 0
