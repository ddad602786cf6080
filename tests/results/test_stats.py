import numpy as np
import pandas as pd
import pytest
from scipy import stats

from xaibench.results.leaderboard import leaderboard
from xaibench.results.stats import (
    add_ties,
    aggregate_ranks,
    holm,
    metric_agreement,
    metric_agreement_long,
    rank_stability,
    signed_rank_test,
    significance,
)


def long_table(scores: dict, metric="insertion", category="faithfulness", higher=True, **keys):
    """Long per-sample table; ``scores`` maps method -> per-sample scores."""
    rows = [
        {"method": m, "metric": metric, "sample": i, "score": s}
        for m, values in scores.items()
        for i, s in enumerate(values)
    ]
    df = pd.DataFrame(rows).assign(category=category, higher_is_better=higher)
    return df.assign(dataset=keys.get("dataset", "d"), model=keys.get("model", "m"))


def board_table(means: dict, **keys):
    """Hand-made board; ``means`` maps metric -> (higher_is_better, {method: mean})."""
    rows = [
        {"metric": metric, "category": "faithfulness", "higher_is_better": higher, "method": m}
        | {"mean": v}
        for metric, (higher, values) in means.items()
        for m, v in values.items()
    ]
    return pd.DataFrame(rows).assign(dataset=keys.get("dataset", "d"), model=keys.get("model", "m"))


@pytest.fixture
def four_methods():
    """a clearly above b; c identical to b; d clearly below; a misses sample 0."""
    rng = np.random.default_rng(0)
    base = rng.normal(size=12)
    a = base + 1 + 0.1 * rng.normal(size=12)
    a[0] = np.nan
    d = base - 1 + 0.1 * rng.normal(size=12)
    return long_table({"a": a, "b": base, "c": base.copy(), "d": d})


# Holm (1979) by hand for p = [0.01, 0.04, 0.03, 0.005], m = 4:
# sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 -> 0.02, 0.03, 0.06, 0.04;
# running maximum -> 0.02, 0.03, 0.06, 0.06; back in input order -> 0.03, 0.06, 0.06, 0.02.
@pytest.mark.parametrize(
    "p, expected",
    [
        ([0.01, 0.04, 0.03, 0.005], [0.03, 0.06, 0.06, 0.02]),
        ([0.01, np.nan, 0.04], [0.02, np.nan, 0.04]),  # NaN passes, m = 2
        ([0.6, 0.7], [1.0, 1.0]),  # 1.2 clipped to 1; monotone
        ([], []),
    ],
)
def test_holm_matches_hand_computed_values(p, expected):
    np.testing.assert_allclose(holm(p), expected, rtol=1e-12, atol=0)


def test_holm_keeps_shape_and_rejects_values_outside_unit_interval():
    np.testing.assert_allclose(holm([[0.01, 0.04], [0.03, 0.005]]), [[0.03, 0.06], [0.06, 0.02]])
    with pytest.raises(ValueError, match="pvalues"):
        holm([0.5, 1.5])


def test_significance_tests_adjacent_pairs_like_scipy(four_methods):
    sig = significance(four_methods, leaderboard(four_methods))
    assert list(sig.columns) == [
        "dataset",
        "model",
        "metric",
        "method_a",
        "method_b",
        "n_pairs",
        "statistic",
        "p_value",
        "p_holm",
        "significant",
    ]
    assert list(zip(sig["method_a"], sig["method_b"], strict=True)) == [
        ("a", "b"),
        ("b", "c"),
        ("c", "d"),
    ]
    wide = four_methods.pivot(index="sample", columns="method", values="score")
    ab = stats.wilcoxon(wide["a"][1:], wide["b"][1:], alternative="two-sided")
    cd = stats.wilcoxon(wide["c"], wide["d"], alternative="two-sided")
    np.testing.assert_allclose(sig["p_value"], [ab.pvalue, 1.0, cd.pvalue], rtol=1e-12)
    np.testing.assert_allclose(sig["statistic"], [ab.statistic, np.nan, cd.statistic])
    np.testing.assert_allclose(sig["p_holm"], holm(sig["p_value"]), rtol=1e-12)
    assert sig["n_pairs"].tolist() == [11, 12, 12]
    assert sig["significant"].tolist() == [True, False, True]


