"""The meta-evaluation's statistics (results/meta.py) on tiny tables computed by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from xaibench.results.meta import (
    COLUMNS,
    iac_pvalues,
    iec_ar,
    iec_nr,
    meta_table,
    reliability,
)

NAN = np.nan


def test_iac_pvalues_by_hand():
    """Method a: d = q - q' = (1, 2, 3), no ties nor zeros: R+ = 6, the largest of the 8 sign
    patterns, p = 2 * 1/8. Method b: every difference zero (or within tol): p = 1. Method c: one
    sample with both scores, nothing to test: NaN."""
    q = np.array([[2.0, 5.0, 1.0], [4.0, 5.0, NAN], [6.0, 5.0, 1.0]])
    perturbed = np.array([[1.0, 5.0, NAN], [2.0, 5.0 + 1e-9, 1.0], [3.0, 5.0, 0.5]])
    np.testing.assert_array_equal(iac_pvalues(q, perturbed, tol=1e-6), [0.25, 1.0, NAN])


def test_iac_pvalues_split_zeros():
    """d = (1, -2, 2, 0): zsplit gives p = 1 (tests/results/test_stats.py works it out); the
    zero counts, where the default Wilcoxon would drop it."""
    q = np.array([[1.0], [0.0], [2.0], [5.0]])
    perturbed = np.array([[0.0], [2.0], [0.0], [5.0]])
    assert iac_pvalues(q, perturbed)[0] == 1.0


def test_iec_nr_by_hand():
    """Three methods, higher is better. Sample 1: order (0, 1, 2) before, (0, 2, 1) after: one
    of three positions holds. Sample 2: the same order: three of three. Sample 3: method 1 has
    no score before, so methods 0 and 2 are ranked: (2, 0) both times, two of two. Sample 4:
    one method left, nothing to rank. Share = (1 + 3 + 2) / (3 + 3 + 2)."""
    q = np.array([[3.0, 2.0, 1.0], [1.0, 2.0, 3.0], [1.0, NAN, 2.0], [1.0, NAN, NAN]])
    perturbed = np.array([[3.0, 1.0, 2.0], [1.1, 2.1, 3.1], [1.0, 2.0, 3.0], [5.0, 1.0, 1.0]])
    assert iec_nr(q, perturbed, True) == pytest.approx(6 / 8)
    assert np.isnan(iec_nr(q[:, :1], perturbed[:, :1], True))  # one method: no ranking


def test_iec_nr_ties_within_roundoff_keep_their_order():
    """Two methods tied within tol stay in name order whichever is ahead by round-off."""
    q = np.array([[1.0, 1.0 + 1e-12, 0.0]])
    perturbed = np.array([[1.0 + 1e-12, 1.0, 0.0]])
    assert iec_nr(q, perturbed, True, tol=1e-9) == 1.0
    assert iec_nr(q, perturbed, True, tol=0.0) == pytest.approx(1 / 3)


@pytest.mark.parametrize("higher_is_better, expected", [(True, 1 / 4), (False, 2 / 4)])
def test_iec_ar_counts_worse_in_the_metrics_own_direction(higher_is_better, expected):
    """(method, sample) pairs: (0,0) 1 -> 0.5, (0,1) 1 -> 1, (1,0) 1 -> 2, (1,1) 1 -> 3.
    Higher is better: only 0.5 is worse (1/4). Lower is better: 2 and 3 are (2/4). MetaQuantus's
    code counts a lower score as worse for both directions; the paper's definition is this."""
    q = np.ones((2, 2))
    perturbed = np.array([[0.5, 1.0], [2.0, 3.0]])
    assert iec_ar(q, perturbed, higher_is_better) == expected
    assert np.isnan(iec_ar(q, np.full((2, 2), NAN), higher_is_better))


def _rows(variant, scores, methods=("a", "b"), metric="m", higher=True):
    """Long rows of one cell per method: ``scores`` is samples x methods."""
    out = []
    for j, method in enumerate(methods):
        for i, s in enumerate(scores[:, j]):
            out.append(
                dict(
                    dataset="d",
                    model="m1",
                    method=method,
                    metric=metric,
                    higher_is_better=higher,
                    variant=variant,
                    sample=10 + i,
                    score=s,
                )
            )
    return out


# q: 3 samples x 2 methods, method a better than b on every sample.
Q = np.array([[3.0, 1.0], [4.0, 2.0], [5.0, 3.0]])
DOWN = Q - np.array([[1.0], [2.0], [3.0]])  # every score lower, by 1, 2, 3
SAME_TWO = np.where(np.arange(3)[:, None] < 2, Q, NAN)  # unchanged, third sample not kept


