"""shap_adapters and lime_adapters (shap_kernel, shap_gradient, lime_image, lime_tabular)
against exact answers on tiny linear models, and the hint when their package is missing."""

from __future__ import annotations

import builtins
import importlib.util
import sys

import _tiny
import numpy as np
import pytest
from _tolerance import assert_roundoff_close
from scipy import stats

import xaibench as xb
from xaibench.methods import NotApplicable

HAVE_SHAP = "shap_kernel" in xb.methods.names()
HAVE_LIME = "lime_image" in xb.methods.names()
needs_shap = pytest.mark.skipif(not HAVE_SHAP, reason="shap is not installed")
needs_lime = pytest.mark.skipif(not HAVE_LIME, reason="lime is not installed")

# SHAP values of a linear model are exact: W[:, y] * (x - E[background]). LIME's surrogate of a
# linear model is the model itself, so its weights recover W (up to LIME's ridge penalty). Tests of
# an adapter are skipped when its package is not installed, except the one that checks what happens
# then.

# Small budgets that keep every test fast.
FAST = {
    "shap_gradient": {"nsamples": 16},
    "shap_kernel": {"nsamples": 40, "background_size": 3},
    "lime_image": {"num_samples": 40},
    "lime_tabular": {"num_samples": 60},
}
NEEDS = {"shap_gradient": needs_shap, "shap_kernel": needs_shap}
NEEDS.update(lime_image=needs_lime, lime_tabular=needs_lime)
ADAPTERS = [pytest.param(name, marks=NEEDS[name]) for name in FAST]
IMG_SHAPE = (4, 4, 2)


# These module fixtures override the same-named ones of tests/methods/conftest.py (other data).
@pytest.fixture(scope="module")
def linear_tab():
    """A linear model and a batch whose mean is exactly zero (rows x0 and -x0)."""
    rng = np.random.default_rng(20)
    w = rng.normal(size=(5, 3))
    b = rng.normal(size=3)
    x0 = rng.normal(size=(4, 5)).astype(np.float32)
    x = np.concatenate([x0, -x0])
    y = np.array([0, 2, 1, 2, 1, 0, 2, 1])
    return _tiny.linear_tabular(w, b), w, x, y


@pytest.fixture(scope="module")
def linear_img():
    rng = np.random.default_rng(21)
    w = rng.normal(size=(int(np.prod(IMG_SHAPE)), 3))
    b = rng.normal(size=3)
    x = rng.uniform(size=(3,) + IMG_SHAPE).astype(np.float32)
    y = np.array([1, 0, 2])
    return _tiny.linear_image(w, b, IMG_SHAPE), w, x, y


@pytest.fixture(scope="module")
def cnn_case():
    rng = np.random.default_rng(22)
    x = rng.uniform(size=(4,) + IMG_SHAPE).astype(np.float32)
    return _tiny.small_cnn(IMG_SHAPE), x, np.array([0, 1, 2, 1])


def contributions(w, x, y):
    """W[:, y] * x per sample and input value: (N,) + x.shape[1:]."""
    return w[:, y].T.reshape(x.shape) * x


def quadrant_sums(a):
    """Per-pixel values (N, 4, 4) -> the sum over each 2x2 quadrant painted on its pixels."""
    q = a.reshape(len(a), 2, 2, 2, 2).sum(axis=(2, 4))  # (N, row block, col block)
    return np.repeat(np.repeat(q, 2, axis=1), 2, axis=2)


def tabular_case(name, linear_tab, cnn_case):
    model, _, x, y = linear_tab
    return (model, x, y) if name == "lime_tabular" else cnn_case


# --------------------------------------------------------------------------------------------
# Missing packages
# --------------------------------------------------------------------------------------------


def hide(monkeypatch, package: str, error: type[Exception] | None) -> None:
    """Make ``import package`` (and its submodules) fail: absent (ImportError) or broken."""
    if error is None:
        for name in [package, f"{package}.lime_image", f"{package}.lime_tabular"]:
            monkeypatch.setitem(sys.modules, name, None)  # "import name" raises ImportError
        return
    real_import = builtins.__import__

    def broken_import(name, *args, **kwargs):
        if name.split(".")[0] == package:
            raise error("broken build")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", broken_import)


