"""The model zoo: seeded training, the trained-model cache and the promised accuracies."""

import numpy as np
import pytest

import xaibench as xb
from xaibench.models.training import weights_hash


@pytest.mark.slow
def test_zoo_trains_once_caches_and_reaches_accuracy(model_cache):
    d = xb.datasets.load("digits")
    first = xb.models.load("cnn", "digits")
    assert first.accuracy >= 0.95
    assert first.params == first.model.count_params()
    messages = []
    again = xb.models.load("cnn", "digits", log=messages.append)
    assert weights_hash(again.model) == weights_hash(first.model)
    assert again.settings == first.settings and again.accuracy == first.accuracy
    assert not any("training" in m for m in messages)  # a cache hit loads; it does not train
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
