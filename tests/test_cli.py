"""The command line: ``--version``, ``list`` without TensorFlow (from the catalog file, which must
equal the live registries), the ``--datasets/--models/--methods/--metrics`` flags, and a rerun
with nothing to compute that loads no model and keeps the outputs it finds current."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _runs import write_config

import xaibench as xb
from xaibench import cli
from xaibench.benchmark import catalog, plan
from xaibench.benchmark.config import suite
from xaibench.cli import main
from xaibench.models import training


def python(code: str, **env) -> subprocess.CompletedProcess:
    """``code`` run by a fresh interpreter (nothing imported yet)."""
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
    )


def test_version_prints_the_version_without_tensorflow():
    done = python(
        "import sys\nfrom xaibench.cli import main\n"
        "try:\n    main(['--version'])\nexcept SystemExit as e:\n    code = e.code\n"
        "assert code == 0, code\nassert 'tensorflow' not in sys.modules\n"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"xaibench {xb.__version__}\n"


def fake_cache(folder, zoo_version):
    """A model cache holding one trained cnn on digits (its metadata file; the model file is a
    placeholder, never loaded) and one file that is not a cache entry."""
    models = folder / "models"
    models.mkdir(parents=True)
    meta = {"model": "cnn", "dataset": "digits", "seed": 0, "accuracy": 0.9876}
    (models / f"cnn-digits-abc-seed0-zoo{zoo_version}.json").write_text(json.dumps(meta))
    (models / f"cnn-digits-abc-seed0-zoo{zoo_version}.keras").write_bytes(b"placeholder")
    (models / f"mlp-wine-abc-seed0-zoo{zoo_version}.json").write_text("{not json")
    return folder


@pytest.mark.slow
def test_list_imports_no_tensorflow_and_shows_the_cached_models(tmp_path):
    """``xaibench list`` (everything, and ``models`` with what the cache holds) in a fresh
    interpreter leaves TensorFlow and the registries unimported."""
    cache = fake_cache(tmp_path / "cache", xb.models.ZOO_VERSION)
    code = (
        "import sys\nfrom xaibench.cli import main\n"
        "assert main(['list']) == 0\nassert main(['list', 'models']) == 0\n"
        "for name in ('tensorflow', 'keras', 'xaibench.methods', 'xaibench.models'):\n"
        "    assert name not in sys.modules, name + ' imported'\n"
    )
    done = python(code, XAIBENCH_CACHE=str(cache))
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    lines = done.stdout.splitlines()
    cnn = [line for line in lines if line.startswith("cnn ")]
    assert len(cnn) == 2 and all("digits 0.988" in line for line in cnn)
    own = catalog.own_names("methods") + catalog.own_names("metrics")
    own += catalog.own_names("datasets")
    for name in xb.methods.names() + xb.metrics.names() + xb.datasets.names():
        if name in own:
            assert any(line.startswith(f"{name} ") for line in lines), name
    assert any(line.startswith("scenes ") and "realistic" in line for line in lines)


def test_catalog_file_matches_the_live_registries():
    """The catalog file ``list`` reads equals what the registries say now: regenerate it with
    ``python -m xaibench.benchmark.catalog --write`` after changing a built-in component."""
    stored = json.loads(catalog.FILE.read_text(encoding="utf-8"))
    missing = xb.methods.missing()  # optional packages not installed here: compare the rest
    live = catalog.live(complete=False)
    if missing:
        drop = lambda rows: [r for r in rows if r[0] not in missing]  # noqa: E731
        stored["rows"]["methods"] = drop(stored["rows"]["methods"])
        live["rows"]["methods"] = drop(live["rows"]["methods"])
        stored["optional"] = {k: v for k, v in stored["optional"].items() if k not in missing}
    assert stored == live, f"{catalog.FILE.name} is stale: run {catalog.COMMAND}"
    for kind, rows in stored["rows"].items():
        assert all(len(row) == len(catalog.HEADERS[kind]) for row in rows), kind


def test_catalog_marks_adapters_whose_package_is_missing():
    stored = catalog.read()
    for name, optional in stored["optional"].items():  # the file's rule agrees with the registry
        installed = catalog.importlib.util.find_spec(optional["package"]) is not None
        assert installed == (name in xb.methods.names()), name
    fake = {"optional": {"saliency": {"package": "no_such_package_here", "hint": "pip it"}}}
    rows = catalog._installed(fake, {"saliency": ["saliency", "image", "x", "-", "-", "d"]})
    assert rows["saliency"] == ["saliency", "", "", "", "", "(not installed) pip it"]


def test_catalog_reads_the_model_cache_as_training_does(tmp_path, monkeypatch):
    """``list models`` reads the cache without TensorFlow: the same folder and the same entries
    as ``xaibench.models.training``."""
    from xaibench import _cache
    from xaibench.models import training

    assert training.cache_dir is _cache.cache_dir  # one rule, in the TensorFlow-free core
    fake_cache(tmp_path, xb.models.ZOO_VERSION)
    (tmp_path / "models" / "old-zoo0.json").write_text(json.dumps({"model": "m", "accuracy": 1}))
    monkeypatch.setenv("XAIBENCH_CACHE", str(tmp_path))
    assert training.cache_dir() == tmp_path
    assert _cache.cached_models(xb.models.ZOO_VERSION) == training.cached_models()
    assert len(training.cached_models()) == 1
    header, rows = catalog.table("models")
    assert header[catalog.TRAINED_AT] == catalog.TRAINED
    trained = {row[0]: row[catalog.TRAINED_AT] for row in rows}
    assert trained["cnn"] == "digits 0.988" and trained["mlp"] == "not trained yet"


# the --datasets/--models/--methods/--metrics flags ---------------------------------------------


def test_overrides_replace_the_lists_and_drop_what_no_longer_applies():
    quick = suite("quick")
    assert "max_sensitivity" in quick.params and "breast_cancer" in quick.models_per_dataset
    small = quick.with_overrides(methods=("saliency",), metrics=("deletion",)).validate()
    assert small.methods == ("saliency",) and small.metrics == ("deletion",)
    assert small.params == {} and small.models_per_dataset == quick.models_per_dataset
    images = quick.with_overrides(datasets=("digits", "shapes")).validate()
    assert images.models_per_dataset == {} and images.n_cells() == 2 * 2 * len(quick.methods) * (
        len(quick.metrics)
    )
    kept = quick.with_overrides(datasets=("breast_cancer",), models=("linear",)).validate()
    assert kept.models_for("breast_cancer") == ("linear",)
    # a [params] entry that named nothing of the config is still reported
    typo = replace(quick, params={"saliancy": {"x": 1}}).with_overrides(methods=("saliency",))
    with pytest.raises(ValueError, match=r"\[params.saliancy\] names no method"):
        typo.validate()


@pytest.mark.parametrize(
    "flags, message",
    [
        (
            ["--methods", "saliancy,occlusn"],
            "unknown methods 'saliancy' (did you mean 'saliency'?), 'occlusn' (did you mean "
            "'occlusion'?); valid methods: ",
        ),
        (["--metrics", "deletoin"], "unknown metric 'deletoin' (did you mean 'deletion'?)"),
        (["--datasets", "digit"], "unknown dataset 'digit' (did you mean 'digits'"),
        (["--models", "cnn,lineer"], "unknown model 'lineer' (did you mean 'linear'?)"),
        (["--models", "m.keras"], "model file 'm.keras' does not exist"),
    ],
)
def test_unknown_names_in_flags_exit_2_naming_them(tmp_path, capsys, flags, message):
    assert main(["run", *flags, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()  # nothing started


def test_an_empty_name_in_a_flag_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["run", "--methods", "saliency,"])
    assert exc.value.code == 2
    assert "has an empty name" in capsys.readouterr().err


@pytest.mark.slow
def test_flags_override_the_config_lists(tmp_path):
    cfg = write_config(tmp_path / "c.toml", ["saliency", "random"], ["deletion", "sparseness"])
    out = tmp_path / "run"
    argv = ["run", "--config", str(cfg), "--out", str(out), "--no-progress"]
    assert main([*argv, "--methods", "gradient_x_input", "--metrics", "sparseness"]) == 0
    board = pd.read_csv(out / "leaderboard.csv")
    assert list(board["method"]) == ["gradient_x_input"] and list(board["metric"]) == ["sparseness"]


# a rerun with nothing to compute ----------------------------------------------------------------


def test_outputs_are_current_only_when_the_stamp_matches_and_every_file_is_there(tmp_path):
    stamp = {"cells": "c1", "xaibench": "1.0", "results_code": "r1"}
    assert not cli._current(tmp_path, stamp)  # no stamp file
    (tmp_path / "a.csv").write_text("x")
    cli._write_stamp(tmp_path, stamp, [tmp_path / "a.csv"])
    assert cli._current(tmp_path, stamp)
    assert not cli._current(tmp_path, {**stamp, "cells": "c2"})  # other cells
    assert not cli._current(tmp_path, {**stamp, "xaibench": "1.1"})  # another version
    assert not cli._current(tmp_path, {**stamp, "results_code": "r2"})  # other output code
    (tmp_path / "a.csv").unlink()
    assert not cli._current(tmp_path, stamp)  # an output is missing
    (tmp_path / cli.STAMP).write_text("{broken")
    assert not cli._current(tmp_path, stamp)


@pytest.mark.slow
def test_a_rerun_with_nothing_to_compute_loads_no_model_and_keeps_current_outputs(
    tmp_path, monkeypatch, capsys
):
    methods = ["saliency", "grad_cam", "random"]  # grad_cam: not applicable, no gallery
    cfg = write_config(tmp_path / "c.toml", methods, ["deletion", "sparseness"])
    out = tmp_path / "run"
    argv = ["run", "--config", str(cfg), "--out", str(out), "--no-progress"]
    assert main(argv) == 0
    first = capsys.readouterr().out
    marker = "\n<!-- not rebuilt -->\n"
    with open(out / "leaderboard.md", "a") as f:  # gone when the outputs are written again
        f.write(marker)

    def no_model(*args, **kwargs):
        raise AssertionError("a model was loaded")

    monkeypatch.setattr(training, "load_or_train", no_model)
    assert main(argv) == 0
    again = capsys.readouterr().out
    assert "6 cells: 0 computed, 6 reused" in again and "(unchanged" in again
    assert (out / "leaderboard.md").read_text().endswith(marker)
    # the same summary as when the outputs were written (the leaderboard read back)
    tables = lambda text: text.split(" failed\n")[1].split("results in")[0]  # noqa: E731
    assert tables(again) == tables(first)

    stamp = json.loads((out / cli.STAMP).read_text())
    plot = out / next(name for name in stamp["files"] if name.endswith(".png"))
    plot.unlink()  # an output is missing: all are rebuilt
    assert main(argv) == 0
    assert "(unchanged" not in capsys.readouterr().out
    assert plot.is_file()
    assert not (out / "leaderboard.md").read_text().endswith(marker)

    stamp = json.loads((out / cli.STAMP).read_text())
    (out / cli.STAMP).write_text(json.dumps({**stamp, "xaibench": "0.0.1"}))
    assert main(argv) == 0  # written by another version: rebuilt
    assert "(unchanged" not in capsys.readouterr().out
    assert json.loads((out / cli.STAMP).read_text()) == stamp

    monkeypatch.undo()  # a new cell: its model is loaded, the outputs rebuilt
    more = write_config(tmp_path / "c.toml", methods, ["deletion", "sparseness", "complexity"])
    assert main(["run", "--config", str(more), "--out", str(out), "--no-progress"]) == 0
    assert "9 cells: 3 computed, 6 reused" in capsys.readouterr().out
    assert json.loads((out / cli.STAMP).read_text())["cells"] != stamp["cells"]
    assert "complexity" in set(pd.read_csv(out / "leaderboard.csv")["metric"])

    with open(out / "leaderboard.md", "a") as f:
        f.write(marker)
    assert main(["report", str(out)]) == 0  # report always rebuilds
    assert not (out / "leaderboard.md").read_text().endswith(marker)


@pytest.mark.slow
def test_the_settings_a_rerun_predicts_are_those_of_the_loaded_model():
    """A (dataset, model) whose cells are all stored is reused without loading its model, by
    the settings ``load_or_train`` gives it but for the weights' hash (which the store holds)."""
    data = xb.datasets.load("digits")
    trained = xb.models.load("linear", "digits")
    without_weights = {k: v for k, v in trained.settings.items() if k != "weights"}
    assert plan.expected_model_settings("linear", data) == without_weights