@pytest.mark.parametrize("error", [None, TypeError], ids=["absent", "broken"])
@pytest.mark.parametrize(
    "module, package, names",
    [
        ("shap_adapters", "shap", ["shap_gradient", "shap_kernel"]),
        ("lime_adapters", "lime", ["lime_image", "lime_tabular"]),
    ],
)
def test_missing_package_registers_hint(monkeypatch, module, package, names, error):
    """Importing an adapter module with its package absent, or failing to import, lists its
    methods as missing with how to install them."""
    registry = xb.methods._registry
    monkeypatch.setattr(
        registry, "_items", {k: v for k, v in registry._items.items() if k not in names}
    )
    monkeypatch.setattr(registry, "_missing", dict(registry._missing))
    path = importlib.util.find_spec(f"xaibench.methods.{module}").origin
    spec = importlib.util.spec_from_file_location(f"_hidden_{module}", path)
    with monkeypatch.context() as patch:  # hidden for the import only
        hide(patch, package, error)
        spec.loader.exec_module(importlib.util.module_from_spec(spec))

    hint = f"pip install 'xaibench[{package}]'"
    for name in names:
        assert name not in xb.methods.names()
        assert hint in xb.methods.missing()[name]
        assert error is None or "TypeError: broken build" in xb.methods.missing()[name]
        with pytest.raises(ValueError, match=rf"{name}.*xaibench\[{package}\]"):
            xb.methods.get(name)


# --------------------------------------------------------------------------------------------
# shap
# --------------------------------------------------------------------------------------------


@needs_shap
@pytest.mark.parametrize("background", ["batch", 0.0, 0.5])
def test_shap_kernel_linear_tabular_exact(linear_tab, background):
    """5 features: all 30 coalitions are enumerated, so the values are exact Shapley values."""
    model, w, x, y = linear_tab
    m = xb.methods.get("shap_kernel", background=background, background_size=len(x))
    mean = 0.0 if background == "batch" else background  # the batch mean is zero
    np.testing.assert_allclose(m(model, x, y), contributions(w, x - mean, y), rtol=1e-4, atol=1e-5)


@needs_shap
def test_shap_kernel_linear_image_superpixels(linear_img):
    """2x2 superpixels on 4x4 images: each one's value is the sum of W[:, y] * x over its pixels
    (and channels), painted on its pixels."""
    model, w, x, y = linear_img
    a = xb.methods.get("shap_kernel", segments=2, background=0.0)(model, x, y)
    assert a.shape == x.shape[:-1] and a.dtype == np.float32
    expected = quadrant_sums(contributions(w, x, y).sum(axis=-1))
    np.testing.assert_allclose(a, expected, rtol=1e-4, atol=1e-5)


@needs_shap
def test_shap_gradient_linear_constant_background(linear_tab):
    """One reference input: every sampled gradient is W[:, y] and every delta x - x'."""
    model, w, x, y = linear_tab
    a = xb.methods.get("shap_gradient", background=0.5, nsamples=8)(model, x, y)
    np.testing.assert_allclose(a, contributions(w, x - 0.5, y), rtol=1e-5, atol=1e-6)


@needs_shap
def test_shap_gradient_linear_batch_background(linear_tab):
    """The whole (zero-mean) batch as background: a = W[:, y] * (x - mean of the drawn x'),
    whose Monte Carlo error has standard deviation |W[:, y]| std(x) / sqrt(nsamples)."""
    model, w, x, y = linear_tab
    n = 1000
    a = xb.methods.get("shap_gradient", nsamples=n, background_size=len(x))(model, x, y)
    sigma = np.abs(w[:, y].T) * x.std(axis=0) / np.sqrt(n)
    assert (np.abs(a - contributions(w, x, y)) < 4 * sigma + 1e-6).all()


# --------------------------------------------------------------------------------------------
# lime
# --------------------------------------------------------------------------------------------


