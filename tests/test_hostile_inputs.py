"""Inputs from outside (names, files, configs, user components, baselines) are treated as
hostile: nothing lands outside its folder, nothing half-written is left behind, and a user error
is exit 2 with one line naming the problem, before any work starts (README, Promises)."""

from __future__ import annotations

import os
import subprocess
import sys

import _tiny
import numpy as np
import pytest

import xaibench as xb
import xaibench.datasets as datasets_module
from xaibench.models import training


def tiny_dataset(name):
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(40, 4)).astype(np.float32)
    return xb.datasets.from_arrays(x, (x[:, 0] > 0.5).astype(int), name=name)


def test_a_dataset_name_cannot_write_outside_the_model_cache(tmp_path, monkeypatch):
    """The issue's case: a dataset named with ../ wrote model-cache files outside the cache."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("XAIBENCH_CACHE", str(cache))
    trained = training.load_or_train("linear", tiny_dataset("../../escaped"), seed=0)
    assert trained.accuracy >= 0
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert written and all(cache in p.parents for p in written)
    assert not list(tmp_path.glob("escaped*")) and not (tmp_path.parent / "escaped").exists()


def test_partial_files_of_a_killed_process_are_removed(tmp_path, monkeypatch):
    """A process killed while saving a model left a stray temporary .keras in the cache; the
    next process removes the partial files of processes that are gone (and only those)."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("XAIBENCH_CACHE", str(cache))
    folder = cache / "models"
    folder.mkdir(parents=True)
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        text=True,
        capture_output=True,
        check=True,
    ).stdout.strip()
    stale = folder / f"{training.PARTIAL}{gone}-abc.keras"
    live = folder / f"{training.PARTIAL}{os.getpid()}-def.keras"
    stale.write_bytes(b"half a model")
    live.write_bytes(b"being written")
    training.load_or_train("linear", tiny_dataset("tiny"), seed=0)
    assert not stale.exists() and live.exists()
    assert not [p for p in folder.iterdir() if p.name.startswith(".partial") and p != live]


# --------------------------------------------------------------------------------------------
# User errors: exit 2, one line naming the problem, before any work, no store left behind
# --------------------------------------------------------------------------------------------


def _keras_file(path, input_shape, classes):
    from xaibench._tf import keras

    model = keras.Sequential(
        [keras.Input(input_shape), keras.layers.Flatten(), keras.layers.Dense(classes)]
    )
    model.save(path)
    return path


def _image_folder(path, broken: bool):
    from PIL import Image

    rng = np.random.default_rng(0)
    for label in "ab":
        (path / label).mkdir(parents=True)
        for i in range(6):
            pixels = (rng.uniform(size=(8, 8, 3)) * 255).astype("uint8")
            Image.fromarray(pixels).save(path / label / f"{i}.png")
    if broken:
        (path / "b" / "broken.png").write_bytes(b"not a png at all")
    return path