def snapshot(folder: Path) -> dict:
    """Every file under ``folder``: its bytes and modification time (but SQLite's shared-memory
    index, which any reader of the store updates, read-only ones too)."""
    return {
        p.relative_to(folder): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.name.endswith("-shm")
    }


@pytest.mark.slow
def test_report_shapes_the_paper_tables_in_another_folder_and_refuses_unknown_names(
    tmp_path, capsys
):
    from _runs import write_config

    from xaibench.cli import main

    cfg = write_config(tmp_path / "c.toml", ["saliency", "random"], ["deletion", "sparseness"])
    out = tmp_path / "run"
    assert main(["run", "--config", str(cfg), "--out", str(out), "--no-progress"]) == 0
    full = (out / "leaderboard.tex").read_text()
    assert "sparseness" in full and "[" in full.split(r"\midrule", 1)[1]  # intervals
    before = snapshot(out)
    paper = tmp_path / "paper"
    shape = ["--no-ci", "--metrics", "deletion", "--methods", "saliency", "--tex-width", "6.5in"]
    assert main(["report", str(out), *shape, "--out", str(paper)]) == 0
    assert snapshot(out) == before  # the run directory is untouched
    tex = (paper / "leaderboard.tex").read_text()
    body = tex.split(r"\midrule", 1)[1].split(r"\bottomrule", 1)[0]
    assert "sparseness" not in tex and "saliency" in body and "random" not in body
    assert "[" not in body  # means only
    assert "Sets wider than 469.755 pt" in tex  # 6.5 in
    assert (paper / "report.html").is_file() and (paper / "verdict.csv").is_file()
    assert not (paper / ".outputs.json").exists()  # no run directory: nothing to keep current
    capsys.readouterr()
    for bad, words in [
        (["--metrics", "deletoin", "--out", str(tmp_path / "p2")], "deletoin"),
        (["--no-ci"], "give --out DIR"),  # shaped tables never overwrite the full ones
        (["--tex-width", "6.5 inches", "--out", str(tmp_path / "p2")], "6.5 inches"),
        (["--no-ci", "--out", str(out)], "give --out DIR"),
        (["--out", str(cfg)], "is a file"),
    ]:
        assert main(["report", str(out), *bad]) == 2, bad
        err = capsys.readouterr().err
        assert words in err and len(err.strip().splitlines()) == 1, err
    assert snapshot(out) == before and not (tmp_path / "p2").exists()  # nothing was touched


