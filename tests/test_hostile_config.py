"""Configs, data and environments as a hostile user writes them (issue 25): each is exit 2 with
one short line naming the problem, before any work, and leaves no file behind."""

from __future__ import annotations

import numpy as np
import pytest
from _runs import write_config

import xaibench as xb
import xaibench.datasets as datasets_module
from xaibench.benchmark import runner
from xaibench.benchmark.config import RunConfig, load_config
from xaibench.cli import main

GRID = ["--methods", "saliency", "--metrics", "sparseness", "--samples", "4", "--no-progress"]


def refused(argv, out, capsys) -> str:
    """The one error line of ``xaibench run argv --out out``, which must exit 2 and leave
    ``out`` absent."""
    assert main(["run", *argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err and err[-1].startswith("xaibench: error: "), err
    assert len(err) <= 2 and "Traceback" not in err[-1]  # [the banner,] one line
    assert not out.exists()  # no run directory, no store, no lock
    return err[-1]


def tiny_npz(path, x=None, y=None):
    """A 20-sample tabular dataset as an .npz (both splits the same 20 rows)."""
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(20, 4)).astype(np.float32) if x is None else x
    y = np.arange(20) % 2 if y is None else y
    np.savez(path, x_train=x, y_train=y, x_test=x, y_test=y)
    return path


# the run's seed (issue 25 #3) -------------------------------------------------------------------


@pytest.mark.parametrize("seed", ["-1", "4294967296", "0.5", "true", '"0"'])
def test_a_bad_run_seed_is_named_before_anything_exists(tmp_path, capsys, seed):
    """It used to fail in the sample selection after the store was opened ("expected
    non-negative integer", an empty store left behind)."""
    cfg = write_config(tmp_path / "c.toml", ["saliency"], ["sparseness"], extra=f"seed = {seed}")
    cfg.write_text(cfg.read_text().replace("seed = 0\n", ""))
    line = refused(["--config", str(cfg)], tmp_path / "run", capsys)
    assert "seed must be a non-negative integer" in line


# specs the results would name alike (#4) --------------------------------------------------------


def test_two_datasets_named_alike_are_refused_naming_both(tmp_path, capsys):
    npz = tiny_npz(tmp_path / "digits.npz")
    argv = ["--datasets", f"digits,{npz}", "--models", "linear", *GRID]
    line = refused(argv, tmp_path / "run", capsys)
    assert f"datasets 'digits' and '{npz}' would both be named 'digits' in the results" in line
    assert "rename one of the files or folders" in line


def test_two_models_named_alike_are_refused_naming_both(tmp_path, capsys):
    model = tmp_path / "linear.keras"
    model.write_bytes(b"validate only checks that the file exists")
    argv = ["--datasets", "digits", "--models", f"linear,{model}", *GRID]
    line = refused(argv, tmp_path / "run", capsys)
    assert f"models 'linear' and '{model}' would both be named 'linear'" in line
    assert "rename the .keras file" in line


def test_models_named_alike_on_different_datasets_are_fine(tmp_path):
    """``a/cnn.keras`` for digits and ``b/cnn.keras`` for shapes: their rows differ."""
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "cnn.keras").write_bytes(b"not read by validate")
    per = {"digits": (str(tmp_path / "a/cnn.keras"),), "shapes": (str(tmp_path / "b/cnn.keras"),)}
    config = RunConfig(("digits", "shapes"), ("linear",), ("saliency",), ("sparseness",))
    config = RunConfig(**{**config.to_dict(), "models_per_dataset": per})
    assert config.validate() is config


def test_two_datasets_loading_under_one_name_are_refused_before_the_store(monkeypatch):
    """A registered dataset whose data is named like another dataset of the run."""
    registry = datasets_module.registry
    monkeypatch.setattr(registry, "_items", dict(registry._items))
    datasets_module.register("digits_again", lambda: xb.datasets.load("digits"))
    config = RunConfig(("digits", "digits_again"), ("linear",), ("saliency",), ("sparseness",))
    with pytest.raises(ValueError, match="datasets 'digits' and 'digits_again' both load as"):
        runner.preflight(config.validate())


