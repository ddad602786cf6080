"""Plugins on the command line: a module written into the test's folder registers a method, a
metric, a dataset and a model, and ``xaibench run``, ``report`` and ``list`` use them by name once
it is imported by ``--import``, by a config's ``imports``, or as an installed package's entry
point in the group ``xaibench.plugins``."""

from __future__ import annotations

import importlib
import json
import sys
import textwrap

import pandas as pd
import pytest

import xaibench as xb
from xaibench.cli import main
from xaibench.store import Store

pytestmark = pytest.mark.slow

PLUGIN = '''
"""A user's plugin: one method, one metric, one dataset and one model."""
import numpy as np
import xaibench as xb
from xaibench._tf import keras


@xb.methods.register("plugin_abs")
def plugin_abs(model, x, y):
    """The absolute input values."""
    return np.abs(x)


@xb.metrics.register(
    "plugin_mass", higher_is_better=False, category="complexity", needs_model=False
)
def plugin_mass(model, x, y, a):
    """Mean absolute attribution of each sample."""
    return np.abs(a).reshape(len(a), -1).mean(axis=1)


@xb.datasets.register("plugin_blobs")
def plugin_blobs():
    """Two Gaussian blobs in 4 features."""
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(-1, 1, (60, 4)), rng.normal(1, 1, (60, 4))])
    y = np.repeat([0, 1], 60)
    return xb.datasets.from_arrays(x, y, name="plugin_blobs", test_fraction=0.25, seed=0)


@xb.models.register("plugin_dense", kinds=("tabular",), max_epochs=3)
def plugin_dense(input_shape, n_classes, seed):
    """One dense layer."""
    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input(input_shape), keras.layers.Dense(n_classes)])
'''

GRID = ["--datasets", "plugin_blobs", "--models", "plugin_dense"]
GRID += ["--methods", "plugin_abs,saliency", "--metrics", "plugin_mass,sparseness"]


@pytest.fixture
def folder(tmp_path, monkeypatch):
    """The test's folder as the current directory, and afterwards the registries, the import
    path and the modules as they were: what a plugin registers stays in this test."""
    from xaibench.datasets.base import registry as datasets
    from xaibench.models.zoo import registry as architectures

    for registry in (xb.methods._registry, xb.metrics._registry, datasets, architectures):
        monkeypatch.setattr(registry, "_items", dict(registry._items))
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.chdir(tmp_path)
    importlib.invalidate_caches()
    yield tmp_path
    for name, module in list(sys.modules.items()):
        if str(getattr(module, "__file__", "") or "").startswith(str(tmp_path)):
            del sys.modules[name]
    xb.datasets.load.cache_clear()


def write_plugin(path, name="my_plugin"):
    (path / f"{name}.py").write_text(textwrap.dedent(PLUGIN))
    return name


def stored_config(out) -> dict:
    with Store(out / "results.sqlite", readonly=True) as store:
        return store.latest_run()["config"]


def test_import_flag_runs_every_kind_of_plugin_component(folder, capsys):
    """``--import my_plugin`` finds ./my_plugin.py (the console script's import path does not
    hold the current directory: the CLI puts it there, as ``python -m`` does)."""
    write_plugin(folder)
    out = folder / "run"
    argv = ["run", "--import", "my_plugin", *GRID, "--samples", "5", "--out", str(out)]
    assert main([*argv, "--no-progress"]) == 0
    assert "4 cells: 4 computed" in capsys.readouterr().out
    board = pd.read_csv(out / "leaderboard.csv")
    assert set(board["method"]) == {"plugin_abs", "saliency"}
    assert set(board["metric"]) == {"plugin_mass", "sparseness"}
    assert set(board["dataset"]) == {"plugin_blobs"} and set(board["model"]) == {"plugin_dense"}
    mass = board[board.metric == "plugin_mass"].iloc[0]
    assert mass["category"] == "complexity" and not mass["higher_is_better"]
    assert stored_config(out)["imports"] == ["my_plugin"]


def test_config_imports_are_imported_and_recorded(folder, capsys):
    name = write_plugin(folder, "config_plugin")
    cfg = folder / "c.toml"
    cfg.write_text(
        f'imports = ["{name}"]\nsamples = 4\ndatasets = ["digits"]\nmodels = ["linear"]\n'
        'methods = ["plugin_abs", "random"]\nmetrics = ["plugin_mass"]\n'
    )
    out = folder / "run"
    assert main(["run", "--config", str(cfg), "--out", str(out), "--no-progress"]) == 0
    assert set(pd.read_csv(out / "leaderboard.csv")["method"]) == {"plugin_abs", "random"}
    assert stored_config(out)["imports"] == [name]


