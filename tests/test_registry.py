import inspect

import _tiny
import numpy as np
import pytest
from _metric_cases import builtin_metrics

import xaibench as xb
from xaibench.metrics import CATEGORIES


def test_names_are_sorted_and_hold_the_builtins():
    assert xb.methods.names() == sorted(xb.methods.names())
    assert {"saliency", "integrated_gradients", "random"} <= set(xb.methods.names())
    assert {"deletion", "insertion", "faithfulness_correlation", "sparseness", "runtime"} <= set(
        xb.metrics.names()
    )


@pytest.mark.parametrize("registry", [xb.methods, xb.metrics])
def test_unknown_name_names_it_close_matches_and_valid_choices(registry):
    name = "saliancy" if registry is xb.methods else "deletoin"
    with pytest.raises(ValueError) as err:
        registry.get(name)
    msg = str(err.value)
    assert repr(name) in msg
    assert "Did you mean" in msg
    for valid in registry.names():
        assert valid in msg


def test_unknown_parameter_names_it_and_the_valid_ones():
    with pytest.raises(ValueError) as err:
        xb.methods.get("integrated_gradients", stpes=8)
    msg = str(err.value)
    assert "'stpes'" in msg and "integrated_gradients" in msg
    assert "steps" in msg and "baseline" in msg and "batch_size" in msg


def test_get_overrides_defaults_and_params_round_trip():
    m = xb.methods.get("integrated_gradients", steps=8)
    assert m.params == {"steps": 8, "baseline": 0.0, "batch_size": "auto"}
    again = xb.methods.get("integrated_gradients", **m.params)
    assert again.params == m.params
    q = xb.metrics.get("deletion", steps=5, output="logit")
    assert q.params["steps"] == 5 and q.params["output"] == "logit"
    assert xb.metrics.get(q.name, **q.params).params == q.params


@pytest.mark.parametrize(
    "name, params, match",
    [
        ("deletion", {"steps": 0}, "steps"),
        ("deletion", {"baseline": "zeros"}, "baseline"),
        ("deletion", {"output": "probs"}, "output"),
        ("integrated_gradients", {"batch_size": -1}, "batch_size"),
    ],
)
def test_bad_setting_values_are_rejected_by_name(name, params, match):
    registry = xb.methods if name in xb.methods.names() else xb.metrics
    with pytest.raises(ValueError, match=match):
        registry.get(name, **params)


builtin = _tiny.builtin


def test_every_component_takes_batch_size_and_stochastic_ones_a_seed():
    for registry in (xb.methods, xb.metrics):
        for name in builtin(registry):
            assert "batch_size" in registry.cls(name).param_names(), name
    assert "seed" in xb.methods.cls("random").param_names()
    assert "seed" in xb.metrics.cls("faithfulness_correlation").param_names()


def test_metric_metadata_is_on_the_class():
    for name in builtin(xb.metrics):
        cls = xb.metrics.cls(name)
        assert isinstance(cls.higher_is_better, bool)
        assert cls.category in CATEGORIES
    assert xb.metrics.cls("deletion").higher_is_better is False
    assert xb.metrics.cls("insertion").higher_is_better is True
    assert xb.metrics.cls("runtime").needs_explain is True
    assert xb.metrics.cls("sparseness").needs_model is False


def test_register_user_function_method_and_metric():
    @xb.methods.register("test_registry_ones")
    def ones(model, x, y, *, scale=1.0):
        """All-ones attributions times scale."""
        return np.ones_like(x) * scale

    m = xb.methods.get("test_registry_ones", scale=2.0)
    assert m.params == {"scale": 2.0}
    assert m.description == "All-ones attributions times scale."
    x = np.zeros((2, 3), np.float32)
    np.testing.assert_array_equal(m(None, x, [0, 1]), np.full((2, 3), 2.0))
    with pytest.raises(ValueError, match="scal"):
        xb.methods.get("test_registry_ones", scal=1)

    @xb.metrics.register(
        "test_registry_total", higher_is_better=False, category="complexity", needs_model=False
    )
    def total(model, x, y, a, *, power=1):
        return (np.abs(a) ** power).sum(axis=1)

    q = xb.metrics.get("test_registry_total", power=2)
    a = np.array([[2.0, -2.0, 2.0], [1.0, 0.0, 3.0]])  # not constant (those score NaN: README)
    np.testing.assert_allclose(q(None, x, [0, 1], a), [12.0, 10.0])