# data that cannot be benchmarked, named by its spec (#5, one class) -----------------------------


@pytest.mark.parametrize(
    "kind, message",
    [
        ("nan", "cannot be loaded: x contains NaN or infinite values"),
        ("fractional labels", "cannot be loaded: y must hold class ids 0, 1, 2, ..."),
        ("one class", "every training sample is of class '0': a model of one class"),
    ],
)
def test_bad_data_is_refused_naming_the_dataset(tmp_path, capsys, kind, message):
    x = np.random.default_rng(0).uniform(size=(20, 4)).astype(np.float32)
    y = np.arange(20) % 2
    if kind == "nan":
        x[3, 1] = np.nan
    elif kind == "fractional labels":
        y = y + 0.5
    else:
        y = np.zeros(20, int)
    npz = tiny_npz(tmp_path / "mine.npz", x, y)
    line = refused(["--datasets", str(npz), "--models", "linear", *GRID], tmp_path / "o", capsys)
    assert str(npz) in line and message in line


def test_check_dataset_refuses_training_labels_of_one_class():
    """Two class names, but every training sample of the first."""
    from dataclasses import replace

    from xaibench.datasets.base import check_dataset

    x = np.random.default_rng(0).uniform(size=(20, 4))
    data = xb.datasets.from_arrays(x, np.arange(20) % 2, class_names=["cat", "dog"])
    check_dataset(data)
    with pytest.raises(ValueError, match="every training sample is of class 'cat'"):
        check_dataset(replace(data, y_train=np.zeros_like(data.y_train)))


# the environment (#6) ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "variable, value, message",
    [
        ("XAIBENCH_MEMORY_GIB", "0", "XAIBENCH_MEMORY_GIB must be a positive number of GiB"),
        ("XAIBENCH_MEMORY_GIB", "abc", "(e.g. 0.5 or 8; unset: 2), got 'abc'"),
        ("XAIBENCH_MEMORY_GIB", "-1", "XAIBENCH_MEMORY_GIB must be a positive number of GiB"),
        ("XAIBENCH_MALLOC", "defualt", "XAIBENCH_MALLOC must be 'default'"),
    ],
)
def test_a_bad_environment_variable_is_refused_before_any_work(
    tmp_path, capsys, monkeypatch, variable, value, message
):
    """It used to be read by the first model call: every cell failed (exit 1), a store
    written."""
    monkeypatch.setenv(variable, value)
    line = refused(["--datasets", "digits", "--models", "linear", *GRID], tmp_path / "o", capsys)
    assert message in line


# configs that used to end in a traceback (#7), and a loop over odd values for every key -------


@pytest.mark.parametrize(
    "text, message",
    [
        ("samples = " + "[" * 5000 + "]" * 5000, "nests arrays or tables too deeply"),
        ("samples = " + "[" * 20 + "]" * 20, "nests arrays or tables too deeply"),
        ("model = 5", "model must be a list of names, got 5"),
        ("params = 5", "params must be tables of settings by name ([params.NAME]), got 5"),
        ('datasets = [""]', "datasets: '' is not a name"),
        ("[params.deletion]\nbaseline = nan", "baseline must be a finite number"),
        ("[params.random]\nseed = 4294967296", "seed must be a non-negative integer below 2**32"),
    ],
    ids=["nested 5000", "nested 20", "model 5", "params 5", "empty name", "nan", "seed 2**32"],
)
def test_configs_that_raised_tracebacks_are_one_line(tmp_path, capsys, text, message):
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'methods = ["saliency", "random"]\nmetrics = ["deletion"]\n{text}\n')
    assert message in refused(["--config", str(cfg)], tmp_path / "run", capsys)