def hand_table(extra_test: bool = False) -> pd.DataFrame:
    """The model test with two iterations of one perturbation.

    l = 0: NR unchanged (p = 1, ranking kept: IAC_NR = IEC_NR = 1); AR every score lower by
    1, 2, 3 (p = 0.25 per method: IAC_AR = 0.75; all worse: IEC_AR = 1): MC(0) = 3.75 / 4.
    l = 1: NR unchanged again; AR unchanged on two kept samples (p = 1: IAC_AR = 0; nothing
    worse: IEC_AR = 0): MC(1) = 2 / 4.
    """
    rows = _rows("meta:reference", Q)
    for test in ("model", "input") if extra_test else ("model",):
        rows += _rows(f"meta:{test}:nr:0:0", Q)
        rows += _rows(f"meta:{test}:ar:0:0", DOWN if test == "model" else Q)
        rows += _rows(f"meta:{test}:nr:1:0", Q)
        rows += _rows(f"meta:{test}:ar:1:0", SAME_TWO)
    return pd.DataFrame(rows)


def test_meta_table_by_hand():
    table = meta_table(hand_table())
    assert list(table.columns) == COLUMNS and len(table) == 1
    row = table.iloc[0]
    assert (row.dataset, row.model, row.metric, row.test) == ("d", "m1", "m", "model")
    expected = dict(iac_nr=1.0, iac_ar=0.375, iec_nr=1.0, iec_ar=0.5, n_nr=3.0, n_ar=2.5)
    for column, value in expected.items():
        assert row[column] == pytest.approx(value), column
    assert row.mc == pytest.approx((1 + 0.375 + 1 + 0.5) / 4)
    assert row.mc_std == pytest.approx(np.std([3.75 / 4, 2 / 4]))


def test_both_is_the_mean_of_the_two_tests():
    """The input test here never reacts (AR unchanged in both iterations): IAC_AR = IEC_AR = 0,
    MC(l) = 0.5 for both l. "both" = the mean of the two rows; its spread is over the
    iterations of the mean MC: (3.75/4 + 0.5) / 2 and (0.5 + 0.5) / 2."""
    table = meta_table(hand_table(extra_test=True)).set_index("test")
    assert list(table.index) == ["model", "input", "both"]
    assert table.loc["input", "mc"] == pytest.approx(0.5)
    assert table.loc["input", "mc_std"] == 0.0
    for column in ("iac_nr", "iac_ar", "iec_nr", "iec_ar", "mc", "n_nr", "n_ar"):
        mean = (table.loc["model", column] + table.loc["input", column]) / 2
        assert table.loc["both", column] == pytest.approx(mean), column
    both = [(3.75 / 4 + 0.5) / 2, (0.5 + 0.5) / 2]
    assert table.loc["both", "mc_std"] == pytest.approx(np.std(both))
    assert reliability(table.reset_index())["mc"].tolist() == [table.loc["both", "mc"]]


def test_mc_is_nan_when_no_perturbation_changed_a_prediction():
    """No AR perturbation kept a sample: IAC_AR and IEC_AR are unknown, so is MC; NR stays."""
    rows = _rows("meta:reference", Q) + _rows("meta:model:nr:0:0", Q)
    rows += _rows("meta:model:ar:0:0", np.full_like(Q, NAN))
    row = meta_table(pd.DataFrame(rows)).iloc[0]
    assert row.iac_nr == 1.0 and row.iec_nr == 1.0 and row.n_ar == 0.0
    assert np.isnan(row.iac_ar) and np.isnan(row.iec_ar) and np.isnan(row.mc)
    assert np.isnan(row.mc_std)  # one iteration: no spread


def test_no_meta_scores_give_an_empty_table():
    empty = pd.DataFrame(_rows("sweep:steps=5", Q))
    assert meta_table(empty).empty and list(meta_table(empty).columns) == COLUMNS
    with pytest.raises(ValueError, match="variant"):
        meta_table(empty.drop(columns="variant"))


def test_reliability_falls_back_to_the_test_that_has_an_mc():
    """A model test whose AR perturbations changed no prediction has no MC, nor has "both": the
    metric's reliability is then the input test's."""
    table = pd.DataFrame(
        [
            dict(dataset="d", model="m", metric="q", test=test, mc=mc, mc_std=0.0)
            for test, mc in (("model", NAN), ("input", 0.6), ("both", NAN))
        ]
    )
    row = reliability(table).iloc[0]
    assert (row.test, row.mc) == ("input", 0.6)
    assert np.isnan(reliability(table.assign(mc=NAN)).iloc[0].mc)