def test_register_twice_or_without_metadata_fails():
    with pytest.raises(ValueError, match="already registered"):
        xb.methods.register("saliency")(lambda model, x, y: x)
    with pytest.raises(ValueError, match="higher_is_better"):
        xb.metrics.register("test_registry_nometa")(lambda model, x, y, a: a.sum(1))
    with pytest.raises(ValueError, match="category"):
        xb.metrics.register("test_registry_badcat", higher_is_better=True, category="speed")
    with pytest.raises(TypeError, match="default"):
        xb.methods.register("test_registry_nodefault")(lambda model, x, y, k: x)


@pytest.mark.parametrize(
    "registry, name, params",
    [
        (xb.methods, "integrated_gradients", {"steps": 16, "baseline": 0.5}),
        (xb.metrics, "deletion", {"steps": 5, "output": "logit"}),
        (xb.datasets, "wine", {}),
        (xb.models, "mlp", {}),
    ],
)
def test_every_kind_of_component_round_trips_through_its_config(registry, name, params):
    component = registry.from_config({"name": name, **params})
    assert component.get_config() == {**registry.cls(name)().get_config(), **params}
    assert registry.from_config(component.get_config()).params == component.params


@pytest.mark.parametrize("config", [{"steps": 4}, "deletion", {"name": 3}])
def test_a_config_without_a_name_is_refused(config):
    with pytest.raises(ValueError, match="a metric config is a dict with a 'name'"):
        xb.metrics.from_config(config)


@pytest.mark.parametrize("registry, kind", [(xb.datasets, "dataset"), (xb.models, "model")])
def test_datasets_and_models_refuse_to_replace_a_builtin(registry, kind):
    with pytest.raises(ValueError, match=f"built-in {kind}"):
        registry.register("digits" if kind == "dataset" else "cnn")(lambda *a: None)


def test_a_user_architecture_trains_by_name_and_its_code_keys_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XAIBENCH_CACHE", str(tmp_path))
    monkeypatch.setattr(xb.models.registry, "_items", dict(xb.models.registry._items))
    from xaibench._tf import keras

    def register(units):
        @xb.models.register("test_registry_net", kinds=("tabular",), max_epochs=2)
        def net(input_shape, n_classes, seed):
            """A hidden layer, then logits."""
            return keras.Sequential(
                [keras.Input(input_shape), keras.layers.Dense(units), keras.layers.Dense(n_classes)]
            )

    register(4)
    assert "test_registry_net" in xb.models.names()
    assert xb.models.describe("test_registry_net") == "A hidden layer, then logits."
    trained = xb.models.load("test_registry_net", "wine")
    assert trained.settings["code"] and trained.model.layers[0].units == 4
    with pytest.raises(ValueError, match="needs tabular data"):
        xb.models.load("test_registry_net", "digits")
    register(8)  # the same name, changed code: trained again, not the cached 4-unit model
    again = xb.models.load("test_registry_net", "wine")
    assert again.model.layers[0].units == 8 and again.settings["code"] != trained.settings["code"]
    assert len(list((tmp_path / "models").glob("test_registry_net-wine-*.keras"))) == 2


@pytest.mark.parametrize("base", [xb.datasets.Source, xb.models.Architecture])
def test_a_dataset_or_model_class_without_its_hook_cannot_be_made(base):
    class Incomplete(base):
        pass

    with pytest.raises(TypeError, match="abstract"):
        Incomplete()


AUTO_OR_INT = "batch_size must be 'auto' or a positive integer, got"
COMPONENTS = [("methods", n) for n in _tiny.builtin(xb.methods)] + [
    ("metrics", n) for n in builtin_metrics()
]


@pytest.mark.parametrize("kind, name", COMPONENTS)
def test_batch_size_defaults_to_auto_and_is_checked(kind, name):
    """CONTRACT: ``batch_size="auto"`` is the default of every component (models.batching); an
    integer is kept as given; anything else is refused in one line naming the setting (the
    sensitivity metrics also take None: keep the method's own)."""
    registry = getattr(xb, kind)
    default = inspect.signature(registry.cls(name)).parameters["batch_size"].default
    assert default == "auto"
    assert registry.get(name).params["batch_size"] == "auto"
    assert registry.get(name, batch_size=3).params["batch_size"] == 3
    for bad in (0, 2.5, True, "Auto") + ((None,) if kind == "methods" else ()):
        with pytest.raises(ValueError, match=AUTO_OR_INT):
            registry.get(name, batch_size=bad)