def test_signed_rank_test_by_hand():
    # d = (1, -2, 2, 0): the zero dropped, |d| ranks 1, 2.5, 2.5, R+ = 1 + 2.5 = 3.5 of 6.
    # The 8 sign patterns give R+ in {0, 1, 2.5, 2.5, 3.5, 3.5, 5, 6}: 6 of them <= 3.5, 4 >= 3.5
    statistic, p = signed_rank_test(np.array([1.0, -2.0, 2.0, 0.0]), "two-sided")
    assert statistic == 2.5 and p == 1.0  # min(R+, R-); 2 * min(6/8, 4/8)
    assert signed_rank_test(np.array([1.0, -2.0, 2.0, 0.0]), "less")[1] == 6 / 8
    assert signed_rank_test(np.array([1.0, -2.0, 2.0, 0.0]), "greater")[1] == 4 / 8


@pytest.mark.parametrize("alternative", ["two-sided", "less", "greater"])
def test_signed_rank_test_gives_scipys_numbers(alternative):
    """The exact sign-flip test computed at once gives scipy's p-values exactly: the same counts
    of the same patterns (ties and zeros, n <= 13); without ties, or more pairs, it is scipy's."""
    rng = np.random.default_rng(0)
    cases = [rng.integers(-3, 4, size=n).astype(float) for n in (3, 5, 8, 11, 13)]
    cases += [rng.normal(size=8), rng.normal(size=20), np.r_[rng.integers(-2, 3, 16), 0.5]]
    for d in cases:
        if not d.any():
            continue
        expected = stats.wilcoxon(d, alternative=alternative)
        assert signed_rank_test(d, alternative) == (expected.statistic, expected.pvalue), d


def test_signed_rank_test_zsplit_by_hand():
    """zsplit (the meta-evaluation's IAC): d = (1, -2, 2, 0): |d| ranked with the zero, 1, 2,
    3.5, 3.5; the zero's rank 1 split, R+ = 2 + 3.5 + 0.5 = 6, R- = 3.5 + 0.5 = 4. The 8 sign
    patterns of (2, 3.5, 3.5) plus 0.5 give R+ in {0.5, 2.5, 4, 4, 6, 6, 7.5, 9.5}: 6 of them
    <= 6, 4 >= 6; every difference zero gives p = 1 (one zero too, where scipy raises)."""
    d = np.array([1.0, -2.0, 2.0, 0.0])
    assert signed_rank_test(d, "two-sided", "zsplit") == (4.0, 1.0)  # min(R+, R-); 2 * 4/8
    assert signed_rank_test(d, "less", "zsplit") == (6.0, 6 / 8)
    assert signed_rank_test(d, "greater", "zsplit") == (6.0, 4 / 8)
    assert signed_rank_test(np.zeros(3), "two-sided", "zsplit")[1] == 1.0
    assert signed_rank_test(np.zeros(1), "two-sided", "zsplit")[1] == 1.0
    with pytest.raises(ValueError, match="zero_method"):
        signed_rank_test(d, "two-sided", "pratt")


@pytest.mark.parametrize("alternative", ["two-sided", "less", "greater"])
def test_signed_rank_test_zsplit_gives_scipys_numbers(alternative):
    rng = np.random.default_rng(1)
    cases = [rng.integers(-3, 4, size=n).astype(float) for n in (2, 3, 5, 8, 11, 13)]
    cases += [rng.normal(size=8), rng.normal(size=20), np.r_[rng.integers(-2, 3, 16), 0.5]]
    cases += [np.zeros(5), np.r_[np.zeros(14), 1.0], np.array([2.5])]
    for d in cases:
        expected = stats.wilcoxon(d, alternative=alternative, zero_method="zsplit")
        statistic, p = signed_rank_test(d, alternative, "zsplit")
        assert (statistic, p) == (expected.statistic, expected.pvalue), d


def test_identical_methods_share_a_tie_marker(four_methods):
    board = leaderboard(four_methods)
    tied = add_ties(board, significance(four_methods, board))
    assert list(tied.columns) == list(board.columns) + ["p_next", "tie"]
    tied = tied.set_index("method")
    assert tied["tie"].to_dict() == {"a": "", "b": "a", "c": "a", "d": ""}
    assert tied.loc["b", "p_next"] == 1.0 and np.isnan(tied.loc["d", "p_next"])


def test_tie_letters_follow_chains_of_non_significant_pairs():
    board = pd.DataFrame({"method": list("vwxyz"), "metric": "m", "rank": [1, 2, 3, 4, 5]})
    sig = pd.DataFrame(
        {
            "metric": "m",
            "method_a": list("vwxy"),
            "method_b": list("wxyz"),
            "p_holm": [0.5, 0.01, 0.02, 0.3],
            "significant": [False, True, True, False],
        }
    )
    assert add_ties(board, sig)["tie"].tolist() == ["a", "a", "", "b", "b"]