def test_entry_point_of_an_installed_package_is_imported_by_every_command(folder, capsys):
    """An installed distribution (a ``*.dist-info`` folder with ``entry_points.txt`` on the
    import path is one for importlib.metadata) declares its plugin module in the group
    ``xaibench.plugins``: ``list``, ``run`` and ``report`` import it without being told."""
    site = folder / "site"
    info = site / "xaibench_plugin_demo-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: xaibench-plugin-demo\n")
    (info / "entry_points.txt").write_text("[xaibench.plugins]\ndemo = demo_plugin:unused\n")
    write_plugin(site, "demo_plugin")
    sys.path.insert(0, str(site))
    importlib.invalidate_caches()

    assert main(["list", "methods"]) == 0
    assert "plugin_abs" in capsys.readouterr().out
    out = folder / "run"
    argv = ["run", *GRID, "--samples", "5", "--out", str(out), "--no-progress"]
    assert main(argv) == 0
    assert set(pd.read_csv(out / "leaderboard.csv")["method"]) == {"plugin_abs", "saliency"}
    assert stored_config(out)["imports"] == ["demo_plugin"]
    capsys.readouterr()
    assert main(["report", str(out)]) == 0
    assert "note" not in capsys.readouterr().err


def test_list_shows_the_plugin_components_with_the_built_ins(folder, capsys):
    write_plugin(folder)
    assert main(["list", "--import", "my_plugin"]) == 0
    text = capsys.readouterr().out
    for name in ("plugin_abs", "plugin_mass", "plugin_blobs", "plugin_dense", "saliency", "cnn"):
        assert name in text
    assert "Two Gaussian blobs in 4 features." in text  # the dataset row, read from its loader
    row = next(line for line in text.splitlines() if line.startswith("plugin_blobs"))
    assert row.split()[1:6] == ["tabular", "90", "30", "4", "2"]


