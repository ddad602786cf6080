"""The meta-evaluation's perturbations (benchmark/meta.py), its cells computed in a task, and
xb.meta_evaluate with the two sanity estimators of MetaQuantus, which must fail where they are
broken."""

from __future__ import annotations

import _tiny
import numpy as np
import pytest

import xaibench as xb
from xaibench.benchmark import meta
from xaibench.benchmark.executors import Work, compute_method
from xaibench.metrics.sanity import ConstantScores, RandomScores
from xaibench.models.perturb import scaled_weights

METHODS = ["saliency", "gradient_x_input", "integrated_gradients", "random", "smoothgrad"]


@pytest.fixture(scope="module")
def tabular():
    """A smooth 6-feature, 3-class model and 24 samples."""
    model, _ = _tiny.smooth_mlp(6, 8, 3, seed=1)
    x = np.random.default_rng(0).normal(size=(24, 6)).astype(np.float32)
    y = model.predict_on_batch(x).argmax(axis=1)
    return model, x, y


def test_input_perturbation_is_scaled_and_clipped_to_each_samples_range():
    """Sample 0 spans [0, 2] (range 2), sample 1 [0, 1]: the noise is U(-eps, eps) times the
    range, drawn in sample order from the seed, and the result clipped to the sample's span."""
    x = np.array([[0.0, 1.0, 2.0], [0.0, 0.5, 1.0]], np.float32)
    noise = np.random.default_rng(5).uniform(-0.3, 0.3, x.shape)
    expected = np.clip(x + noise * np.array([[2.0], [1.0]]), [[0.0], [0.0]], [[2.0], [1.0]])
    np.testing.assert_allclose(meta.perturb_input(x, 0.3, 5), expected.astype(np.float32))
    assert meta.perturb_input(x, 0.3, 5).dtype == np.float32


def test_kept_samples():
    before, after = np.array([0, 1, 2, -1]), np.array([0, 2, -1, -1])
    assert meta.kept("nr", before, after).tolist() == [True, False, False, False]
    assert meta.kept("ar", before, after).tolist() == [False, True, True, False]


def test_perturbations_are_seeded_per_test_strength_iteration_and_index():
    settings = meta.MetaSettings(iterations=2, perturbations=3, samples=4)
    plan = meta.perturbations(settings, seed=0, n=10)
    assert len(plan) == settings.cells_per_metric() == 1 + 2 * 2 * 2 * 3
    assert plan[0].variant == "meta:reference" and plan[1].variant == "meta:model:nr:0:0"
    assert plan[-1].variant == "meta:input:ar:1:2"
    seeds = [p.seed for p in plan[1:]]
    assert len(set(seeds)) == len(seeds)  # every perturbation its own draw
    assert plan == meta.perturbations(settings, seed=0, n=10)  # the same for every method
    assert [p.seed for p in meta.perturbations(settings, seed=1, n=10)][1:] != seeds
    assert len(plan[0].positions) == 4 and plan[0].positions == tuple(sorted(plan[0].positions))
    assert meta.MetaSettings().positions(10, 0) == tuple(range(10))  # samples=None: all
    assert {p.size for p in plan if p.test == "model"} == {0.001, 2.0}


@pytest.mark.parametrize(
    "table, message",
    [
        ({"iterations": 0}, "iterations must be a positive integer"),
        ({"samples": 2.5}, "samples must be a positive integer"),
        ({"perturbations": True}, "perturbations must be a positive integer"),
        ({"sigma_ar": -1}, "sigma_ar must be a positive number"),
        ({"tests": ["model", "inputs"]}, "tests must list"),
        ({"tests": []}, "tests must list"),
        ({"iteration": 2}, "unknown setting 'iteration'"),
        ("yes", "must be true, false or a table"),
    ],
)
def test_bad_meta_settings_are_named(table, message):
    with pytest.raises(ValueError, match=message):
        meta.MetaSettings.from_config(table)


