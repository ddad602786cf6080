"""Setting sweeps and the meta-evaluation in configs and on the command line: the variants a
[sweep.<metric>] table makes, the built-in sweep, and every bad entry refused before any work."""

from __future__ import annotations

import pytest
from _runs import write_config

import xaibench as xb
from xaibench.benchmark import sweep
from xaibench.benchmark.config import SUITES, load_config
from xaibench.cli import main


def deletion(**settings):
    return xb.metrics.get("deletion", **settings)


def test_one_setting_at_a_time_around_the_configured_value():
    """baseline 0.0 is the configured cell itself; 0 builds the same metric as 0.0: no variant."""
    variants = sweep.variants(
        deletion(steps=20), {"baseline": [0.0, "mean", 0, "blur"], "steps": [10, 20]}
    )
    assert [v.label for v in variants] == [
        "sweep:baseline=mean",
        "sweep:baseline=blur",
        "sweep:steps=10",
    ]
    assert variants[0].metric.params == {**deletion().params, "baseline": "mean"}
    assert variants[2].metric.params["baseline"] == 0.0 and variants[2].changed == {"steps": 10}


def test_product_varies_the_settings_together():
    variants = sweep.variants(
        deletion(), {"baseline": [0.0, "mean"], "steps": [20, 5], "product": True}
    )
    assert [v.label for v in variants] == [
        "sweep:steps=5",
        "sweep:baseline=mean",
        "sweep:baseline=mean,steps=5",
    ]


def test_every_faithfulness_metric_declares_a_sweep_that_builds():
    """--sweep default: the documented alternatives of every faithfulness metric, each a valid
    setting (no entry refused), each metric with at least one variant."""
    names = [n for n in xb.metrics.names() if xb.metrics.cls(n).category == "faithfulness"]
    defaults = sweep.defaults(names)
    assert sorted(defaults) == sorted(names)
    for name, table in defaults.items():
        assert sweep.variants(xb.metrics.get(name), table), name
    assert sweep.defaults(["sparseness", "runtime"]) == {}


def test_sweep_default_covers_the_runs_faithfulness_metrics_and_keeps_the_configs_own():
    config = SUITES["quick"].with_overrides(metrics=("deletion", "sparseness"), sweep_default=True)
    assert set(config.sweep) == {"deletion"}
    own = SUITES["quick"].with_overrides(metrics=("deletion",))
    own = own.__class__(**{**own.__dict__, "sweep": {"deletion": {"steps": [5]}}})
    assert own.with_overrides(sweep_default=True).sweep == {"deletion": {"steps": [5]}}
    assert own.with_overrides(metrics=("sparseness",)).sweep == {}  # deletion left the run


def test_meta_flag_gives_a_suite_its_budget_and_a_config_its_own(tmp_path):
    assert SUITES["quick"].meta is None and SUITES["quick"].with_overrides().meta is None
    assert SUITES["quick"].with_overrides(meta=True).meta == {
        "iterations": 2,
        "perturbations": 1,
        "samples": 8,
    }
    cfg = write_config(tmp_path / "c.toml", ["saliency"], ["deletion"], extra="meta = true\n")
    assert load_config(cfg).meta == {}  # MetaQuantus's budget
    cfg = write_config(
        tmp_path / "c.toml", ["saliency"], ["deletion"], extra="[meta]\niterations = 1\n"
    )
    assert load_config(cfg).with_overrides(meta=True).meta == {"iterations": 1}


def test_a_run_without_meta_or_sweep_records_the_config_as_before():
    config = SUITES["quick"]
    assert not {"meta", "meta_budget", "sweep"} & set(config.to_dict())
    assert config.n_cells() == 6 * len(config.methods) * len(config.metrics)
    meta = config.with_overrides(meta=True)
    assert meta.to_dict()["meta"] == meta.meta
    evaluated = len(config.metrics) - 1  # runtime (cost) is not meta-evaluated
    assert meta.n_cells() == config.n_cells() + 6 * len(config.methods) * 9 * evaluated


@pytest.mark.parametrize(
    "extra, message",
    [
        ("[sweep.insertion]\nbaseline = [0.0]\n", "[sweep.insertion] names no metric of this run"),
        ("[sweep.deletion]\nstepz = [5]\n", "metric 'deletion' has no setting 'stepz'"),
        ("[sweep.deletion]\nsteps = 5\n", "steps must be a non-empty list of values"),
        ("[sweep.deletion]\nsteps = []\n", "steps must be a non-empty list of values"),
        ("[sweep.deletion]\nsteps = [0]\n", "[sweep.deletion] steps = 0:"),
        ("[sweep.deletion]\nbaseline = ['nope']\n", "[sweep.deletion] baseline = 'nope':"),
        ("[sweep.deletion]\nproduct = 1\nsteps = [5]\n", "product must be true or false"),
        ("[sweep.deletion]\nproduct = true\n", "lists no setting to vary"),
        ("sweep = 3\n", "sweep must hold [sweep.<metric>] tables"),
        ("meta = 3\n", "meta must be true, false or a [meta] table"),
        ("[meta]\niterations = 0\n", "[meta] iterations must be a positive integer"),
        ("[meta]\nsigma_ar = 'big'\n", "[meta] sigma_ar must be a positive number"),
        ("[meta]\ntests = ['weights']\n", "[meta] tests must list"),
        ("[meta]\nsample = 8\n", "[meta]: unknown setting 'sample'"),
    ],
)
def test_bad_sweeps_and_meta_settings_exit_2_with_one_line_before_any_work(
    tmp_path, capsys, extra, message
):
    cfg = write_config(tmp_path / "c.toml", ["saliency"], ["deletion"], extra=extra)
    out = tmp_path / "o"
    assert main(["run", "--config", str(cfg), "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists()  # nothing started
