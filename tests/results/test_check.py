"""The regression gate: ``xaibench.results.check.compare`` and ``xaibench check``."""

import json
import re
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from xaibench.cli import main
from xaibench.results.check import (
    COLUMNS,
    compare,
    failures,
    format_report,
    read_baseline,
    read_run,
    to_json,
)

HEADER = ["dataset", "model", "method", "metric", "category", "higher_is_better"]
HEADER += ["mean", "ci_low", "ci_high", "n", "rank"]
ROWS = [
    ["digits", "cnn", "saliency", "deletion", "faithfulness", False, 0.30, 0.28, 0.32, 32, 1],
    ["digits", "cnn", "random", "deletion", "faithfulness", False, 0.50, 0.48, 0.52, 32, 2],
    ["digits", "cnn", "saliency", "insertion", "faithfulness", True, 0.60, 0.58, 0.62, 32, 1],
    ["digits", "cnn", "random", "insertion", "faithfulness", True, 0.40, 0.38, 0.42, 32, 2],
    ["digits", "cnn", "saliency", "runtime", "cost", False, 0.01, 0.009, 0.011, 32, 1],
]


def board(rows=ROWS) -> pd.DataFrame:
    return pd.DataFrame([list(r) for r in rows], columns=HEADER)


def planted(method, metric, mean, half_width=0.02, rows=ROWS) -> pd.DataFrame:
    """The baseline with one row's mean and interval moved."""
    b = board(rows)
    at = (b.method == method) & (b.metric == metric)
    b.loc[at, ["mean", "ci_low", "ci_high"]] = [mean, mean - half_width, mean + half_width]
    return b


def status(result, method, metric) -> str:
    row = result[(result.method == method) & (result.metric == metric)]
    return row["status"].item()


def test_a_run_against_itself_is_ok():
    result = compare(board(), board())
    assert list(result.columns) == COLUMNS
    assert set(result["status"]) == {"ok"} and len(result) == 4  # runtime not gated
    np.testing.assert_allclose(result["change"], 0.0)
    assert failures(result).empty and result.attrs["skipped"] == 1


@pytest.mark.parametrize(
    "method, metric, mean, half_width, expected",
    [
        ("saliency", "deletion", 0.40, 0.02, "regression"),  # lower is better, went up
        ("saliency", "insertion", 0.50, 0.02, "regression"),  # higher is better, went down
        ("saliency", "deletion", 0.20, 0.02, "improvement"),
        ("saliency", "insertion", 0.70, 0.02, "improvement"),
        ("saliency", "deletion", 0.36, 0.05, "ok"),  # +20% but the intervals overlap
        ("saliency", "deletion", 0.31, 0.001, "ok"),  # intervals apart but +3.3% < 5%
    ],
)
def test_status_needs_both_separate_intervals_and_the_tolerance(
    method, metric, mean, half_width, expected
):
    result = compare(planted(method, metric, mean, half_width), board())
    assert status(result, method, metric) == expected
    others = result[(result.method != method) | (result.metric != metric)]
    assert set(others["status"]) == {"ok"}
    assert (len(failures(result)) == 1) == (expected == "regression")


def test_change_is_relative_to_the_baseline_mean():
    result = compare(planted("saliency", "deletion", 0.36), board())
    row = result[(result.method == "saliency") & (result.metric == "deletion")].iloc[0]
    np.testing.assert_allclose(row["change"], (0.36 - 0.30) / 0.30)
    assert status(compare(board(), board(), tolerance=0.0), "random", "deletion") == "ok"
    loose = compare(planted("saliency", "deletion", 0.36), board(), tolerance=0.25)
    assert status(loose, "saliency", "deletion") == "ok"


def test_a_mean_near_zero_is_measured_against_the_metric_scale():
    # completeness error: 0.001 among methods at 0.5 and 0.7; floor = 0.1 * median(0.001, .5, .7)
    rows = [
        ["d", "m", "ig", "completeness", "axiomatic", False, 0.001, 0.0009, 0.0011, 8, 1],
        ["d", "m", "saliency", "completeness", "axiomatic", False, 0.5, 0.49, 0.51, 8, 2],
        ["d", "m", "random", "completeness", "axiomatic", False, 0.7, 0.69, 0.71, 8, 3],
    ]
    run = planted("ig", "completeness", 0.002, 0.0001, rows=rows)
    result = compare(run, board(rows))
    np.testing.assert_allclose(result.set_index("method").loc["ig", "change"], 0.001 / 0.05)
    assert status(result, "ig", "completeness") == "ok"
    run = planted("ig", "completeness", 0.01, 0.0001, rows=rows)
    assert status(compare(run, board(rows)), "ig", "completeness") == "regression"