ODD = ["5", "-1", "1.5", '"x"', '""', "true", "[]", "[1]", '["x"]', "[[1]]", "{}", "{a = 5}"]
ODD += ["1979-05-27", "inf", "nan", '["digits", 1]', "{digits = 5}", "{digits = [1]}"]
KEYS = ["samples", "seed", "datasets", "models", "model", "models_per_dataset", "methods"]
KEYS += ["metrics", "params", "imports"]
TABLES = ["[params.saliency]\nbatch_size = {}", "[params.x]\nseed = {}"]
TABLES += ["[params.random]\nseed = {}", "[params.linear]\nepochs = {}"]
TABLES += ["[params.deletion]\nsteps = {}", "[models_per_dataset]\ndigits = {}"]


class Reached(Exception):
    """The config was valid: the run got to loading its data."""


def test_every_odd_value_of_every_key_is_valid_or_one_line(tmp_path, capsys, monkeypatch):
    """A small fuzz: each key (top level and in tables) set to each odd TOML value either
    passes validation or exits 2 with one line; nothing escapes as a traceback."""

    def reached(config):
        raise Reached

    monkeypatch.setattr(runner, "preflight", reached)
    grid = 'datasets = ["digits"]\nmodels = ["linear"]\nmethods = ["saliency", "random"]\n'
    grid += 'metrics = ["deletion"]\n'
    cases = [f"{key} = {v}" for key in KEYS for v in ODD]
    cases += [table.format(v) for table in TABLES for v in ODD]
    cfg, out = tmp_path / "c.toml", tmp_path / "run"
    for case in cases:
        key = case.split(" = ")[0]
        rest = "".join(line + "\n" for line in grid.splitlines() if not line.startswith(key))
        cfg.write_text(f"{case}\n{rest}" if not case.startswith("[") else f"{rest}{case}\n")
        try:
            code = main(["run", "--config", str(cfg), "--out", str(out), "--no-progress"])
        except Reached:
            continue
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and err[-1].startswith("xaibench: error: "), (case, err)
        assert len(err[-1]) < 600 and not out.exists(), case


# long lists, byte order marks ------------------------------------------------------------------


@pytest.mark.parametrize("key", ["methods", "datasets", "unknown keys"])
def test_ten_thousand_unknown_names_make_one_short_line(tmp_path, capsys, key):
    names = [f"nope_{i}" for i in range(10_000)]
    cfg = tmp_path / "c.toml"
    if key == "unknown keys":
        cfg.write_text("".join(f"{n} = 1\n" for n in names))
    else:
        cfg.write_text(f"{key} = {names!r}\n".replace("'", '"'))
    line = refused(["--config", str(cfg)], tmp_path / "run", capsys)
    assert len(line) < 2000 and "... and 9,980 more" in line


def test_a_name_listed_twice_is_named_once(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text(f"methods = {['saliency'] * 5000 + ['random']!r}\n".replace("'", '"'))
    line = refused(["--config", str(cfg)], tmp_path / "run", capsys)
    assert line.endswith("methods lists a name twice: 'saliency'")


def test_a_byte_order_mark_is_skipped(tmp_path):
    """Windows editors write one; it used to be "not valid TOML"."""
    cfg = tmp_path / "c.toml"
    cfg.write_bytes(b"\xef\xbb\xbfsamples = 4\nmethods = ['saliency']\n")
    config = load_config(cfg)
    assert config.samples == 4 and config.methods == ("saliency",)


@pytest.mark.parametrize(
    "text, message",
    [
        ("sample = 4", "unknown key 'sample' (did you mean 'samples'?); valid keys: samples,"),
        (
            "metric = ['x']\nparam = 3",
            "unknown keys 'metric' (did you mean 'metrics', 'meta'?), 'param' (did you mean 'params'?)",
        ),
        (
            'methods = ["saliency"]\n[params.saliancy]\nbatch_size = 4',
            "[params.saliancy] names no method, metric, model or image folder of this run (did "
            "you mean 'saliency'?)",
        ),
    ],
)
def test_a_config_key_typo_gets_a_did_you_mean(tmp_path, capsys, text, message):
    """The README promised it; only method and metric names had one (issue 26)."""
    cfg = tmp_path / "c.toml"
    cfg.write_text(text + "\n")
    assert message in refused(["--config", str(cfg)], tmp_path / "run", capsys)