def test_significance_survives_too_few_pairs_and_single_methods():
    df = long_table({"a": [1.0, np.nan], "b": [0.0, 3.0]})
    df = pd.concat([df, long_table({"solo": [1.0, 2.0]}, metric="deletion", higher=False)])
    sig = significance(df, leaderboard(df))
    assert len(sig) == 1
    row = sig.iloc[0]
    assert row["n_pairs"] == 1 and row["p_value"] == 1.0 and not row["significant"]


def test_aggregate_ranks_follow_direction_and_leave_cost_out():
    df = pd.concat(
        [
            long_table({"x": [2.0, 3.0], "y": [1.0, 1.0]}, "insertion"),
            long_table({"x": [0.1, 0.2], "y": [0.5, 0.6]}, "deletion", higher=False),
            long_table({"x": [9.0, 9.0], "y": [1.0, 1.0]}, "runtime", "cost", higher=False),
        ]
    )
    ranks = aggregate_ranks(leaderboard(df))
    assert list(ranks.columns) == [
        "dataset",
        "model",
        "method",
        "rank_faithfulness",
        "rank_cost",
        "rank_overall",
        "overall",
    ]
    ranks = ranks.set_index("method")
    assert ranks["rank_faithfulness"].to_dict() == {"x": 1.0, "y": 2.0}
    assert ranks["rank_cost"].to_dict() == {"x": 2.0, "y": 1.0}
    # with cost counted, x and y would tie at 1.5
    assert ranks["rank_overall"].to_dict() == {"x": 1.0, "y": 2.0}
    assert ranks["overall"].tolist() == [1, 2]


def test_overall_weighs_categories_equally():
    df = pd.concat(
        [
            long_table({"x": [2.0], "y": [1.0]}, "f1"),
            long_table({"x": [2.0], "y": [1.0]}, "f2"),
            long_table({"x": [1.0], "y": [2.0]}, "f3"),
            long_table({"x": [5.0], "y": [1.0]}, "c1", "complexity", higher=False),
        ]
    )
    ranks = aggregate_ranks(leaderboard(df)).set_index("method").loc[["x", "y"]]
    np.testing.assert_allclose(ranks["rank_faithfulness"], [4 / 3, 5 / 3])
    np.testing.assert_allclose(ranks["rank_complexity"], [2.0, 1.0])
    # category mean: x (4/3 + 2) / 2 = 5/3, y (5/3 + 1) / 2 = 4/3; a plain mean of the four
    # metric ranks would tie them at 1.5
    np.testing.assert_allclose(ranks["rank_overall"], [5 / 3, 4 / 3])
    assert ranks["overall"].to_dict() == {"x": 2, "y": 1}


@pytest.mark.parametrize("higher", [True, False])
def test_a_dominant_method_always_stays_on_top(higher):
    base = np.random.default_rng(1).normal(size=20)
    best = base + 5 if higher else base - 5
    df = long_table({"best": best, "other": base}, higher=higher)
    out = rank_stability(df, n_boot=200)
    assert list(out.columns) == ["dataset", "model", "metric", "top_method", "p_top"]
    assert out["top_method"].tolist() == ["best"] and out["p_top"].tolist() == [1.0]


def test_identical_scores_split_the_top_evenly():
    values = np.arange(10.0)
    out = rank_stability(long_table({"a": values, "b": values.copy()}), n_boot=50)
    assert out["top_method"].tolist() == ["a"] and out["p_top"].tolist() == [0.5]


def test_equally_distributed_methods_are_unstable_and_seeded():
    values = np.arange(30.0)
    shuffled = np.random.default_rng(2).permutation(values)
    df = long_table({"a": values, "b": shuffled, "c": [np.nan] * 30})
    out = rank_stability(df, n_boot=1000, seed=3)
    assert out["top_method"].tolist() == ["a"]  # equal means: first name, as in the leaderboard
    assert 0.2 < out["p_top"].iloc[0] < 0.8
    pd.testing.assert_frame_equal(out, rank_stability(df, n_boot=1000, seed=3))
    assert not out.equals(rank_stability(df, n_boot=1000, seed=4))