@needs_lime
def test_lime_tabular_continuous_linear(linear_tab):
    """Without discretisation the surrogate of a linear model is the model: the weight times the
    standardised value is W[:, y] * (x - batch mean) = W[:, y] * x, up to the ridge penalty."""
    model, w, x, y = linear_tab
    a = xb.methods.get("lime_tabular", discretize=False, num_samples=2000)(model, x, y)
    expected = contributions(w, x, y)
    np.testing.assert_allclose(a, expected, atol=0.02 * np.abs(expected).max())


@needs_lime
def test_lime_tabular_discretized_ranks_like_contributions(linear_tab):
    """LIME's default quartile bins only approximate the model: the weights rank the features
    like W[:, y] * x (Spearman), not exactly."""
    model, w, x, y = linear_tab
    a = xb.methods.get("lime_tabular", num_samples=2000)(model, x, y)
    expected = contributions(w, x, y)
    rho = [stats.spearmanr(a[i], expected[i])[0] for i in range(len(x))]
    assert np.mean(rho) > 0.8 and min(rho) > 0.5


@needs_lime
def test_lime_image_linear_superpixels(linear_img):
    """On/off superpixels of a linear model: the surrogate is exact, so each superpixel's weight
    is its sum of W[:, y] * (x - baseline) up to the ridge penalty; constant on the superpixel."""
    model, w, x, y = linear_img
    a = xb.methods.get("lime_image", segments=2, num_samples=300)(model, x, y)
    assert a.shape == x.shape[:-1] and a.dtype == np.float32
    expected = quadrant_sums(contributions(w, x, y).sum(axis=-1))
    np.testing.assert_allclose(a, expected, rtol=0.05, atol=0.02 * np.abs(expected).max())


@needs_lime
def test_lime_image_constant_per_superpixel(cnn_case):
    model, x, y = cnn_case
    a = xb.methods.get("lime_image", segments=2, num_samples=60)(model, x, y)
    assert a.shape == x.shape[:-1] and a.dtype == np.float32 and np.isfinite(a).all()
    np.testing.assert_array_equal(a, quadrant_sums(a) / 4)  # each 2x2 block holds one value
    assert np.unique(a[0]).size > 1


@needs_lime
@pytest.mark.parametrize("name, kind", [("lime_image", "tabular"), ("lime_tabular", "image")])
def test_lime_inputs_not_applicable(linear_tab, cnn_case, name, kind):
    model, x, y = cnn_case if kind == "image" else linear_tab[:1] + linear_tab[2:]
    with pytest.raises(NotApplicable, match=kind):
        xb.methods.get(name)(model, x, y)


# --------------------------------------------------------------------------------------------
# Behaviour every adapter shares
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ADAPTERS)
def test_seeded(linear_tab, cnn_case, name):
    model, x, y = tabular_case(name, linear_tab, cnn_case)
    state = np.random.get_state()
    a0 = xb.methods.get(name, seed=0, **FAST[name])(model, x, y)
    a0_again = xb.methods.get(name, seed=0, **FAST[name])(model, x, y)
    a1 = xb.methods.get(name, seed=1, **FAST[name])(model, x, y)
    np.testing.assert_array_equal(a0, a0_again)
    assert not np.allclose(a0, a1)
    assert a0.dtype == np.float32 and np.isfinite(a0).all()
    assert a0.shape in (x.shape, x.shape[:-1])
    # shap draws from numpy's global generator: the adapters leave its state as they found it
    np.testing.assert_array_equal(np.random.get_state()[1], state[1])


@pytest.mark.parametrize("name", ADAPTERS)
@pytest.mark.parametrize("batch_size", [1, 3])
def test_batch_size_does_not_change_attributions(linear_tab, cnn_case, name, batch_size):
    """Equal up to kernel round-off (tests/_tolerance.py); fails if the adapter drew its
    coalitions or samples per model call, or passed the batch size to shap/lime as a setting
    that changes their answer."""
    model, x, y = tabular_case(name, linear_tab, cnn_case)
    x, y = x[:3], y[:3]  # one model call per perturbed input at batch_size=1: keep it small
    fast = {**FAST[name], "segments": 2} if name == "shap_kernel" else FAST[name]
    ref = xb.methods.get(name, batch_size=256, **fast)(model, x, y)
    a = xb.methods.get(name, batch_size=batch_size, **fast)(model, x, y)
    assert_roundoff_close(a, ref)


