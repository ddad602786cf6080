"""The verdict on hand-made per-sample scores whose answer is known: the overall rank and its
bootstrap interval, the recommended methods and the ones tied to them, beating the controls on
faithfulness (and why not), what would separate tied methods, metrics that cannot rank, models
near chance, the cautions, and the run-wide rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from xaibench.results.leaderboard import leaderboard
from xaibench.results.stats import aggregate_ranks, samples_needed
from xaibench.results.verdict import ALL, COLUMNS, NEAR_CHANCE, read, verdict
from xaibench.results.verdict_text import MEANING, cautions, summary, text

N = 40
METRICS = {  # name: (category, higher_is_better)
    "deletion": ("faithfulness", False),
    "insertion": ("faithfulness", True),
    "sparseness": ("complexity", True),
    "runtime": ("cost", False),
}


def scores(means: dict, *, noise=0.05, seed=0, dataset="d", model="m", controls=("random",)):
    """Per-sample scores: ``means`` maps method -> {metric: mean}; each sample adds Gaussian noise
    (the same draw for every method of a metric, plus a small own part, so pairs are paired)."""
    rng = np.random.default_rng(seed)
    rows = []
    for metric, (category, higher) in METRICS.items():
        shared = rng.normal(0, noise, N)
        for method, by_metric in means.items():
            if metric not in by_metric:
                continue
            own = rng.normal(0, noise / 5, N)
            for i in range(N):
                rows.append(
                    dict(
                        dataset=dataset,
                        model=model,
                        method=method,
                        metric=metric,
                        category=category,
                        higher_is_better=higher,
                        control=method in controls,
                        sample=i,
                        score=by_metric[metric] + shared[i] + own[i],
                    )
                )
    return pd.DataFrame(rows)


def good(d, i, s, r=1.0):
    return {"deletion": d, "insertion": i, "sparseness": s, "runtime": r}


def test_the_best_method_is_recommended_with_an_interval_around_its_rank():
    df = scores(
        {
            "best": good(0.1, 0.9, 0.8),
            "middle": good(0.3, 0.7, 0.6),
            "random": good(0.5, 0.5, 0.2),
        }
    )
    v = verdict(df, n_boot=300)
    assert list(v.columns) == COLUMNS
    pair = v[v.dataset == "d"].set_index("method")
    # every metric ranks best < middle < random: overall ranks 1, 2, 3 exactly
    assert pair["overall_rank"].to_dict() == {"best": 1.0, "middle": 2.0, "random": 3.0}
    assert pair["position"].to_dict() == {"best": 1, "middle": 2, "random": 3}
    assert (pair["rank_ci_low"] <= pair["overall_rank"]).all()
    assert (pair["overall_rank"] <= pair["rank_ci_high"]).all()
    assert pair["recommended"].to_dict() == {"best": True, "middle": False, "random": False}
    assert pair.loc["best", "beats_random"] and pair.loc["middle", "beats_random"]
    assert pair.loc["random", "beats_random"] is None  # the control itself
    assert pair["beats_sobel"].isna().all()  # sobel is not in the run
    assert pair["control"].to_dict() == {"best": False, "middle": False, "random": True}


def test_the_overall_rank_is_the_one_of_aggregate_ranks():
    df = scores({"a": good(0.1, 0.5, 0.2), "b": good(0.3, 0.9, 0.5), "c": good(0.2, 0.1, 0.9)})
    v = verdict(df, n_boot=50).query("dataset == 'd'").set_index("method")["overall_rank"]
    ranks = aggregate_ranks(leaderboard(df)).set_index("method")["rank_overall"]
    pd.testing.assert_series_equal(v.sort_index(), ranks.sort_index(), check_names=False)


def test_methods_tied_with_the_best_are_recommended_too_and_controls_never():
    df = scores(
        {
            "a": good(0.2, 0.8, 0.6),
            "twin": good(0.2, 0.8, 0.6),  # the same means: tied with a in every replicate
            "worse": good(0.6, 0.3, 0.2),
            "random": good(0.1, 0.95, 0.9),  # a control that scores best is not recommended
        },
        noise=0.2,
    )
    pair = verdict(df, n_boot=300).query("dataset == 'd'").set_index("method")
    assert pair.loc["random", "position"] == 1 and not pair.loc["random", "recommended"]
    assert pair.loc["a", "recommended"] and pair.loc["twin", "recommended"]
    assert not pair.loc["worse", "recommended"]
    assert pair.loc["a", "beats_random"] is False  # worse than the control on faithfulness


@pytest.mark.parametrize(
    "deletion, insertion, expected",
    [
        (0.2, 0.5, True),  # better on deletion, equal on insertion
        (0.2, 0.3, False),  # better on deletion, significantly worse on insertion
        (0.5, 0.5, False),  # equal on both: not shown to be better
    ],
)
def test_beating_a_control_needs_one_better_and_no_worse_faithfulness_metric(
    deletion, insertion, expected
):
    df = scores({"m": good(deletion, insertion, 0.5), "random": good(0.5, 0.5, 0.5)}, noise=0.1)
    pair = verdict(df, n_boot=50).query("dataset == 'd'").set_index("method")
    assert pair.loc["m", "beats_random"] is expected


def test_round_off_never_beats_a_control():
    df = scores({"m": good(0.5, 0.5, 0.5), "random": good(0.5, 0.5, 0.5)}, noise=0.0)
    df.loc[df.method == "m", "score"] *= 1 - 1e-12  # "better" by round-off on deletion
    pair = verdict(df, n_boot=50).query("dataset == 'd'").set_index("method")
    assert pair.loc["m", "beats_random"] is False
    assert pair["overall_rank"].tolist() == [1.0, 1.0]  # tied on every metric


def test_a_caution_names_the_metrics_where_the_recommended_method_is_in_the_bottom_half():
    df = scores(
        {
            "a": good(0.1, 0.9, 0.3),  # best on faithfulness, 3rd of 4 on sparseness
            "b": good(0.3, 0.7, 0.05),
            "c": good(0.4, 0.6, 0.6),
            "random": good(0.6, 0.4, 0.9),
        }
    )
    pair = verdict(df, n_boot=100).query("dataset == 'd'").set_index("method")
    assert pair["recommended"].to_dict() == {"a": True, "b": False, "c": False, "random": False}
    assert pair.loc["a", "note"].startswith(
        "ranks in the bottom half on sparseness (3rd of 4 methods)"
    )
    assert pair.loc["b", "note"] == ""  # notes are for the recommended methods


def test_run_wide_rows_average_the_pairs_and_need_every_pair_to_beat_a_control():
    one = scores(
        {"a": good(0.1, 0.9, 0.8), "b": good(0.3, 0.7, 0.6), "random": good(0.5, 0.5, 0.2)}
    )
    two = scores(
        {"a": good(0.5, 0.5, 0.8), "b": good(0.1, 0.9, 0.6), "random": good(0.5, 0.5, 0.2)},
        model="m2",
        seed=1,
    )
    three = scores({"a": good(0.1, 0.9, 0.8), "b": good(0.3, 0.7, 0.6)}, model="m3", seed=2)
    v = verdict(pd.concat([one, two, three]), n_boot=200)
    pairs = v[v.dataset != ALL]
    run = v[v.dataset == ALL].set_index("method")
    assert (v.loc[v.dataset == ALL, "model"] == ALL).all()
    mean = pairs.groupby("method")["overall_rank"].mean()
    np.testing.assert_allclose(run["overall_rank"], mean[run.index])
    assert run.loc["a", "beats_random"] is False  # not better on faithfulness in m2
    assert run.loc["a", "beats_random_why"].startswith("in d / m2: no significant difference on")
    assert run.loc["a", "beats_random_why"].endswith("(1 of 2 pairs where both ran)")
    assert run.loc["b", "beats_random"] is True  # better wherever random ran
    assert run.loc["random", "note"] == "ran on 2 of 3 (dataset, model) pairs"


def test_same_seed_same_verdict_and_the_seed_moves_only_the_intervals():
    df = scores(
        {"a": good(0.2, 0.8, 0.6), "b": good(0.25, 0.75, 0.55), "random": good(0.5, 0.5, 0.2)}
    )
    first, again = verdict(df, n_boot=200, seed=3), verdict(df, n_boot=200, seed=3)
    pd.testing.assert_frame_equal(first, again)
    other = verdict(df, n_boot=200, seed=4)
    pd.testing.assert_series_equal(first["overall_rank"], other["overall_rank"])


def test_missing_columns_and_empty_scores():
    with pytest.raises(ValueError, match="missing.*higher_is_better"):
        verdict(
            pd.DataFrame({"method": [], "metric": [], "category": [], "sample": [], "score": []})
        )
    empty = scores({"a": good(0.1, 0.2, 0.3)}).iloc[:0]
    assert list(verdict(empty).columns) == COLUMNS and verdict(empty).empty


def test_the_summary_and_the_terminal_text_lead_with_the_run():
    one = scores(
        {"a": good(0.1, 0.9, 0.8), "twin": good(0.1, 0.9, 0.8), "random": good(0.5, 0.5, 0.2)},
        noise=0.2,
    )
    two = scores({"a": good(0.1, 0.9, 0.8), "random": good(0.5, 0.5, 0.2)}, model="m2", seed=1)
    v = verdict(pd.concat([one, two]), n_boot=200)
    table = summary(v)
    assert table["where"].tolist() == ["across the run", "d / m", "d / m2"]
    row = table.set_index("where").loc["d / m"]
    assert row["recommended"] in ("a, twin (tied)", "twin, a (tied)")  # the better one first
    assert row["beats random"] == "all" and row["beats sobel"] == "–"
    assert row["controls"] == "random 3rd of 3"
    low, high = map(float, row["overall rank [95% CI]"].split(" [")[1].rstrip("]").split(", "))
    assert low <= 1.0 <= high
    lines = text(v, width=80).splitlines()
    assert lines[0].startswith("Verdict") and "across the run" in lines[1]
    assert all(len(line) <= 80 for line in lines)
    assert any("controls: random 3rd of 3" in line for line in lines)


def test_only_controls_means_no_recommendation():
    v = verdict(scores({"random": good(0.5, 0.5, 0.2)}), n_boot=20)
    assert not v["recommended"].any()
    assert summary(v).iloc[0]["recommended"] == "(none: only controls ranked)"


def exact(means: dict, metrics=METRICS, n=N, dataset="d", model="m", controls=("random",)):
    """Per-sample scores without noise: ``means[method][metric]`` is a number (every sample
    scores it) or an array of ``n`` scores."""
    rows = [
        dict(
            dataset=dataset,
            model=model,
            method=method,
            metric=metric,
            category=metrics[metric][0],
            higher_is_better=metrics[metric][1],
            control=method in controls,
            sample=i,
            score=float(value),
        )
        for method, by_metric in means.items()
        for metric, values in by_metric.items()
        for i, value in enumerate(np.broadcast_to(values, n))
    ]
    return pd.DataFrame(rows)


def test_a_no_on_a_control_says_on_which_metrics_and_by_how_much():
    df = exact(
        {
            "m": {"deletion": 0.4, "insertion": 0.5, "sparseness": 0.5},
            "random": {"deletion": 0.3, "insertion": 0.5, "sparseness": 0.5},
        }
    )
    pair = verdict(df, n_boot=20).query("dataset == 'd'").set_index("method")
    assert pair.loc["m", "beats_random"] is False
    assert pair.loc["m", "beats_random_why"] == (
        "worse on deletion ↓ (0.400 vs 0.300); no significant difference on insertion ↑"
    )
    better = exact(
        {"m": {"deletion": 0.2, "insertion": 0.5}, "random": {"deletion": 0.3, "insertion": 0.5}}
    )
    row = verdict(better, n_boot=20).query("method == 'm' and dataset == 'd'").iloc[0]
    assert row["beats_random"] is True
    assert row["beats_random_why"] == (
        "better on deletion ↓ (0.200 vs 0.300); no significant difference on insertion ↑"
    )
    caution = " ".join(cautions(verdict(df, n_boot=20).query("dataset == 'd'")))
    assert "m does not beat random: worse on deletion ↓ (0.400 vs 0.300)" in caution


def test_what_failing_to_beat_sobel_means_is_said_once():
    df = exact(
        {
            "m": {"deletion": 0.4, "insertion": 0.5},
            "sobel": {"deletion": 0.3, "insertion": 0.5},
        },
        controls=("sobel",),
    )
    out = text(verdict(df, n_boot=20), width=100)
    assert out.count(MEANING["sobel"].split(":")[0]) == 1
    assert "edge detector that never looks at the model" in MEANING["sobel"]


def test_methods_with_the_same_scores_need_no_more_samples():
    df = exact(
        {
            "a": {"deletion": 0.2, "insertion": 0.8},
            "twin": {"deletion": 0.2, "insertion": 0.8},
            "random": {"deletion": 0.5, "insertion": 0.5},
        }
    )
    v = verdict(df, n_boot=50).query("dataset == 'd'").set_index("method")
    assert v["recommended"].to_dict() == {"a": True, "random": False, "twin": True}
    assert v.loc["twin", "samples_needed"] == np.inf and v.loc["twin", "separated_by"] == ""
    assert pd.isna(v.loc["a", "samples_needed"])  # the best one itself
    assert (
        "a and twin score the same on every ranked metric (within round-off): no number of "
        "samples separates them." in cautions(v.reset_index())
    )


def test_ties_name_the_metric_that_separates_best_and_the_samples_it_needs():
    """b trails a by a small, noisy margin on insertion and exactly ties it on deletion: the
    verdict names insertion and the Wilcoxon sample size of those paired differences."""
    rng = np.random.default_rng(0)
    n = 12
    d = 0.01 + 0.05 * rng.standard_normal(n)  # a - b on insertion: d_z about 0.2
    a_ins = 0.7 + 0.1 * rng.standard_normal(n)
    df = exact(
        {
            "a": {"deletion": 0.2, "insertion": a_ins},
            "b": {"deletion": 0.2, "insertion": a_ins - d},
            "random": {"deletion": 0.6, "insertion": 0.3},
        },
        n=n,
    )
    v = verdict(df, n_boot=300).query("dataset == 'd'").set_index("method")
    assert v.loc["b", "recommended"] and v.loc["b", "separated_by"] == "insertion"
    expected = samples_needed(
        d, alpha=0.05, tol=2.0**-15 * np.abs(df.score[df.metric == "insertion"]).max()
    )
    assert v.loc["b", "samples_needed"] == pytest.approx(expected)
    assert expected > n  # more samples would tell them apart
    words = " ".join(cautions(v.reset_index()))
    assert f"about {int(np.ceil(expected))} samples on insertion for b" in words
    assert f"(this run: {n}; Wilcoxon test, α = 0.05, power 0.8)" in words


def test_samples_needed_by_hand():
    # mean 0.5, sd(ddof=1) = sqrt(20/19): ((1.959964 + 0.841621) * 1.025978 / 0.5)^2 * pi/3
    d = np.tile([1.5, -0.5], 10)
    z = 1.959964 + 0.841621
    assert samples_needed(d) == pytest.approx((z * np.sqrt(20 / 19) / 0.5) ** 2 * np.pi / 3)
    assert samples_needed(np.zeros(10)) == np.inf
    assert samples_needed(np.full(10, 1e-9), tol=1e-6) == np.inf  # round-off is no difference
    assert samples_needed(np.full(10, 0.3)) == 6  # 2 / 2**6 < 0.05: the exact test's floor
    with np.errstate(all="raise"):  # differences that cancel: no shift to find, no division
        assert samples_needed(np.tile([1.0, -1.0], 5)) == np.inf
    assert np.isnan(samples_needed([0.1]))


def test_a_metric_on_which_every_method_ties_is_not_ranked():
    """sparseness gives both methods the same score: ranking on it would pull b's overall rank
    from 2 to 1.5; it is named and left out (and aggregate_ranks agrees)."""
    df = exact(
        {
            "a": {"deletion": 0.1, "sparseness": 0.5},
            "b": {"deletion": 0.3, "sparseness": 0.5 * (1 + 1e-9)},
        }
    )
    v = verdict(df, n_boot=20).query("dataset == 'd'").set_index("method")
    assert v["overall_rank"].to_dict() == {"a": 1.0, "b": 2.0}
    assert (v["not_ranked"] == "sparseness").all()
    ranks = aggregate_ranks(leaderboard(df)).set_index("method")
    assert ranks["rank_overall"].to_dict() == {"a": 1.0, "b": 2.0}
    assert ranks["rank_complexity"].isna().all()
    assert any(
        c.startswith("Not ranked: sparseness (every method scores the same")
        for c in cautions(v.reset_index())
    )


@pytest.mark.parametrize(
    "accuracy, classes, near",
    [
        (0.289, 4, True),  # the shapes/linear
        (0.25 + NEAR_CHANCE * 0.75 - 0.001, 4, True),
        (0.25 + NEAR_CHANCE * 0.75 + 0.001, 4, False),
        (0.6, 2, True),
        (0.9, 2, False),
        (0.3, 10, True),
        (0.5, 10, False),
        (0.289, np.nan, False),  # without the number of classes: no claim
    ],
)
def test_a_model_near_chance_is_a_caution(accuracy, classes, near):
    df = exact({"a": {"deletion": 0.1}, "b": {"deletion": 0.3}})
    models = pd.DataFrame(
        {"dataset": ["d"], "model": ["m"], "accuracy": [accuracy], "classes": [classes]}
    )
    v = verdict(df, models, n_boot=20)
    caution = v.loc[v.dataset == "d", "model_caution"].iloc[0]
    assert bool(caution) is near
    if near:
        assert caution.startswith(f"The model is near chance (test accuracy {accuracy:.3f}; chance")
        assert caution in summary(v).set_index("where").loc["d / m", "caution"]
        run = v[v.dataset == ALL].iloc[0]["model_caution"]
        assert run == "Models near chance, their explanations say little: d / m"


def test_the_terminal_text_wraps_every_caution_and_cuts_none(tmp_path):
    df = scores(
        {
            "a_method_with_a_long_name": good(0.1, 0.9, 0.1),
            "b": good(0.3, 0.7, 0.6),
            "c": good(0.4, 0.6, 0.7),
            "random": good(0.6, 0.4, 0.9),
        }
    )
    models = pd.DataFrame({"dataset": ["d"], "model": ["m"], "accuracy": [0.3], "classes": [4]})
    path = tmp_path / "verdict.csv"
    verdict(df, models, n_boot=50).to_csv(path, index=False)
    v = read(path)  # as xaibench run prints it: from verdict.csv
    for width in (60, 80):
        out = text(v, width=width)
        assert all(len(line) <= width for line in out.splitlines()), width
        assert "…" not in out
        flat = " ".join(out.split())
        for caution in cautions(v[v.dataset == "d"]):
            assert " ".join(caution.split()) in flat


def test_a_method_without_scores_on_a_metric_ranks_last_there_and_beats_no_control():
    """A method whose maps are all constant scores NaN on every metric of what a map says
    (README, Conventions) but a value on the few that read its values (infidelity): it used to
    be ranked by those alone (vargrad on digits/linear: 3rd of 7, beating random). It ranks
    last where it has no score, and cannot beat a control on a metric where it has none."""
    means = {
        "good": good(0.2, 0.8, 0.6),
        "flat": good(0.5, 0.5, 0.5),  # its deletion, insertion and sparseness are NaN below
        "random": good(0.5, 0.5, 0.5),
    }
    df = scores(means, noise=0.05)
    METRICS_WITH_INFIDELITY = df.query("metric == 'deletion'").assign(
        metric="infidelity", score=lambda d: np.where(d.method == "flat", 0.01, 0.5)
    )
    flat = (df.method == "flat") & df.metric.isin(["deletion", "insertion", "sparseness"])
    df.loc[flat, "score"] = np.nan
    df = pd.concat([df, METRICS_WITH_INFIDELITY.assign(higher_is_better=False)])
    pair = verdict(df, n_boot=50).query("dataset == 'd'").set_index("method")
    # deletion, insertion: flat last (3rd); infidelity: flat 1st -> faithfulness 7/3; complexity 3
    assert pair.loc["flat", "overall_rank"] > pair.loc["random", "overall_rank"]
    assert pair.loc["flat", "beats_random"] is False
    assert "no score (constant maps) on deletion" in pair.loc["flat", "beats_random_why"]
    assert pair.loc["good", "recommended"] and not pair.loc["flat", "recommended"]
    ranks = aggregate_ranks(leaderboard(df)).set_index("method")  # ranks.csv: the same rule
    np.testing.assert_allclose(
        ranks.loc[pair.index, "rank_overall"], pair["overall_rank"], rtol=1e-12
    )