def test_metric_agreement_identical_reversed_and_oriented_rankings():
    board = board_table(
        {
            "p": (True, {"m1": 1.0, "m2": 2.0, "m3": 3.0, "m4": 4.0}),
            "q": (True, {"m1": 10.0, "m2": 20.0, "m3": 30.0, "m4": 40.0}),
            "r": (True, {"m1": 4.0, "m2": 3.0, "m3": 2.0, "m4": 1.0}),
            "s": (False, {"m1": 4.0, "m2": 3.0, "m3": 2.0, "m4": 1.0}),  # lower is better
            "t": (True, {"m1": 1.0, "m2": 2.0, "m3": np.nan, "m4": np.nan}),
        }
    )
    agree = metric_agreement(board)
    assert list(agree.index) == list(agree.columns) == ["p", "q", "r", "s", "t"]
    np.testing.assert_allclose(np.diag(agree), 1.0)
    assert agree.loc["p", "q"] == 1.0 and agree.loc["q", "p"] == 1.0
    assert agree.loc["p", "r"] == -1.0 and agree.loc["p", "s"] == 1.0
    assert np.isnan(agree.loc["p", "t"])  # only 2 common methods


def test_metric_agreement_averages_over_dataset_model_groups():
    same = {
        "p": (True, {"a": 1.0, "b": 2.0, "c": 3.0}),
        "q": (True, {"a": 1.0, "b": 2.0, "c": 3.0}),
    }
    flip = {
        "p": (True, {"a": 1.0, "b": 2.0, "c": 3.0}),
        "q": (True, {"a": 3.0, "b": 2.0, "c": 1.0}),
    }
    board = pd.concat([board_table(same, model="m1"), board_table(flip, model="m2")])
    long = metric_agreement_long(board)
    assert list(long.columns) == ["dataset", "model", "metric_a", "metric_b", "rho", "n_methods"]
    assert long["rho"].tolist() == [1.0, -1.0] and long["n_methods"].tolist() == [3, 3]
    assert metric_agreement(board).loc["p", "q"] == 0.0


def test_inputs_are_checked():
    with pytest.raises(ValueError, match="scores needs columns"):
        rank_stability(pd.DataFrame({"method": ["a"]}))
    with pytest.raises(ValueError, match="alpha"):
        significance(long_table({"a": [1.0]}), leaderboard(long_table({"a": [1.0]})), alpha=2)


def test_round_off_is_a_tie_before_ranking_and_before_the_tests():
    """The issue's case: faithfulness_correlation of three methods equal to 1 up to 1e-13 (what
    float64 correlation of proportional maps gives) was ranked 1/2/3 with Holm p = 0.034, 4e-8,
    3e-9. Round-off is now a tie: one rank, p = 1, one tie group; a real gap still ranks."""
    rng = np.random.default_rng(0)
    ones = 1.0 - rng.uniform(0, 1, size=(3, 40)) * 1e-13
    ones[1] -= 2e-13  # method b is always "lower" by round-off: a Wilcoxon test would see it
    real = 0.9 + rng.normal(0, 0.01, 40)
    scores = long_table(
        {"a": ones[0], "b": ones[1], "c": ones[2], "worse": real}, "faithfulness_correlation"
    )
    board = leaderboard(scores).set_index("method")
    assert board.loc[["a", "b", "c"], "rank"].tolist() == [1, 1, 1]
    assert board.loc["worse", "rank"] == 4  # 1 + the three methods better by more than round-off
    sig = significance(scores, leaderboard(scores))
    within = sig[sig.method_b != "worse"]
    assert (within.p_value == 1.0).all() and not within.significant.any()
    assert sig.loc[sig.method_b == "worse", "significant"].all()
    ties = add_ties(leaderboard(scores), sig).set_index("method")["tie"]
    assert ties[["a", "b", "c"]].nunique() == 1 and ties["a"] != "" and ties["worse"] == ""
    top = rank_stability(scores, n_boot=200).iloc[0]
    assert top.p_top == pytest.approx(1 / 3)  # three-way tie in every replicate


def test_the_round_off_tolerance_scales_with_the_metric():
    """The same relative gap is a tie at any scale, and a gap above 2**-15 of the scale is not."""
    for scale in (1e-6, 1.0, 1e4):
        tied = long_table({"a": [scale] * 4, "b": [scale * (1 - 2.0**-17)] * 4})
        apart = long_table({"a": [scale] * 4, "b": [scale * (1 - 2.0**-12)] * 4})
        assert leaderboard(tied)["rank"].tolist() == [1, 1]
        assert leaderboard(apart).set_index("method")["rank"].to_dict() == {"a": 1, "b": 2}