@pytest.mark.parametrize(
    "name, params, expected",
    [
        # (14 coalitions of 4 superpixels + x + the empty one) * 3 background inputs
        pytest.param("shap_kernel", {"segments": 2, "background_size": 3}, 48, marks=needs_shap),
        pytest.param("shap_kernel", {"nsamples": 40, "background": 0.0}, 42, marks=needs_shap),
        pytest.param("lime_image", {"num_samples": 40}, 40, marks=needs_lime),
        pytest.param("lime_tabular", {"num_samples": 60}, 60, marks=needs_lime),
    ],
)
def test_declared_model_calls(linear_tab, cnn_case, monkeypatch, name, params, expected):
    """The forward passes the runtime metric reports are the ones the model gets."""
    model, x, y = tabular_case(name, linear_tab, cnn_case)
    rows = []
    forward = model.predict_on_batch
    monkeypatch.setattr(model, "predict_on_batch", lambda v: rows.append(len(v)) or forward(v))
    m = xb.methods.get(name, **params)
    m(model, x, y)
    assert sum(rows) == expected * len(x)
    assert xb.metrics.cls("runtime").calls(m, x) == {"forward": expected, "backward": 0.0}


@pytest.mark.parametrize("name", ADAPTERS)
def test_params_round_trip(name):
    m = xb.methods.get(name, **FAST[name])
    assert xb.methods.get(name, **m.params).params == m.params
    assert m.stochastic and "seed" in m.params and "batch_size" in m.params


@pytest.mark.parametrize(
    "name, params",
    [
        pytest.param("shap_kernel", {"background": "mean"}, marks=needs_shap),
        pytest.param("shap_kernel", {"nsamples": 0}, marks=needs_shap),
        pytest.param("shap_gradient", {"seed": -1}, marks=needs_shap),
        pytest.param("lime_image", {"segments": 0}, marks=needs_lime),
        pytest.param("lime_tabular", {"discretize": "yes"}, marks=needs_lime),
    ],
)
def test_bad_settings(name, params):
    with pytest.raises(ValueError, match=next(iter(params))):
        xb.methods.get(name, **params)


@needs_shap
@needs_lime
@pytest.mark.slow
def test_adapters_rank_beside_the_native_methods_in_a_run(tmp_path):
    import pandas as pd

    from xaibench.cli import main

    budgets = {
        "kernel_shap": {"samples": 64},
        "lime": {"samples": 64},
        "shap_kernel": {"nsamples": 64, "background_size": 5},
        "lime_tabular": {"num_samples": 64},
    }
    params = "".join(
        f"[params.{m}]\n" + "".join(f"{k} = {v}\n" for k, v in p.items())
        for m, p in budgets.items()
    )
    config = tmp_path / "adapters.toml"
    config.write_text(
        'samples = 8\ndatasets = ["breast_cancer"]\nmodels = ["linear"]\n'
        'methods = ["kernel_shap", "shap_kernel", "lime", "lime_tabular", "random"]\n'
        'metrics = ["deletion", "faithfulness_correlation"]\n' + params
    )
    out = tmp_path / "run"
    assert main(["run", "--config", str(config), "--out", str(out), "--no-progress"]) == 0
    board = pd.read_csv(out / "leaderboard.csv")
    ranked = board[board.metric == "faithfulness_correlation"].set_index("method")
    assert set(ranked.index) == {"kernel_shap", "shap_kernel", "lime", "lime_tabular", "random"}
    assert ranked["rank"].notna().all() and (ranked["n"] == 8).all()
    # on a linear model every SHAP/LIME variant recovers the contributions: all beat the control
    assert (ranked.drop("random")["mean"] > ranked.loc["random", "mean"] + 0.3).all()
