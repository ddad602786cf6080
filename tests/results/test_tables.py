"""tables.py: runtime with its unit and without an interval, the one check of a method/metric
selection, and the Markdown leaderboard around them."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from xaibench.results.tables import (
    RUNTIME_METRIC,
    RUNTIME_NOTE,
    TIME_UNITS,
    fmt_time,
    leaderboard_markdown,
    select,
    time_unit,
    wide,
)

MS, US, S = ("ms", 1e-3), ("µs", 1e-6), ("s", 1.0)


def board(runtimes: dict[str, float], dataset="digits", model="cnn") -> pd.DataFrame:
    """A leaderboard of deletion and runtime; runtime ``n`` is 8, its interval the mean (as a
    run gives it: the samples of a batch share one time)."""
    rows = []
    for i, (method, seconds) in enumerate(runtimes.items()):
        rows.append((method, "deletion", "faithfulness", False, 0.1 * (i + 1), i + 1))
        rows.append((method, RUNTIME_METRIC, "cost", False, seconds, np.nan))
    df = pd.DataFrame(
        rows, columns=["method", "metric", "category", "higher_is_better", "mean", "rank"]
    )
    df["rank"] = df.groupby("metric")["mean"].rank(method="min").astype("Int64")
    return df.assign(
        dataset=dataset,
        model=model,
        ci_low=df["mean"] - 0.01 * (df.metric != RUNTIME_METRIC),
        ci_high=df["mean"] + 0.01 * (df.metric != RUNTIME_METRIC),
        n=8,
        tie="",
    )


# time units -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "seconds, unit",
    [
        ([3e-6, 2e-4, 4.4e-2], US),  # the quick suite's spread: median 200 µs
        ([1.2e-3, 5e-3, 0.3], MS),
        ([0.5, 2.0, 30.0], S),
        ([4e-9, 5e-7], ("ns", 1e-9)),
        ([1e-3, np.nan, np.inf], MS),  # non-finite values do not count
        ([], ("ns", 1e-9)),
    ],
)
def test_time_unit_is_where_the_median_reads_at_least_one(seconds, unit):
    assert time_unit(seconds) == unit


def test_time_unit_keeps_most_values_between_1_and_1000():
    seconds = np.geomspace(2e-6, 5e-2, 11)
    name, size = time_unit(seconds)
    values = seconds / size
    assert np.mean((values >= 1) & (values < 1000)) > 0.5
    assert name in dict(TIME_UNITS)


@pytest.mark.parametrize(
    "seconds, unit, text",
    [
        (0.01234, MS, "12.3 ms"),
        (1.45, S, "1.45 s"),
        (2.31e-6, US, "2.31 µs"),
        (4.4351e-2, US, "44351 µs"),  # the slowest of a µs column: all its digits
        (2.3e-6, MS, "0.00230 ms"),  # never scientific notation
        (0.0, MS, "0.00 ms"),
        (np.nan, MS, "–"),
    ],
)
def test_fmt_time(seconds, unit, text):
    assert fmt_time(seconds, unit) == text


# wide / markdown ------------------------------------------------------------------------------
def test_runtime_cells_have_a_unit_and_no_interval():
    b = board({"saliency": 2.26e-4, "occlusion": 4.4351e-2, "random": 1.1e-5})
    header, rows = wide(b)
    col = header.index(f"{RUNTIME_METRIC} ↓")
    cells = {r[0]: r[col] for r in rows}
    assert cells == {"occlusion": "44351 µs", "random": "**11.0 µs**", "saliency": "226 µs"}
    deletion = {r[0]: r[header.index("deletion ↓")] for r in rows}
    assert deletion["saliency"] == "**0.1 [0.09, 0.11]**"  # other metrics are as before


def test_controls_are_last_marked_and_never_bold():
    """random is the fastest (rank 1 on runtime) and sobel the best on deletion: neither is
    bold; the best of the other methods is, and the controls are the last rows, marked."""
    b = board({"sobel": 2e-5, "saliency": 2.26e-4, "occlusion": 4.4351e-2, "random": 1.1e-5})
    b = b.assign(control=b["method"].isin(["random", "sobel"]))
    header, rows = wide(b)
    assert [r[0] for r in rows] == ["occlusion", "saliency", "random (control)", "sobel (control)"]
    runtime = {r[0]: r[header.index(f"{RUNTIME_METRIC} ↓")] for r in rows}
    assert runtime == {
        "occlusion": "44351 µs",
        "saliency": "**226 µs**",
        "random (control)": "11.0 µs",
        "sobel (control)": "20.0 µs",
    }
    deletion = {r[0]: r[header.index("deletion ↓")] for r in rows}
    assert deletion["sobel (control)"] == "0.1 [0.09, 0.11]"  # rank 1, a control: not bold
    assert deletion["saliency"] == "**0.2 [0.19, 0.21]**"  # the best of the others
    assert "random (control)" in leaderboard_markdown(b)


def test_runtime_unit_is_chosen_per_table():
    b = pd.concat(
        [
            board({"a": 1e-5, "b": 2e-5, "c": 3e-5}, model="linear"),
            board({"a": 0.2, "b": 0.3, "c": 0.4}, model="cnn"),
        ]
    )
    text = leaderboard_markdown(b)
    cnn, linear = text.split("## digits / cnn")[1].split("## digits / linear")
    assert re.findall(r"\d ([µm]?s)\*{0,2} \|", cnn) == ["ms"] * 3
    assert re.findall(r"\d ([µm]?s)\*{0,2} \|", linear) == ["µs"] * 3
    assert "[" not in "".join(line.split(" | ")[-1] for line in text.splitlines() if "| " in line)


def test_markdown_explains_runtime_only_when_it_shows_one():
    b = board({"a": 1e-5, "b": 2e-5})
    assert RUNTIME_NOTE in leaderboard_markdown(b)
    assert RUNTIME_NOTE not in leaderboard_markdown(b[b.metric != RUNTIME_METRIC])


# selection ------------------------------------------------------------------------------------
def test_select_keeps_the_chosen_rows():
    b = board({"saliency": 1e-4, "occlusion": 2e-3, "random": 1e-6})
    shown = select(b, methods=["random", "saliency", "random"], metrics="deletion")
    assert sorted(shown["method"]) == ["random", "saliency"]
    assert set(shown["metric"]) == {"deletion"}
    assert select(b) is not None and len(select(b)) == len(b)


def test_select_names_every_unknown_name():
    b = board({"saliency": 1e-4, "random": 1e-6})
    with pytest.raises(ValueError, match=r"unknown methods: 'salincy', 'x_&%' \(this run has"):
        select(b, methods=["saliency", "salincy", "x_&%"])
    with pytest.raises(ValueError, match="unknown metrics: 'insertion'"):
        select(b, methods=["saliency"], metrics=["deletion", "insertion"])
    with pytest.raises(ValueError, match="no metrics selected"):
        select(b, metrics=[])


def test_select_refuses_a_selection_without_scores():
    b = board({"saliency": 1e-4, "random": 1e-6})
    b = b[~((b.method == "saliency") & (b.metric == "deletion"))]
    with pytest.raises(ValueError, match="have no scores of metrics 'deletion'"):
        select(b, methods=["saliency"], metrics=["deletion"])