def _bad_setup(kind, tmp_path, monkeypatch):
    """(datasets, models, extra TOML, expected message) of one kind of bad input."""
    x = np.random.default_rng(0).uniform(size=(20, 4)).astype(np.float32)
    if kind == "model not keras":
        (tmp_path / "m.keras").write_text("hello")
        return ["digits"], [str(tmp_path / "m.keras")], "", "is not a Keras model"
    if kind == "model input shape":
        path = _keras_file(tmp_path / "m.keras", (9, 9, 1), 10)
        return ["digits"], [str(path)], "", "takes inputs of shape (9, 9, 1)"
    if kind == "model class count":
        path = _keras_file(tmp_path / "m.keras", (8, 8, 1), 3)
        return ["digits"], [str(path)], "", "scores 3 classes, but dataset 'digits' has 10"
    if kind == "second dataset missing":
        return ["digits", str(tmp_path / "nope.npz")], ["linear"], "", "nope.npz"
    if kind == "npz of strings":
        s = np.array(["a"] * 20)
        np.savez(
            tmp_path / "s.npz",
            x_train=s,
            y_train=np.arange(20) % 2,
            x_test=s,
            y_test=np.arange(20) % 2,
        )
        return [str(tmp_path / "s.npz")], ["linear"], "", "array of numbers"
    if kind == "npz without arrays":
        np.savez(tmp_path / "e.npz")
        return [str(tmp_path / "e.npz")], ["linear"], "", "it has none"
    if kind == "corrupt image":
        folder = _image_folder(tmp_path / "imgs", broken=True)
        return [str(folder)], ["linear"], "", "broken.png cannot be read: Unknown image file"
    if kind == "labels out of range":
        data = xb.datasets.from_arrays(x, np.arange(20) % 2, name="bad_labels_for_tests")
        import dataclasses

        bad = dataclasses.replace(data, y_test=np.full(len(data.y_test), 7))
        registry = datasets_module.registry
        monkeypatch.setattr(registry, "_items", dict(registry._items))
        datasets_module.register("bad_labels_for_tests", lambda: bad)
        return ["bad_labels_for_tests"], ["linear"], "", "y_test holds 7, not a class id 0..1"
    if kind == "non-finite inputs":
        data = xb.datasets.from_arrays(x, np.arange(20) % 2, name="nan_inputs_for_tests")
        import dataclasses

        x_test = data.x_test.copy()
        x_test[1, 2] = np.nan
        bad = dataclasses.replace(data, x_test=x_test)
        registry = datasets_module.registry
        monkeypatch.setattr(registry, "_items", dict(registry._items))
        datasets_module.register("nan_inputs_for_tests", lambda: bad)
        return ["nan_inputs_for_tests"], ["linear"], "", "x_test holds NaN or infinite values"
    if kind == "seed -1 of a method":
        return (
            ["digits"],
            ["linear"],
            "[params.random]\nseed = -1\n",
            ("method 'random': seed must be a non-negative integer, got -1"),
        )
    raise AssertionError(kind)


BAD_KINDS = [
    "model not keras",
    "model input shape",
    "model class count",
    "second dataset missing",
    "npz of strings",
    "npz without arrays",
    "corrupt image",
    "labels out of range",
    "non-finite inputs",
    "seed -1 of a method",
]