def test_missing_rows_fail_unless_allowed_and_new_rows_never_fail():
    occlusion = ["digits", "cnn", "occlusion", "deletion", "faithfulness", False, 0.9, 0.8, 1.0]
    run = board(ROWS[1:] + [occlusion + [32, 3]])  # saliency/deletion gone, occlusion new
    result = compare(run, board())
    assert status(result, "saliency", "deletion") == "missing"
    assert status(result, "occlusion", "deletion") == "new"
    assert len(failures(result)) == 1
    assert failures(compare(run, board(), allow_missing=True)).empty
    nan_run = planted("random", "insertion", np.nan)
    assert status(compare(nan_run, board()), "random", "insertion") == "missing"


def test_cost_metrics_are_gated_only_on_request():
    run = planted("saliency", "runtime", 1.0, 0.1)
    assert "runtime" not in set(compare(run, board())["metric"])
    assert status(compare(run, board(), include_cost=True), "saliency", "runtime") == "regression"


def test_boards_without_dataset_and_model_match_on_method_and_metric():
    base = board().drop(columns=["dataset", "model"])
    run = planted("saliency", "insertion", 0.5).drop(columns=["dataset", "model"])
    result = compare(run, base)
    assert "dataset" not in result.columns
    assert status(result, "saliency", "insertion") == "regression"
    with pytest.raises(ValueError, match="no column.*dataset"):
        compare(run, board())


def test_a_direction_mismatch_is_an_error():
    run = board()
    run.loc[run.metric == "deletion", "higher_is_better"] = True
    with pytest.raises(ValueError, match="'deletion' has higher_is_better=False in the baseline"):
        compare(run, board())


@pytest.mark.parametrize("tolerance", [-0.1, np.nan, np.inf])
def test_a_bad_tolerance_is_an_error(tolerance):
    with pytest.raises(ValueError, match="tolerance"):
        compare(board(), board(), tolerance=tolerance)


def test_report_lists_regressions_then_improvements_and_a_summary():
    run = planted("saliency", "deletion", 0.40)
    run.loc[3, ["mean", "ci_low", "ci_high"]] = [0.5, 0.48, 0.52]  # random/insertion better
    text = format_report(compare(run, board()))
    assert text.index("Regressions") < text.index("Improvements")
    assert "saliency" in text and "0.3 [0.28, 0.32]" in text and "+33.3%" in text
    assert text.splitlines()[-1] == (
        "xaibench check FAILED: 1 regression(s), 0 missing, 1 improvement(s), 2 ok, 0 new "
        "(tolerance 5.0%; 1 cost row(s) not gated)"
    )
    assert "passed" in format_report(compare(board(), board())).splitlines()[-1]


def test_json_holds_summary_rows_and_tolerance():
    data = json.loads(to_json(compare(planted("saliency", "deletion", 0.40), board())))
    assert data["passed"] is False and data["tolerance"] == 0.05
    assert data["summary"] == {
        "ok": 3,
        "regression": 1,
        "improvement": 0,
        "missing": 0,
        "new": 0,
        "skipped_cost": 1,
    }
    assert data["regressions"][0]["method"] == "saliency" and data["missing"] == []


# -- reading boards ---------------------------------------------------------------------------


def test_read_run_prefers_leaderboard_csv_and_falls_back_to_the_store(tmp_path):
    from xaibench.store import Store

    with pytest.raises(ValueError, match="neither leaderboard.csv nor results.sqlite"):
        read_run(tmp_path)
    with pytest.raises(ValueError, match="does not exist"):
        read_run(tmp_path / "nowhere")
    metric = SimpleNamespace(category="faithfulness", higher_is_better=False)
    with Store(tmp_path / "results.sqlite") as store:
        run_id = store.start_run({}, {}, "test")
        for method, scores in (("saliency", [0.1, 0.3]), ("random", [0.5, 0.5])):
            ids = dict(dataset="d", model="m", method=method, metric="deletion", model_key="k")
            store.put_cell(
                method,
                ids=ids,
                metric=metric,
                status="ok",
                settings={},
                version="0",
                run_id=run_id,
                samples=np.arange(2),
                scores=np.array(scores),
            )
            store.link(run_id, [method])
    run = read_run(tmp_path).set_index("method")
    assert run.loc["saliency", "mean"] == pytest.approx(0.2)
    assert not (tmp_path / "leaderboard.csv").exists()  # nothing written
    board().to_csv(tmp_path / "leaderboard.csv", index=False)
    assert len(read_run(tmp_path)) == len(ROWS)