def test_meta_cells_of_a_task(tabular):
    """The task computes the reference on the subset (the run's scores there, for a
    deterministic method and metric), keeps the NR / AR samples by the prediction, and leaves
    the model's weights as they were."""
    model, x, y = tabular
    before = [w.copy() for w in model.get_weights()]
    settings = meta.MetaSettings(iterations=1, perturbations=1, samples=10)
    plan = meta.perturbations(settings, seed=3, n=len(x))
    deletion = xb.metrics.get("deletion", baseline=0.0)
    ids = np.arange(100, 124)
    work = Work(xb.methods.get("saliency"), [deletion], x, y, meta=[(p, deletion) for p in plan])
    work.samples = ids
    out = compute_method(model, work)
    assert [o[0] for o in out.outcomes] == ["ok"] * (1 + len(plan))
    configured, reference = out.outcomes[0][1], out.outcomes[1][1]
    positions = np.array(plan[0].positions)
    np.testing.assert_array_equal(reference["samples"], ids[positions])
    np.testing.assert_allclose(reference["scores"], configured["scores"][positions], rtol=1e-6)
    for p, (_, fields) in zip(plan[1:], out.outcomes[2:], strict=True):
        scores, xs = fields["scores"], x[positions]
        if p.test == "model":
            with scaled_weights(model, p.size, p.seed):
                after = meta.predicted(model, xs)
        else:
            after = meta.predicted(model, meta.perturb_input(xs, p.size, p.seed))
        keep = meta.kept(p.strength, meta.predicted(model, xs), after)
        assert np.isfinite(scores).tolist() == keep.tolist(), p.variant
        assert fields["curves"] is None
    for w, w0 in zip(model.get_weights(), before, strict=True):
        assert w.tobytes() == w0.tobytes()


def test_a_method_failing_on_the_perturbed_model_fails_those_cells_only(tabular):
    model, x, y = tabular
    calls = {"n": 0}

    @xb.methods.register("test_fails_second_time", replace=True)
    def fails(model, x, y):
        calls["n"] += 1
        if calls["n"] == 3:  # the clean explanation, the reference's, then the model test's
            raise RuntimeError("perturbed")
        return np.abs(x)

    settings = meta.MetaSettings(iterations=1, perturbations=1, samples=5, tests=("model",))
    plan = meta.perturbations(settings, seed=0, n=len(x))
    q = xb.metrics.get("sparseness")
    out = compute_method(
        model,
        Work(xb.methods.get("test_fails_second_time"), [q], x, y, meta=[(p, q) for p in plan]),
    )
    statuses = [o[0] for o in out.outcomes]
    assert statuses[:3] == ["ok", "ok", "error"] and "perturbed" in out.outcomes[2][1]["error"]


def test_sanity_estimators_fail_where_they_must(tabular):
    """A metric that ignores everything (constant) never reacts: IAC_AR = IEC_AR = 0 (and it is
    perfectly resilient: IAC_NR = IEC_NR = 1). A metric of noise keeps the methods' ranking only
    by chance: IEC_NR near 1/5 with five methods, far below a real metric's."""
    model, x, y = tabular
    table = xb.meta_evaluate(
        model,
        x,
        y,
        METHODS,
        [ConstantScores(), RandomScores(), "sparseness"],
        iterations=2,
        perturbations=2,
        seed=0,
    ).set_index(["metric", "test"])
    assert list(table.columns[:2]) == ["dataset", "model"]
    constant = table.loc[("sanity_constant", "both")]
    assert (constant.iac_ar, constant.iec_ar, constant.iac_nr, constant.iec_nr) == (0, 0, 1, 1)
    assert constant.mc == 0.5
    noise = table.loc[("sanity_random", "both")]
    assert abs(noise.iec_nr - 1 / len(METHODS)) < 0.1
    assert table.loc[("sparseness", "model"), "iec_nr"] > noise.iec_nr + 0.5
    assert 0 < noise.n_ar < len(x) and noise.n_nr > 0.9 * len(x)


def test_meta_evaluate_is_seeded(tabular):
    model, x, y = tabular

    def run(seed):
        methods, metrics = ["saliency", "random"], ["sparseness"]
        return xb.meta_evaluate(
            model, x[:8], y[:8], methods, metrics, iterations=1, perturbations=1, seed=seed
        )

    first, again = run(0), run(0)
    assert first.equals(again)
    with pytest.raises(ValueError, match="meta_evaluate: unknown setting 'sigma'"):
        xb.meta_evaluate(model, x, y, ["saliency"], ["sparseness"], sigma=0.1)
