"""A run with a meta-evaluation and a setting sweep, end to end on a tiny config: meta.csv,
sweep.csv and a verdict whose cautions name its unreliable deciding metrics; its cells resume;
and the run as configured is the same with or without them (cells, keys, leaderboard)."""

from __future__ import annotations

import sqlite3

import pandas as pd
import pytest
from _runs import write_config

from xaibench.cli import main
from xaibench.results import verdict
from xaibench.results.trust import unreliable

pytestmark = pytest.mark.slow

METHODS = ["saliency", "random", "gradient_x_input"]
METRICS = ["deletion", "sparseness", "runtime"]
EXTRA = '[meta]\niterations = 2\nperturbations = 1\nsamples = 4\n[sweep.deletion]\nbaseline = [0.0, "mean"]\n'


def configured_keys(out) -> set[str]:
    with sqlite3.connect(out / "results.sqlite") as db:
        return {k for (k,) in db.execute("SELECT key FROM cells WHERE variant IS NULL")}


def test_meta_and_sweep_end_to_end(tmp_path, capsys):
    plain = write_config(tmp_path / "plain.toml", METHODS, METRICS)
    out = tmp_path / "run"
    args = ["run", "--out", str(out), "--no-progress"]
    assert main([*args, "--config", str(plain)]) == 0
    board, keys = (out / "leaderboard.csv").read_text(), configured_keys(out)
    assert not (out / "meta.csv").exists() and not (out / "sweep.csv").exists()
    capsys.readouterr()

    full = write_config(tmp_path / "full.toml", METHODS, METRICS, extra=EXTRA)
    assert main([*args, "--config", str(full)]) == 0
    # 3 methods x (3 metrics + 1 sweep variant + 2 metrics x (1 reference + 2 x 2 x 2 perturbed))
    assert "66 cells: 57 computed, 9 reused" in capsys.readouterr().out
    assert configured_keys(out) == keys  # the run as configured: the same cells
    assert (out / "leaderboard.csv").read_text() == board  # and the same leaderboard

    meta = pd.read_csv(out / "meta.csv")
    assert list(meta.columns) == [
        "dataset",
        "model",
        "metric",
        "test",
        "iac_nr",
        "iac_ar",
        "iec_nr",
        "iec_ar",
        "mc",
        "mc_std",
        "n_nr",
        "n_ar",
    ]
    assert set(meta["metric"]) == {"deletion", "sparseness"}  # runtime is a cost: not judged
    assert set(meta["test"]) == {"model", "input", "both"} and meta["mc"].between(0, 1).all()
    sweep = pd.read_csv(out / "sweep.csv")
    assert list(sweep.columns[:9]) == [
        "dataset",
        "model",
        "metric",
        "variant",
        "settings",
        "kendall_tau",
        "top_method",
        "recommended_holds",
        "control_last",
    ]
    assert sweep["variant"].tolist() == ["configured", "sweep:baseline=mean"]

    v = verdict.read(out / "verdict.csv")
    both = meta[meta.test == "both"].set_index("metric")["mc"].to_dict()
    weak = unreliable(both)
    assert weak  # two metrics: the lower one is in the bottom half
    for row in v.itertuples():
        if not row.recommended:
            assert row.decided_by == ""
            continue
        decided = [part.split(" (")[0] for part in row.decided_by.split(", ")]
        named = [m for m in decided if m in weak]
        for metric in named:
            assert f"{metric} (MC {both[metric]:.2f})" in row.note
        assert ("rests on unreliable metrics" in row.note) == bool(named)
    assert v["note"].str.contains("rests on unreliable metrics").any()
    page = (out / "report.html").read_text()
    assert (
        "Which metrics to trust" in page
        and "Which metrics to trust" in (out / "leaderboard.md").read_text()
    )

    # resumable: nothing left to compute; the report is rebuilt from the store alone
    assert main([*args, "--config", str(full)]) == 0
    assert "66 cells: 0 computed, 66 reused" in capsys.readouterr().out
    (out / "meta.csv").unlink()
    assert main(["report", str(out)]) == 0
    assert pd.read_csv(out / "meta.csv").equals(meta)

    # back to the plain config: the outputs are those of the run as configured again
    assert main([*args, "--config", str(plain)]) == 0
    assert not (out / "meta.csv").exists() and not (out / "sweep.csv").exists()
    assert (out / "leaderboard.csv").read_text() == board