def test_report_reimports_the_run_s_plugins_or_works_from_the_store_alone(folder, capsys):
    """``report`` imports the modules the run recorded; when one cannot be imported any more it
    says so in one line and builds the same outputs from the store, which holds every score
    with its metric's metadata. ``--import`` of a missing module is an error."""
    write_plugin(folder)
    out = folder / "run"
    argv = ["run", "--import", "my_plugin", *GRID, "--samples", "5", "--out", str(out)]
    assert main([*argv, "--no-progress"]) == 0
    before = (out / "leaderboard.csv").read_bytes()
    capsys.readouterr()

    assert main(["report", str(out)]) == 0
    assert "note" not in capsys.readouterr().err

    (folder / "my_plugin.py").unlink()  # the plugin is gone
    del sys.modules["my_plugin"]
    importlib.invalidate_caches()
    (out / "leaderboard.csv").unlink()
    assert main(["report", str(out)]) == 0
    err = capsys.readouterr().err
    assert "cannot import plugin module 'my_plugin' (recorded by the run in" in err
    assert "built from the store alone" in err and "Traceback" not in err
    assert (out / "leaderboard.csv").read_bytes() == before

    assert main(["report", str(out), "--import", "my_plugin"]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [
        "xaibench: error: cannot import plugin module 'my_plugin' (--import): "
        "ModuleNotFoundError: No module named 'my_plugin'"
    ]


@pytest.mark.parametrize(
    "source, message",
    [
        (None, "ModuleNotFoundError: No module named 'absent_plugin'"),
        ("def broken(:\n", "SyntaxError: "),
        ("raise RuntimeError('no licence')\n", "RuntimeError: no licence"),
        ("import sys\nsys.exit(3)\n", "it called sys.exit(3) while being imported"),
    ],
)
def test_a_plugin_that_cannot_be_imported_exits_2_naming_it(folder, capsys, source, message):
    if source is not None:
        (folder / "absent_plugin.py").write_text(source)
    for command in (["list"], ["run", "--out", str(folder / "o")], ["report", str(folder)]):
        assert main([*command, "--import", "absent_plugin"]) == 2
        lines = capsys.readouterr().err.strip().splitlines()
        assert (
            len(lines) == 1 and "cannot import plugin module 'absent_plugin' (--import)" in lines[0]
        )
        assert message in lines[0]
    assert not (folder / "o").exists()


def test_a_standard_library_module_is_not_a_plugin(folder, capsys):
    """``--import json`` used to import the standard library silently."""
    assert main(["list", "--import", "json"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "xaibench: error: plugin module 'json' (--import) is Python's standard library module "
        "'json', not a plugin: give your module another name"
    ]


@pytest.fixture
def installed(folder, monkeypatch, tmp_path_factory):
    """The file of an installed module ``xb_shadowed`` (a folder of the import path outside the
    current directory), with a plugin of the same name in the current directory."""
    from xaibench import plugins

    monkeypatch.setattr(plugins, "_HIDING", set())
    site = tmp_path_factory.mktemp("site")
    (site / "xb_shadowed").mkdir()
    (site / "xb_shadowed" / "__init__.py").write_text("INSTALLED = True\n")
    sys.path.append(str(site))
    write_plugin(folder, "xb_shadowed")
    importlib.invalidate_caches()
    yield site / "xb_shadowed" / "__init__.py"
    sys.modules.pop("xb_shadowed", None)


def test_a_plugin_hiding_an_installed_module_is_said(installed, capsys):
    """``./xb_shadowed.py`` comes first on the import path: imported, and said to hide the
    installed one."""
    assert main(["list", "methods", "--import", "xb_shadowed"]) == 0
    out, err = capsys.readouterr()
    assert "plugin_abs" in out  # the current directory's module was imported
    assert err.strip().splitlines() == [
        "xaibench: note: ./xb_shadowed.py in the current directory hides the installed "
        f"'xb_shadowed' ({installed}): plugins are "
        "imported with the current directory first on the import path, so what imports "
        "'xb_shadowed' in this command gets yours; rename your file to use the installed one"
    ]


def test_an_installed_module_imported_before_its_namesake_plugin_is_said(installed, capsys):
    """The installed module was imported first (as xaibench imports lime): ``--import`` gets
    it, not the current directory's file, and says so."""
    import xb_shadowed

    assert xb_shadowed.INSTALLED
    assert main(["list", "methods", "--import", "xb_shadowed"]) == 0
    out, err = capsys.readouterr()
    assert "plugin_abs" not in out
    assert err.strip().splitlines() == [
        "xaibench: note: plugin module 'xb_shadowed' (--import): imported the installed "
        f"'xb_shadowed' ({installed}), which was "
        "imported before, not ./xb_shadowed.py in the current directory; rename your file to "
        "import it"
    ]


def test_a_plugin_that_registers_nothing_is_said(folder, capsys):
    (folder / "empty_plugin.py").write_text("VALUE = 1\n")
    assert main(["list", "methods", "--import", "empty_plugin"]) == 0
    assert capsys.readouterr().err.strip().splitlines() == [
        "xaibench: note: plugin module 'empty_plugin' (--import), imported from "
        "./empty_plugin.py, registered no method, metric, dataset or model"
    ]


def test_config_imports_are_validated(folder, capsys):
    for value, message in [
        ('"my-plugin"', "'my-plugin' is not a module name"),
        ("[1]", "1 is not a module name"),
        ('["a", "a"]', "imports lists a module twice"),
        ("{a = 1}", "imports must be a list of module names"),
    ]:
        cfg = folder / "c.toml"
        cfg.write_text(f"imports = {value}\n")
        assert main(["run", "--config", str(cfg), "--out", str(folder / "o")]) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err
    assert not (folder / "o").exists()


def test_a_plugin_model_s_settings_are_predicted_without_loading_it(folder):
    """The runner reuses a (dataset, model) whose cells are all stored without loading the
    model, by the settings load_or_train gives it (all but the weights' hash): a user
    architecture's include the fingerprint of its code."""
    from xaibench.benchmark.plan import expected_model_settings
    from xaibench.plugins import import_plugin

    import_plugin(write_plugin(folder), "this test")
    data = xb.datasets.load("plugin_blobs")
    trained = xb.models.load_or_train("plugin_dense", data)
    assert "code" in trained.settings
    without_weights = {k: v for k, v in trained.settings.items() if k != "weights"}
    assert expected_model_settings("plugin_dense", data) == without_weights


def test_stored_config_and_fingerprints_make_reruns_reuse_plugin_cells(folder, capsys):
    """A rerun with the plugin reuses every cell; a changed plugin function computes its cells
    again (its code is part of their keys)."""
    write_plugin(folder)
    out = folder / "run"
    argv = ["run", "--import", "my_plugin", *GRID, "--samples", "5", "--out", str(out)]
    assert main([*argv, "--no-progress"]) == 0
    assert main([*argv, "--no-progress"]) == 0
    assert "4 cells: 0 computed, 4 reused" in capsys.readouterr().out
    changed = (folder / "my_plugin.py").read_text().replace("np.abs(x)", "np.abs(x) * 2")
    (folder / "my_plugin.py").write_text(changed)
    del sys.modules["my_plugin"]
    for registry in (xb.methods._registry, xb.metrics._registry):
        registry._items = {k: v for k, v in registry._items.items() if not k.startswith("plugin")}
    from xaibench.datasets.base import registry as datasets
    from xaibench.models.zoo import registry as architectures

    datasets._items.pop("plugin_blobs")
    architectures._items.pop("plugin_dense")
    importlib.invalidate_caches()
    assert main([*argv, "--no-progress"]) == 0
    assert "4 cells: 2 computed, 2 reused" in capsys.readouterr().out
    assert json.loads((out / ".outputs.json").read_text())["files"]