def test_printed_leaderboards_are_cut_into_column_groups_that_fit_the_terminal():
    from xaibench.cli import _column_parts

    header = ["method", "deletion ↓", "insertion ↑", "sparseness ↑"]
    rows = [["integrated_gradients", "0.1 [0.05, 0.2]", "0.9 [0.8, 0.95]", "0.5 [0.4, 0.6]"]]
    assert _column_parts(header, rows, 200) == [[0, 1, 2, 3]]
    parts = _column_parts(header, rows, 60)
    assert parts == [[0, 1, 2], [0, 3]]  # 22 + 17 + 17 = 56 columns, then the method again


# your own image folder at its size (issue 26) ---------------------------------------------------


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """A folder of 16 64x64 PNGs in two classes, a 64x64 .keras model and a 32x32 one."""
    from PIL import Image

    from xaibench._tf import keras

    root = tmp_path_factory.mktemp("own")
    rng = np.random.default_rng(0)
    for c, label in enumerate(["cat", "dog"]):
        (root / "photos" / label).mkdir(parents=True)
        for i in range(8):
            pixels = (rng.uniform(size=(64, 64, 3)) * 100 + 120 * c).astype("uint8")
            Image.fromarray(pixels).save(root / "photos" / label / f"{i}.png")
    for side in (64, 32):
        net = [keras.Input((side, side, 3)), keras.layers.Conv2D(2, 3), keras.layers.Flatten()]
        keras.Sequential([*net, keras.layers.Dense(2)]).save(root / f"net{side}.keras")
    return root


