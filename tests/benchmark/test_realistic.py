"""The realistic suite end to end, as a user runs it: ``xaibench run --suite realistic`` on the
96x96 scenes with MobileNetV2 trained here (the suite's own model budget), every image method
and every metric, few samples. Trains the model once (~2.5 min on 2 cores), then ~3 min of cells."""

import json

import numpy as np
import pandas as pd
import pytest

import xaibench as xb
from xaibench.benchmark.config import SUITES
from xaibench.cli import main
from xaibench.store import Store

pytestmark = pytest.mark.slow

SAMPLES = 4  # the fewest that leave the bootstrap of the verdict a choice of samples


def test_the_realistic_suite_runs_every_method_and_metric_on_a_trained_network(tmp_path, capsys):
    out = tmp_path / "realistic"
    code = main(["run", "--suite", "realistic", "--samples", str(SAMPLES), "--out", str(out)])
    printed = capsys.readouterr()
    assert code == 0, printed.err[-2000:]
    assert "estimated time:" in printed.err + printed.out  # the cost, said before the work

    suite = SUITES["realistic"]
    with Store(out / "results.sqlite", readonly=True) as store:
        cells, run, models = store.cells(), store.run(), store.models()
    # every cell computed, none "not applicable": the suite only lists what applies to images
    assert (cells["status"] == "ok").all(), cells.loc[cells.status != "ok", ["method", "error"]]
    assert len(cells) == len(suite.methods) * len(suite.metrics)
    assert set(cells["method"]) == set(suite.methods)
    assert set(cells["metric"]) == set(suite.metrics)
    # the model learnt the task (README: the accuracy table)
    (model,) = models.itertuples()
    assert model.model == "mobilenet_v2" and model.accuracy > 0.8
    # with the suite's epoch budget: the cells are keyed by it
    settings = json.loads(cells["settings"].iloc[0])["model"]
    assert settings["max_epochs"] == suite.params["mobilenet_v2"]["epochs"]
    # the cost was estimated up front and the memory measured, per run and per cell
    assert run["estimated_seconds"] > 0 and run["peak_memory_mb"] > 0
    assert np.isfinite(cells["estimated_seconds"]).all()
    assert (cells["peak_memory_mb"] > 0).all()

    board = pd.read_csv(out / "leaderboard.csv")
    assert set(board["method"]) == set(suite.methods)
    # a score may be NaN with a reason on a sample (Grad-CAM's map for another class all zero:
    # random_logit's correlation undefined), never more samples than asked for
    assert board["n"].between(1, SAMPLES).all() and (board["n"] == SAMPLES).mean() > 0.9
    verdict = pd.read_csv(out / "verdict.csv")
    recommended = verdict[(verdict.dataset == "scenes") & verdict.recommended]
    assert len(recommended) >= 1
    assert not set(recommended["method"]) & {m for m in suite.methods if xb.methods.cls(m).control}
    for plot in ("gallery_scenes_mobilenet_v2.png", "inspection_scenes_mobilenet_v2.png"):
        assert (out / "plots" / plot).stat().st_size > 10_000
