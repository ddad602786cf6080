"""Ground truth by intervention: the parts of shapes' and scenes' test samples, rendered with any
set of them removed; nothing removed gives the samples bitwise as the dataset has them."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import xaibench as xb
from xaibench.datasets import scenes, shapes
from xaibench.datasets.base import Parts

GENERATED = {"shapes": shapes, "scenes": scenes}
IDX = np.array([0, 5, 17, 100, 399])  # test samples, some with and some without a distractor


@pytest.fixture(scope="module", params=sorted(GENERATED))
def case(request):
    d = xb.datasets.load(request.param)
    return request.param, d, d.interventions(IDX)


@pytest.mark.parametrize("name", sorted(GENERATED))
def test_generating_the_parts_leaves_every_array_unchanged(name):
    """The parts come from the same draws: x, y, masks and boxes are bitwise those of a plain
    generation (the loaded datasets, and every number computed on them, stay as they were)."""
    plain = GENERATED[name].generate(48, 3)
    with_parts = GENERATED[name].generate(48, 3, parts=True)
    assert set(with_parts) == set(plain) | {"parts"}
    for key, value in plain.items():
        np.testing.assert_array_equal(with_parts[key], value, strict=True)
    parts = with_parts["parts"]
    np.testing.assert_array_equal(parts.render(np.zeros((48, len(parts.names)), bool)), plain["x"])


def test_nothing_removed_renders_the_test_samples_bitwise(case):
    name, d, parts = case
    assert len(parts) == len(IDX)
    assert parts.names == GENERATED[name].PART_NAMES
    assert parts.names[0] == "object" and parts.names[-1] == "background"
    got = parts.render(np.zeros((len(IDX), len(parts.names)), bool))
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, d.x_test[IDX], strict=True)
    np.testing.assert_array_equal(parts.masks[:, 0], d.masks[IDX])


def test_the_parts_tile_the_image(case):
    """Every pixel belongs to exactly one part; each sample has its object and background, and
    its distractors as generated (scenes: in about half of the images)."""
    _, d, parts = case
    np.testing.assert_array_equal(parts.masks.sum(axis=1), 1)
    assert parts.present[:, 0].all() and parts.present[:, -1].all()
    assert parts.present[:, 1:-1].sum() >= 2  # the chosen samples hold distractors


def test_removing_each_part_shows_what_lies_under_it(case):
    _, d, parts = case
    n, p = len(parts), len(parts.names)
    x = d.x_test[IDX]
    background = np.clip(parts.background, 0, 1)  # shapes' noise can step below 0 (clipped)
    for k in range(p - 1):  # a shape: its pixels show the background as generated
        removed = np.zeros((n, p), bool)
        removed[:, k] = True
        got = parts.render(removed)
        inside = parts.masks[:, k, :, :, None]
        np.testing.assert_array_equal(np.where(inside, background, x), got)
    removed = np.zeros((n, p), bool)
    removed[:, -1] = True  # the background: its mean colour, the shapes kept
    got = parts.render(removed)
    bg = parts.masks[:, -1, :, :, None]
    mean = parts.background.mean(axis=(1, 2), dtype=np.float32)[:, None, None]
    np.testing.assert_array_equal(got, np.where(bg, np.clip(mean, 0, 1), x))


def test_many_removals_at_once_match_one_at_a_time(case):
    _, _, parts = case
    n, p = len(parts), len(parts.names)
    removed = np.random.default_rng(0).random((6, n, p)) < 0.5
    got = parts.render(removed)
    assert got.shape == (6, *parts.background.shape)
    for k in range(6):
        np.testing.assert_array_equal(got[k], parts.render(removed[k]))


def test_parts_are_seeded_pickle_and_select_samples(case):
    name, d, parts = case
    again = d.interventions(IDX)
    copy = pickle.loads(pickle.dumps(parts))
    for other in (again, copy):
        assert other.names == parts.names
        for field in ("masks", "background", "colours"):
            np.testing.assert_array_equal(getattr(other, field), getattr(parts, field))
    sub = parts.take(np.array([3, 1]))
    np.testing.assert_array_equal(sub.masks, parts.masks[[3, 1]])
    np.testing.assert_array_equal(
        sub.render(np.zeros((2, len(parts.names)), bool)), d.x_test[IDX[[3, 1]]]
    )
    assert pickle.loads(pickle.dumps(d.interventions)) is not None  # travels to Dask workers


@pytest.mark.parametrize("name", ["digits", "mnist", "breast_cancer", "wine", "synthetic_tabular"])
def test_other_datasets_offer_no_interventions(name):
    assert xb.datasets.load(name).interventions is None


def test_a_bad_removal_pattern_or_bad_arrays_are_refused(case):
    _, _, parts = case
    with pytest.raises(ValueError, match=r"removed must have shape \(\.\.\., 5, "):
        parts.render(np.zeros((4, len(parts.names)), bool))
    with pytest.raises(ValueError, match="do not fit"):
        Parts(parts.names[:-1], parts.masks, parts.background, parts.colours)
    with pytest.raises(ValueError, match="do not fit"):
        Parts(parts.names, parts.masks.astype(np.uint8), parts.background, parts.colours)
