import time

import numpy as np
import pytest

import xaibench as xb
from xaibench.models.training import weights_hash


def test_digits_shapes_range_and_deterministic_split():
    d = xb.datasets.load("digits")
    assert d.x_train.dtype == np.float32 and d.x_test.dtype == np.float32
    assert d.x_train.shape[1:] == (8, 8, 1) and len(d.x_train) + len(d.x_test) == 1797
    assert d.x_train.min() == 0.0 and d.x_train.max() == 1.0
    assert d.kind == "image" and d.class_names == [str(i) for i in range(10)]
    assert len(d.x_test) == 450  # sum over classes of round(0.25 * class count)
    # stratified: every class is 25% test, +-1 sample
    counts = np.bincount(d.y_test, minlength=10) / np.bincount(
        np.concatenate([d.y_train, d.y_test]), minlength=10
    )
    np.testing.assert_allclose(counts, 0.25, atol=0.01)
    fresh = xb.datasets.digits.load()
    np.testing.assert_array_equal(fresh.x_test, d.x_test)
    np.testing.assert_array_equal(fresh.y_train, d.y_train)


def test_dataset_arrays_are_read_only_and_unknown_names_fail():
    d = xb.datasets.load("digits")
    with pytest.raises(ValueError):
        d.x_test[0, 0, 0, 0] = 1.0
    with pytest.raises(ValueError, match="digits"):
        xb.datasets.load("digit")


@pytest.mark.slow
def test_zoo_trains_once_caches_and_reaches_accuracy(model_cache):
    d = xb.datasets.load("digits")
    first = xb.models.load("cnn", "digits")
    assert first.accuracy >= 0.95
    assert first.params == first.model.count_params()
    start = time.perf_counter()
    again = xb.models.load("cnn", "digits")
    hit_seconds = time.perf_counter() - start
    assert weights_hash(again.model) == weights_hash(first.model)
    assert again.settings == first.settings and again.accuracy == first.accuracy
    assert hit_seconds < 10  # a cache hit loads; it does not train for ~epochs
    linear = xb.models.load("linear", "digits")
    assert 0.85 <= linear.accuracy < first.accuracy + 0.05
    logits = np.asarray(again.model(d.x_test[:4]))
    assert logits.shape == (4, 10)
    assert xb.models.get("cnn", "digits").count_params() == first.params


@pytest.mark.slow
def test_unreadable_cache_file_is_retrained(model_cache, tmp_path, monkeypatch):
    monkeypatch.setenv("XAIBENCH_CACHE", str(tmp_path))
    trained = xb.models.load("linear", "digits")
    (path,) = (tmp_path / "models").glob("linear-digits-*.keras")
    path.write_bytes(b"not a model")
    messages = []
    again = xb.models.load("linear", "digits", log=messages.append)
    assert any("unreadable" in m for m in messages)
    assert weights_hash(again.model) == weights_hash(trained.model)  # seeded: same weights


def test_unknown_or_mismatched_model_fails_clearly():
    with pytest.raises(ValueError, match="unknown model 'resnet'"):
        xb.models.get("resnet", "digits")


@pytest.mark.slow
@pytest.mark.parametrize(
    "arch, dataset, at_least",
    [
        ("cnn", "digits", 0.95),
        ("cnn", "mnist", 0.93),
        ("cnn", "shapes", 0.95),
        ("mlp", "breast_cancer", 0.93),
    ],
)
def test_zoo_reaches_the_promised_accuracy(model_cache, arch, dataset, at_least):
    assert xb.models.load(arch, dataset).accuracy >= at_least


@pytest.mark.slow
def test_shapes_tradeoff_is_real_and_integrated_gradients_localises(model_cache):
    """A linear model cannot read the shape kind; integrated gradients on the CNN finds the shape
    far better than the random control."""
    cnn, linear = xb.models.load("cnn", "shapes"), xb.models.load("linear", "shapes")
    assert linear.accuracy < cnn.accuracy - 0.3
    d = xb.datasets.load("shapes")
    x, y, masks = d.x_test[:32], d.y_test[:32], d.masks[:32]
    df = xb.evaluate(
        cnn.model,
        x,
        y,
        ["integrated_gradients", "random"],
        ["relevance_mass", "pointing_game"],
        masks=masks,
    )
    mean = df.groupby(["metric", "method"])["score"].mean()
    assert mean["relevance_mass", "integrated_gradients"] > mean["relevance_mass", "random"] + 0.2
    assert mean["pointing_game", "integrated_gradients"] > mean["pointing_game", "random"] + 0.5
