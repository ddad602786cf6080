"""The figures drawn by worker processes: the bytes drawn here, with the caller's matplotlib
settings; drawn here when no worker can start; the caller's script not run again."""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import subprocess
import sys
import textwrap
from multiprocessing import resource_tracker, spawn
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest

from xaibench.results import drawing
from xaibench.results.outputs import RunData, build_from

METHODS = ["saliency", "occlusion", "lime", "random"]
METRICS = [  # name, category, higher is better, tradeoff axis
    ("deletion", "faithfulness", False, "faithfulness"),
    ("sparseness", "complexity", True, "simplicity"),
]


def tiny_run() -> RunData:
    """A run of every kind of figure, scores made up: one (dataset, model), three methods and
    a control, deletion curves, a gallery and a model inspection."""
    rng = np.random.default_rng(0)
    rows = [
        ("digits", "cnn", method, metric, category, up, axis, s, rng.uniform(), method == "random")
        for method in METHODS
        for metric, category, up, axis in METRICS
        for s in range(6)
    ]
    names = "dataset model method metric category higher_is_better tradeoff sample score control"
    run = RunData.from_scores(pd.DataFrame(rows, columns=names.split()))
    curves = {("digits", "cnn"): {m: rng.uniform(size=(6, 11)) for m in METHODS}}
    x = rng.uniform(size=(3, 8, 8, 1))
    artifacts = {
        "inputs": [{"dataset": "digits", "model": "cnn", "x": x, "y": np.arange(3)}],
        "gallery": [
            {
                "dataset": "digits",
                "model": "cnn",
                "method": m,
                "attributions": rng.normal(size=x.shape),
            }
            for m in METHODS
        ],
        "inspection": [
            {
                "dataset": "digits",
                "model": "cnn",
                "layer": "conv2d",
                "x": x[0],
                "filters": rng.normal(size=(3, 3, 1, 4)),
                "activations": rng.uniform(size=(6, 6, 4)),
            }
        ],
    }
    for inputs in artifacts["inputs"]:
        inputs["class_names"] = np.array(["zero", "one", "two"])
    models = pd.DataFrame(
        {"dataset": ["digits"], "model": ["cnn"], "accuracy": [0.9], "params": [1000]}
    )
    return dataclasses.replace(
        run,
        models=models,
        curve_metrics=["deletion"],
        curves=lambda metric: curves,
        artifacts=lambda kind: artifacts.get(kind, []),
    )


def files(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


@pytest.fixture
def by_workers(monkeypatch):
    """This process draws no job while a worker can (it takes them from the back otherwise,
    and would take all of a run this small before a worker has started); records the jobs
    the workers had and the jobs of each `Drawing.drawn`."""
    sent = []
    drawn = drawing.Drawing.drawn

    def recorded(self):
        made = drawn(self)
        sent.append((len(self._sent), len(self._jobs)))
        return made

    monkeypatch.setattr(drawing.Drawing, "_take", lambda self: None)
    monkeypatch.setattr(drawing.Drawing, "drawn", recorded)
    return sent


def test_workers_draw_the_bytes_drawn_here_with_the_callers_settings(tmp_path, by_workers):
    """Every file of a run's outputs has the same bytes drawn by a worker as here, under a
    matplotlib setting of the caller's (fails if workers drew with matplotlib's defaults)."""
    run = tiny_run()
    with matplotlib.rc_context({"axes.facecolor": "#fff8e0"}):
        here = build_from(run, tmp_path / "here" / "run", workers=0)
        there = build_from(run, tmp_path / "there" / "run", workers=1)
    (none, jobs), (sent, also) = by_workers
    assert none == 0 and sent == jobs == also >= 10  # the workers drew every figure
    assert [p.relative_to(tmp_path / "here") for p in here.files] == [
        p.relative_to(tmp_path / "there") for p in there.files
    ]
    assert files(tmp_path / "here") == files(tmp_path / "there")


def test_jobs_are_done_here_when_no_worker_can_start(by_workers):
    """A Python that cannot start (here /bin/false): every job is done here, none lost."""
    resource_tracker.ensure_running()  # only the workers get the broken interpreter
    python = spawn.get_executable()
    multiprocessing.set_executable("/bin/false")
    try:
        with drawing.Drawing(workers=1) as draw:
            draw.submit({"pids": [drawing.Job(os.getpid)] * 3})
            made = draw.drawn()
    finally:
        multiprocessing.set_executable(python)
    assert made == {"pids": [os.getpid()] * 3}
    assert by_workers == [(0, 3)]


def test_a_workers_error_is_raised_here(by_workers):
    with drawing.Drawing(workers=1) as draw:
        draw.submit({"numbers": [drawing.Job(int, ("12",)), drawing.Job(int, ("twelve",))]})
        with pytest.raises(ValueError, match="twelve") as raised:
            draw.drawn()
    assert "_RemoteTraceback" in type(raised.value.__cause__).__name__  # a worker's


def test_workers_do_not_run_the_callers_script_again(tmp_path):
    """A script without a ``__main__`` guard that starts workers runs once: "spawn" would run
    it again in each worker (a user's script would train its models again, then fail)."""
    script = tmp_path / "report.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import os
            with open({str(tmp_path / "ran")!r}, "a") as f:
                f.write("ran\\n")
            from xaibench.results import drawing

            drawing.Drawing._take = lambda self: None  # the worker draws
            with drawing.Drawing(workers=1) as draw:
                draw.submit({{"pids": [drawing.Job(os.getpid)]}})
                print(draw.drawn()["pids"][0] != os.getpid())
            """
        )
    )
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True"]  # a worker did the job
    assert (tmp_path / "ran").read_text() == "ran\n"