@pytest.mark.slow
@pytest.mark.parametrize("kind", BAD_KINDS)
def test_user_errors_exit_2_before_any_work(kind, tmp_path, capsys, monkeypatch):
    from _runs import write_config

    from xaibench.cli import main

    datasets, models, extra, message = _bad_setup(kind, tmp_path, monkeypatch)
    cfg = tmp_path / "c.toml"
    write_config(cfg, ["saliency", "random"], ["deletion"], models=models, extra=extra)
    cfg.write_text(cfg.read_text().replace('["digits"]', str(datasets).replace("'", '"'), 1))
    out = tmp_path / "run"
    assert main(["run", "--config", str(cfg), "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) <= 2 and err[-1].startswith("xaibench: error: ")  # [the banner,] one line
    assert message in err[-1] and "Traceback" not in err[-1]
    assert not out.exists()  # no store, not even an empty "interrupted" one


@pytest.mark.parametrize(
    "content, message",
    [(None, "is not a file"), (b"samples = 4 # \xe9\n", "is not UTF-8 text (byte 14: 0xe9)")],
    ids=["folder", "latin-1"],
)
def test_config_files_that_cannot_be_read(tmp_path, capsys, content, message):
    from xaibench.cli import main

    cfg = tmp_path / "c.toml"
    if content is None:
        cfg.mkdir()
    else:
        cfg.write_bytes(content)
    assert main(["run", "--config", str(cfg), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert message in err and str(cfg) in err and "Traceback" not in err


# --------------------------------------------------------------------------------------------
# User components, stores and baselines that misbehave
# --------------------------------------------------------------------------------------------


def test_a_metric_returning_too_few_scores_names_both_shapes():
    """It used to surface as an IndexError deep inside the metric machinery."""

    @xb.metrics.register(
        "test_short_scores",
        replace=True,
        higher_is_better=True,
        category="complexity",
        needs_model=False,
    )
    def short(model, x, y, a):
        return np.ones(len(x) - 1)

    x = np.zeros((4, 3), np.float32)
    with pytest.raises(
        ValueError, match=r"returned scores of shape \(3,\) for 4 samples; expected shape \(4,\)"
    ):
        xb.metrics.get("test_short_scores")(None, x, [0, 0, 0, 0], np.ones((4, 3)))


def test_report_of_a_store_without_runs(tmp_path, capsys):
    from xaibench.cli import main
    from xaibench.store import Store

    with Store(tmp_path / "results.sqlite"):
        pass
    assert main(["report", str(tmp_path)]) == 2
    assert "holds no run yet" in capsys.readouterr().err


def test_the_gate_refuses_a_baseline_without_a_finite_mean(tmp_path, capsys):
    from xaibench.cli import main

    board = tmp_path / "b.csv"
    board.write_text(
        "dataset,model,method,metric,higher_is_better,mean,ci_low,ci_high\n"
        "d,m,a,deletion,False,nan,nan,nan\nd,m,b,deletion,False,,,\n"
    )
    assert main(["check", "--baseline", str(board), str(board)]) == 2
    assert "has no numeric mean" in capsys.readouterr().err


def test_evaluate_keeps_the_other_methods_when_one_raises():
    model = _tiny.linear_tabular(np.eye(4, 2), np.zeros(2))
    x = np.random.default_rng(0).uniform(size=(5, 4)).astype(np.float32)

    @xb.methods.register("test_evaluate_raising", replace=True)
    def raising(model, x, y):
        raise RuntimeError("broken explainer")

    with pytest.warns(UserWarning, match="test_evaluate_raising failed and is left out"):
        df = xb.evaluate(
            model,
            x,
            [0, 1, 0, 1, 0],
            ["saliency", "test_evaluate_raising"],
            ["sparseness", "deletion"],
        )
    assert set(df.method) == {"saliency"} and len(df) == 2 * 5
    assert df.attrs["failed"] == {"test_evaluate_raising": "RuntimeError: broken explainer"}


@pytest.mark.slow
def test_a_malformed_model_calls_declaration_loses_no_cell(tmp_path, capsys):
    """model_calls was called outside the cell's try: one malformed declaration aborted the run
    and lost the cells computed so far."""
    from _runs import write_config

    from xaibench.cli import main
    from xaibench.methods.base import Method

    @xb.methods.register("test_bad_calls", replace=True)
    class BadCalls(Method):
        """Declares its model calls wrongly."""

        model_calls = {"forward": "many"}

        def __init__(self, *, batch_size: int = 256):
            self.batch_size = batch_size

        def explain(self, model, x, y):
            return np.abs(x)

    cfg = write_config(tmp_path / "c.toml", ["saliency", "test_bad_calls"], ["deletion"])
    assert main(["run", "--config", str(cfg), "--out", str(tmp_path / "run"), "--no-progress"]) == 0
    assert "2 cells: 2 computed" in capsys.readouterr().out


def test_one_writer_per_store_and_killed_runs_are_marked(tmp_path):
    """A killed run's row stayed "running" forever; two runs into one directory could interleave."""
    from xaibench.store import Store

    path = tmp_path / "results.sqlite"
    first = Store(path)
    killed = first.start_run({}, {}, "killed -9 before it finished")
    with pytest.raises(ValueError, match="another xaibench run is writing to"):
        Store(path)
    with Store(path, readonly=True) as reader:  # reading needs no lock
        assert reader.run(killed)["status"] == "running"
    first.db.close()  # the process dies: its lock goes with it
    first._unlock()
    with Store(path) as store:
        store.start_run({}, {}, "next")
        assert store.run(killed)["status"] == "killed"


@pytest.mark.parametrize(
    "name, setting",
    [("infidelity", "noise"), ("max_sensitivity", "radius"), ("avg_sensitivity", "radius")],
)
def test_one_validator_of_each_kind_refuses_infinite_settings(name, setting):
    """infidelity accepted noise=inf: metrics had a validator of their own that let inf through."""
    with pytest.raises(
        ValueError, match=f"metric '{name}': {setting} must be a positive number, got inf"
    ):
        xb.metrics.get(name, **{setting: float("inf")})