def test_read_baseline_accepts_true_false_spellings(tmp_path):
    path = tmp_path / "baseline.csv"
    b = board()
    b["higher_is_better"] = b["higher_is_better"].map({True: "true", False: "0"})
    b.to_csv(path, index=False)
    assert read_baseline(path)["higher_is_better"].tolist() == [False, False, True, True, False]
    path.rename(tmp_path / "leaderboard.csv")
    assert len(read_baseline(tmp_path)) == len(ROWS)  # a directory stands for its leaderboard.csv


# -- the command line -------------------------------------------------------------------------


@pytest.fixture
def files(tmp_path):
    """A baseline CSV and a run directory holding the same leaderboard."""
    baseline, run = tmp_path / "baseline.csv", tmp_path / "run"
    run.mkdir()
    board().to_csv(baseline, index=False)
    board().to_csv(run / "leaderboard.csv", index=False)
    return SimpleNamespace(baseline=baseline, run=run)


def check(files, *extra):
    return main(["check", "--baseline", str(files.baseline), str(files.run), *extra])


def test_cli_a_run_against_itself_passes(files, capsys):
    assert check(files) == 0
    out = capsys.readouterr().out
    assert out.strip().splitlines()[-1].startswith("xaibench check passed: 0 regression(s)")


def test_cli_a_planted_regression_exits_1_and_is_named(files, capsys):
    planted("saliency", "insertion", 0.50).to_csv(files.run / "leaderboard.csv", index=False)
    assert check(files) == 1
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if "saliency" in ln)
    assert "insertion" in line and "0.6 [0.58, 0.62]" in line and "0.5 [0.48, 0.52]" in line
    assert check(files, "--tolerance", "0.2") == 0  # -16.7% is within 20%


def test_cli_improvements_do_not_fail(files, capsys):
    planted("saliency", "insertion", 0.70).to_csv(files.run / "leaderboard.csv", index=False)
    assert check(files) == 0
    assert "Improvements:" in capsys.readouterr().out


def test_cli_missing_rows_fail_unless_allowed(files, capsys):
    board(ROWS[:-2]).to_csv(files.run / "leaderboard.csv", index=False)
    assert check(files) == 1
    assert "Missing from the run" in capsys.readouterr().out
    assert check(files, "--allow-missing") == 0
    assert "1 missing (allowed)" in capsys.readouterr().out


def test_cli_json_is_the_only_output(files, capsys):
    planted("random", "deletion", 0.7).to_csv(files.run / "leaderboard.csv", index=False)
    assert check(files, "--json") == 1
    data = json.loads(capsys.readouterr().out)
    assert [r["method"] for r in data["regressions"]] == ["random"]


DUPLICATED = "\n".join([",".join(HEADER), *[",".join(map(str, ROWS[0]))] * 2])


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "does not exist"),
        (
            "dataset,model,method,metric\nd,m,a,deletion\n",
            r"lacks column\(s\) higher_is_better, mean",
        ),
        ("\x00\x01garbage\n\xff,,\n1,2,3,4\n", "not a readable CSV|lacks column"),
        ("", "is empty"),
        (DUPLICATED, "duplicate keys.*digits/cnn/saliency/deletion appears 2 times"),
        (DUPLICATED.replace("0.3", "abc", 1), "column mean must be numeric, got 'abc'"),
        (",".join(HEADER) + "\n", "has no rows"),
        (DUPLICATED.replace("False", "maybe", 1), "higher_is_better must hold True/False"),
    ],
    ids=[
        "missing-file",
        "missing-columns",
        "garbage",
        "empty",
        "duplicates",
        "non-numeric",
        "no-rows",
        "bad-bool",
    ],
)
def test_cli_malformed_baselines_exit_2_naming_the_problem(files, capsys, content, message):
    if content is None:
        files.baseline.unlink()
    else:
        files.baseline.write_bytes(content.encode("latin-1"))
    assert check(files) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    err = captured.err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("xaibench: error: baseline ")
    assert str(files.baseline) in err
    assert re.search(message, err), err


def test_cli_bad_run_directory_and_tolerance_exit_2(files, capsys):
    (files.run / "leaderboard.csv").unlink()
    assert check(files) == 2
    assert "neither leaderboard.csv nor results.sqlite" in capsys.readouterr().err
    board().to_csv(files.run / "leaderboard.csv", index=False)
    assert check(files, "--tolerance", "-1") == 2
    assert "tolerance must be a finite number >= 0" in capsys.readouterr().err


def test_cli_direction_mismatch_exits_2(files, capsys):
    run = board()
    run["higher_is_better"] = ~run["higher_is_better"]
    run.to_csv(files.run / "leaderboard.csv", index=False)
    assert check(files) == 2
    assert "higher_is_better" in capsys.readouterr().err
