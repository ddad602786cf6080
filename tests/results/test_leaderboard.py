import numpy as np
import pandas as pd
import pytest

import xaibench as xb
from xaibench.results import bootstrap_ci


def long_table(scores: dict, metric="deletion"):
    rows = [
        {"method": m, "metric": metric, "sample": i, "score": s}
        for m, values in scores.items()
        for i, s in enumerate(values)
    ]
    return pd.DataFrame(rows)


def test_mean_n_and_rank_respect_direction():
    df = long_table({"a": [1.0, 2.0, 3.0], "b": [4.0, 5.0, np.nan]}, metric="deletion")
    board = xb.leaderboard(df).set_index("method")
    assert board.loc["a", "mean"] == 2.0 and board.loc["b", "mean"] == 4.5
    assert board.loc["a", "n"] == 3 and board.loc["b", "n"] == 2
    assert board.loc["a", "rank"] == 1 and board.loc["b", "rank"] == 2  # deletion: lower is better
    board = xb.leaderboard(long_table({"a": [1.0, 2.0, 3.0], "b": [4.0, 5.0]}, "insertion"))
    assert board.set_index("method").loc["b", "rank"] == 1  # insertion: higher is better


def test_ties_share_the_best_rank_and_empty_groups_have_no_rank():
    df = long_table({"a": [1.0, 1.0], "b": [1.0, 1.0], "c": [np.nan, np.nan]}, "insertion")
    board = xb.leaderboard(df).set_index("method")
    assert board.loc["a", "rank"] == 1 and board.loc["b", "rank"] == 1
    assert pd.isna(board.loc["c", "rank"]) and board.loc["c", "n"] == 0


def test_columns_follow_the_contract():
    df = long_table({"a": [1.0, 2.0]})
    df["dataset"], df["model"] = "digits", "cnn"
    assert list(xb.leaderboard(df).columns) == [
        "dataset",
        "model",
        "method",
        "metric",
        "category",
        "higher_is_better",
        "mean",
        "ci_low",
        "ci_high",
        "n",
        "rank",
        "tradeoff",
        "control",
    ]


def test_metadata_comes_from_the_table_and_xb_leaderboard_fills_it_from_the_registry():
    from xaibench.results.leaderboard import leaderboard

    df = long_table({"a": [1.0, 2.0], "b": [0.5, 0.5]})
    with pytest.raises(ValueError, match="missing category, higher_is_better"):
        leaderboard(df)  # the results layer never looks metrics up
    filled = xb.leaderboard(df).set_index("method")
    assert (filled["category"] == "faithfulness").all() and not filled["higher_is_better"].any()
    assert (filled["tradeoff"] == "faithfulness").all()
    both = xb.leaderboard(long_table({"saliency": [1.0], "random": [2.0], "mine": [3.0]}))
    assert both.set_index("method")["control"].to_dict() == {
        "random": True,  # from the method registry
        "saliency": False,
        "mine": False,  # not registered: no control
    }
    # a table's own metadata wins: a user's "deletion" where higher is better
    own = leaderboard(df.assign(category="complexity", higher_is_better=True)).set_index("method")
    assert own.loc["a", "rank"] == 1 and own.loc["a", "category"] == "complexity"
    assert "tradeoff" not in own.columns


def test_ranks_are_within_dataset_model_and_metric():
    a = long_table({"x": [1.0], "y": [2.0]}, "insertion").assign(dataset="d", model="m1")
    b = long_table({"x": [3.0], "y": [0.0]}, "insertion").assign(dataset="d", model="m2")
    board = xb.leaderboard(pd.concat([a, b]))
    top = board[board["rank"] == 1].set_index("model")["method"]
    assert top["m1"] == "y" and top["m2"] == "x"


def test_bootstrap_ci_contains_the_mean_is_seeded_and_shrinks_with_n():
    rng = np.random.default_rng(1)
    small, large = rng.normal(size=20), rng.normal(size=2000)
    lo, hi = bootstrap_ci(small, seed=3)
    assert lo < small.mean() < hi
    assert bootstrap_ci(small, seed=3) == (lo, hi)
    lo2, hi2 = bootstrap_ci(large, seed=3)
    assert hi2 - lo2 < (hi - lo) / 4
    # sd of the mean is 1/sqrt(n): the 95% interval is about +-1.96/sqrt(n)
    np.testing.assert_allclose(hi2 - lo2, 2 * 1.96 / np.sqrt(2000), rtol=0.15)
    assert bootstrap_ci(np.array([2.5])) == (2.5, 2.5)
    assert all(np.isnan(bootstrap_ci(np.array([np.nan]))))


def test_leaderboard_is_deterministic_for_a_seed():
    df = long_table({"a": list(np.linspace(0, 1, 30)), "b": list(np.linspace(0.2, 1.2, 30))})
    pd.testing.assert_frame_equal(xb.leaderboard(df, seed=5), xb.leaderboard(df, seed=5))


def test_missing_columns_raise():
    with pytest.raises(ValueError, match="score"):
        xb.leaderboard(pd.DataFrame({"method": ["a"], "metric": ["deletion"]}))


def test_markdown_table_shows_a_method_without_finite_scores():
    from xaibench.results.tables import leaderboard_markdown

    df = long_table({"a": [1.0, 2.0], "c": [np.nan, np.nan]}, "insertion")
    df["dataset"], df["model"] = "digits", "cnn"
    text = leaderboard_markdown(xb.leaderboard(df))
    assert "**1.5" in text
    assert "| c |" in text
