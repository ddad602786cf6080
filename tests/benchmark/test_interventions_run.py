"""Ground truth by intervention through a run: the drawn samples' parts reach the metrics that
declare ``needs_parts`` (their scores equal xb.evaluate's with the same parts), and a dataset
without parts records them as not applicable, with the reason."""

from __future__ import annotations

import sqlite3

import numpy as np
import pandas as pd
import pytest
from _tolerance import assert_scores_close

import xaibench as xb
from xaibench.benchmark.plan import sample_indices
from xaibench.cli import main

pytestmark = pytest.mark.slow


def test_parts_reach_the_metrics_and_other_datasets_do_not_apply(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        'samples = 6\nseed = 0\ndatasets = ["digits", "shapes"]\nmodels = ["linear"]\n'
        'methods = ["saliency"]\nmetrics = ["single_deletion", "preservation_check"]\n'
    )
    out = tmp_path / "run"
    assert main(["run", "--config", str(cfg), "--out", str(out), "--no-progress"]) == 0
    db = sqlite3.connect(out / "results.sqlite")
    cells = pd.read_sql_query("SELECT * FROM cells", db).set_index(["dataset", "metric"])
    scores = pd.read_sql_query(
        "SELECT c.metric, s.sample, s.score FROM scores s JOIN cells c ON c.key = s.cell "
        "WHERE c.dataset = 'shapes' ORDER BY c.metric, s.sample",
        db,
    )
    db.close()
    for metric in ("single_deletion", "preservation_check"):
        assert cells.loc[("digits", metric), "status"] == "not_applicable"
        assert "cannot render its samples without a part" in cells.loc[("digits", metric), "error"]
        assert cells.loc[("shapes", metric), "status"] == "ok"
    d = xb.datasets.load("shapes")
    idx = sample_indices(len(d.y_test), 6, 0)
    df = xb.evaluate(
        xb.models.get("linear", "shapes"),
        d.x_test[idx],
        d.y_test[idx],
        ["saliency"],
        ["preservation_check", "single_deletion"],
        parts=d.interventions(idx),
    ).sort_values(["metric", "sample"])
    np.testing.assert_array_equal(scores["sample"], np.tile(idx, 2))
    assert_scores_close(scores["score"], df["score"])
    skipped = xb.evaluate(
        xb.models.get("linear", "shapes"),
        d.x_test[:2],
        d.y_test[:2],
        ["saliency"],
        ["preservation_check"],
    )
    assert skipped.empty  # without parts= the metric does not apply


def test_parts_travel_to_dask_workers(tmp_path):
    """The parts of the drawn samples go to the workers with the task (pickled): the scores of
    a Dask run are a local run's, bitwise."""
    pytest.importorskip("distributed")
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        'samples = 4\nseed = 0\ndatasets = ["shapes"]\nmodels = ["linear"]\n'
        'methods = ["saliency"]\nmetrics = ["distractibility", "background_independence"]\n'
    )
    runs = {}
    for label, extra in (("local", []), ("dask", ["--executor", "dask", "--workers", "1"])):
        out = tmp_path / label
        assert main(["run", "--config", str(cfg), "--out", str(out), "--no-progress", *extra]) == 0
        with sqlite3.connect(out / "results.sqlite") as db:
            runs[label] = pd.read_sql_query(
                "SELECT c.metric, c.status, s.sample, s.score FROM scores s "
                "JOIN cells c ON c.key = s.cell ORDER BY c.metric, s.sample",
                db,
            )
    assert (runs["dask"]["status"] == "ok").all() and len(runs["dask"]) == 8
    pd.testing.assert_frame_equal(runs["dask"], runs["local"])