def stored_data_settings(out) -> set:
    """(image_size, color_mode) of every cell the store holds, of every run."""
    import sqlite3
    from contextlib import closing

    with closing(sqlite3.connect(out / "results.sqlite")) as db:
        settings = [json.loads(row[0])["data"] for row in db.execute("SELECT settings FROM cells")]
    return {(tuple(d["image_size"]), d["color_mode"]) for d in settings}


@pytest.mark.slow
def test_an_image_folder_loads_at_the_size_of_its_model_file(photos, tmp_path, capsys):
    """The team's 64x64 model on its own folder, from the command line alone: it used to be
    refused ("takes inputs of shape (64, 64, 3), but dataset 'photos' has ... (32, 32, 3)")."""
    out = tmp_path / "run"
    cfg = write_config(tmp_path / "c.toml", ["saliency"], ["sparseness"], samples=4)
    cfg.write_text(cfg.read_text().replace('["linear"]', f'["{photos / "net64.keras"}"]'))
    argv = ["run", "--config", str(cfg), "--datasets", f"{photos}/photos/", "--no-progress"]
    assert main([*argv, "--out", str(out)]) == 0
    assert stored_data_settings(out) == {((64, 64), "rgb")}
    both = f"{photos / 'net64.keras'},{photos / 'net32.keras'}"
    assert main([*argv, "--models", both, "--out", str(tmp_path / "o")]) == 2
    assert 'set image_size in [params."' in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_an_image_folder_s_size_from_the_config_keys_its_cells(photos, tmp_path, capsys):
    """``[params."photos/"]`` sizes the folder for a zoo model; another size is other data:
    its cells are computed, never reused."""
    folder = f"{photos}/photos/"
    cfg = write_config(tmp_path / "c.toml", ["saliency"], ["sparseness"], samples=4)
    cfg.write_text(
        cfg.read_text().replace('["digits"]', f'["{folder}"]')
        + f'[params."{folder}"]\nimage_size = [16, 12]\ncolor_mode = "grayscale"\n'
    )
    out = tmp_path / "run"
    assert main(["run", "--config", str(cfg), "--out", str(out), "--no-progress"]) == 0
    assert stored_data_settings(out) == {((16, 12), "grayscale")}
    capsys.readouterr()
    argv = ["run", "--datasets", folder, "--models", "linear", "--methods", "saliency"]
    argv += ["--metrics", "sparseness", "--samples", "4", "--out", str(out), "--no-progress"]
    assert main(argv) == 0  # without the config: the default 32x32 RGB
    assert "1 cells: 1 computed, 0 reused" in capsys.readouterr().out
    assert stored_data_settings(out) == {((16, 12), "grayscale"), ((32, 32), "rgb")}


@pytest.mark.slow
def test_took_is_the_wall_time_of_the_whole_command(tmp_path, monkeypatch, capsys):
    """``took`` counts from main's start to the end, writing the outputs included: a clock
    that jumps 10 minutes while the outputs are written shows in it (it used to stop before
    the outputs, and start after TensorFlow's import)."""
    from types import SimpleNamespace

    now = [0.0]
    monkeypatch.setattr(cli, "time", SimpleNamespace(perf_counter=lambda: now[0]))
    write = cli._outputs

    def slow_outputs(*args):
        now[0] += 600.0
        return write(*args)

    monkeypatch.setattr(cli, "_outputs", slow_outputs)
    cfg = write_config(tmp_path / "c.toml", ["saliency"], ["sparseness"], samples=2)
    assert main(["run", "--config", str(cfg), "--out", str(tmp_path / "o"), "--no-progress"]) == 0
    assert "took 10.0 min" in capsys.readouterr().err
