"""The grid runner, the store and the CLI end to end on tiny configs (digits, few samples)."""

import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import _tiny
import numpy as np
import pandas as pd
import pytest
from _runs import write_config
from _tolerance import assert_scores_close

import xaibench as xb
from xaibench._tf import keras
from xaibench.benchmark import runner
from xaibench.benchmark.config import load_config
from xaibench.cli import main
from xaibench.methods.base import Method
from xaibench.models import training
from xaibench.models.zoo import registry as architectures
from xaibench.store import Store

pytestmark = pytest.mark.slow

STATE = {"interrupt": False, "calls": 0}


@xb.methods.register("test_interrupting")
def interrupting(model, x, y):
    """Stands for a user pressing Ctrl-C while this method runs."""
    STATE["calls"] += 1
    if STATE["interrupt"]:
        raise KeyboardInterrupt
    return np.abs(x - 0.5)


@xb.methods.register("test_failing")
def failing(model, x, y):
    """Always raises."""
    raise RuntimeError("this explainer is broken")


@xb.methods.register("test_counting")
def counting(model, x, y):
    """Counts its calls."""
    STATE["calls"] += 1
    return x.copy()


@xb.methods.register("test_never_applicable")
class NeverApplicable(Method):
    """Applies to nothing."""

    def __init__(self, *, batch_size: int = 1):
        self.batch_size = batch_size

    def applicable(self, model, x):
        return "needs a model this test does not have"

    def explain(self, model, x, y):
        return x


def stored(out):
    db = sqlite3.connect(out / "results.sqlite")
    scores = pd.read_sql_query(
        "SELECT c.method, c.metric, s.sample, s.score FROM scores s JOIN cells c ON c.key = s.cell "
        "ORDER BY c.method, c.metric, s.sample",
        db,
    )
    cells = pd.read_sql_query("SELECT * FROM cells", db)
    db.close()
    return scores, cells


def test_cli_run_writes_the_run_directory(tmp_path, capsys):
    cfg = write_config(
        tmp_path / "tiny.toml",
        ["saliency", "random"],
        ["deletion", "sparseness"],
        extra="[params.deletion]\nsteps = 4\n",
    )
    out = tmp_path / "run"
    assert main(["run", "--config", str(cfg), "--out", str(out), "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "4 cells: 4 computed, 0 reused" in text and str(out) in text
    board = pd.read_csv(out / "leaderboard.csv")
    assert list(board.columns[:11]) == [
        "dataset",
        "model",
        "method",
        "metric",
        "category",
        "higher_is_better",
        "mean",
        "ci_low",
        "ci_high",
        "n",
        "rank",
    ]
    assert len(board) == 4 and (board["n"] == 6).all()
    markdown = (out / "leaderboard.md").read_text()
    assert markdown.startswith("# Verdict") and "\n# Leaderboard\n" in markdown
    assert (out / "plots" / "leaderboard_faithfulness.png").stat().st_size > 1000
    assert "Verdict (overall rank" in text and "saliency" in text  # printed at the end of the run
    scores, cells = stored(out)
    assert len(scores) == 4 * 6 and (cells["status"] == "ok").all()
    assert set(cells["version"]) == {xb.__version__}
    with Store(out / "results.sqlite") as store:
        deletion = cells[(cells.metric == "deletion") & (cells.method == "saliency")].iloc[0]
        assert store.curves(deletion["key"]).shape == (6, 5)  # steps = 4 from [params.deletion]
        models = store.models()
        assert models.iloc[0]["accuracy"] > 0.8 and models.iloc[0]["params"] == 650
        run = store.latest_run()
        assert run["status"] == "ok" and run["config"]["params"] == {"deletion": {"steps": 4}}
        assert run["versions"]["xaibench"] == xb.__version__
        # the report's gallery: the samples' inputs and each method's attributions of them
        (inputs,) = store.artifacts("inputs")
        gallery = {a["method"]: a["attributions"] for a in store.artifacts("gallery")}
        assert inputs["x"].shape == (4, 8, 8, 1) and len(set(inputs["y"])) == 4
        assert set(gallery) == {"saliency", "random"}
        model = xb.models.get("linear", "digits")
        expected = xb.methods.get("saliency")(model, inputs["x"], inputs["y"])
        np.testing.assert_allclose(gallery["saliency"], expected, rtol=1e-5, atol=1e-7)
        (view,) = store.artifacts("inspection")  # the first (dense) layer and its response
        assert view["filters"].shape == (64, 10) and view["activations"].shape == (10,)
        np.testing.assert_allclose(
            view["activations"], model.predict(inputs["x"][:1], verbose=0)[0], rtol=1e-5
        )


def test_scores_in_the_store_equal_the_python_api(tmp_path):
    cfg = write_config(tmp_path / "c.toml", ["integrated_gradients"], ["insertion"], samples=5)
    out = tmp_path / "run"
    assert main(["run", "--config", str(cfg), "--out", str(out), "--no-progress"]) == 0
    scores, _ = stored(out)
    d = xb.datasets.load("digits")
    from xaibench.benchmark.plan import sample_indices

    idx = sample_indices(len(d.y_test), 5, 0)
    np.testing.assert_array_equal(scores["sample"], idx)
    df = xb.evaluate(
        xb.models.get("linear", "digits"),
        d.x_test[idx],
        d.y_test[idx],
        ["integrated_gradients"],
        ["insertion"],
    )
    assert_scores_close(scores["score"], df["score"])


def test_interrupted_run_resumes_without_recomputing_or_duplicating(tmp_path, capsys):
    cfg = write_config(
        tmp_path / "c.toml", ["saliency", "test_interrupting", "random"], ["deletion", "sparseness"]
    )
    out = tmp_path / "run"
    STATE.update(interrupt=True, calls=0)
    assert main(["run", "--config", str(cfg), "--out", str(out), "--no-progress"]) == 130
    assert "run the same command again to resume" in capsys.readouterr().err
    _, cells = stored(out)
    assert set(cells["method"]) == {"saliency"} and len(cells) == 2  # finished before the interrupt
    with Store(out / "results.sqlite") as store:
        assert store.latest_run()["status"] == "interrupted"

    STATE.update(interrupt=False, calls=0)
    assert main(["run", "--config", str(cfg), "--out", str(out), "--no-progress"]) == 0
    assert "6 cells: 4 computed, 2 reused" in capsys.readouterr().out
    assert STATE["calls"] == 1
    resumed_scores, cells = stored(out)
    assert len(cells) == 6 and len(resumed_scores) == 6 * 6
    assert not resumed_scores.duplicated(["method", "metric", "sample"]).any()

    STATE["calls"] = 0  # a third run computes nothing
    assert main(["run", "--config", str(cfg), "--out", str(out), "--no-progress"]) == 0
    assert "6 cells: 0 computed, 6 reused" in capsys.readouterr().out and STATE["calls"] == 0

    fresh = tmp_path / "fresh"
    assert main(["run", "--config", str(cfg), "--out", str(fresh), "--no-progress"]) == 0
    fresh_scores, _ = stored(fresh)
    pd.testing.assert_frame_equal(resumed_scores, fresh_scores)
    pd.testing.assert_frame_equal(
        pd.read_csv(out / "leaderboard.csv"), pd.read_csv(fresh / "leaderboard.csv")
    )


def test_failing_cells_are_stored_and_the_run_goes_on(tmp_path, capsys):
    cfg = write_config(
        tmp_path / "c.toml",
        ["test_failing", "saliency", "test_never_applicable"],
        ["deletion", "sparseness"],
    )
    out = tmp_path / "run"
    assert main(["run", "--config", str(cfg), "--out", str(out), "--no-progress"]) == 1
    captured = capsys.readouterr()
    assert "2 failed" in captured.out and "2 not applicable" in captured.out
    assert (
        "digits/linear/test_failing/deletion: RuntimeError: this explainer is broken"
        in captured.err
    )
    _, cells = stored(out)
    status = cells.set_index(["method", "metric"])["status"]
    assert (status["test_failing"] == "error").all()
    assert (status["saliency"] == "ok").all()
    assert (status["test_never_applicable"] == "not_applicable").all()
    errors = cells.loc[cells.method == "test_failing", "error"]
    assert errors.str.contains("this explainer is broken").all()
    assert errors.str.contains("Traceback").all()
    board = pd.read_csv(out / "leaderboard.csv")
    assert set(board["method"]) == {"saliency"}
    # failed cells are tried again by the next run; the others are reused
    assert main(["run", "--config", str(cfg), "--out", str(out), "--no-progress"]) == 1
    assert "6 cells: 2 computed, 4 reused from the store, 2 not applicable, 2 failed" in (
        capsys.readouterr().out
    )


def test_a_rerun_counts_the_reused_not_applicable_cells_as_the_first_run_did(tmp_path, capsys):
    cfg = write_config(tmp_path / "c.toml", ["saliency", "test_never_applicable"], ["deletion"])
    out = tmp_path / "run"
    for counts in ("2 computed, 0 reused", "0 computed, 2 reused"):
        assert main(["run", "--config", str(cfg), "--out", str(out), "--no-progress"]) == 0
        printed = capsys.readouterr().out
        assert f"2 cells: {counts} from the store, 1 not applicable, 0 failed" in printed
        # a run of few metrics prints its leaderboard too (README, Quick start)
        assert "digits / linear: mean [95% CI]; * = the best method" in printed
        row = next(line for line in printed.splitlines() if line.startswith("saliency"))
        assert re.fullmatch(r"saliency +\*[-\d.e]+ \[[-\d.e]+, [-\d.e]+\]", row), row


def test_changed_settings_reuse_only_matching_cells(tmp_path, capsys):
    out = tmp_path / "run"
    cfg = write_config(tmp_path / "a.toml", ["test_counting", "random"], ["deletion", "sparseness"])
    assert main(["run", "--config", str(cfg), "--out", str(out), "--no-progress"]) == 0
    capsys.readouterr()
    cfg = write_config(
        tmp_path / "a.toml",
        ["test_counting", "random"],
        ["deletion", "sparseness"],
        extra="[params.deletion]\nsteps = 5\n",
    )
    STATE["calls"] = 0
    assert main(["run", "--config", str(cfg), "--out", str(out), "--no-progress"]) == 0
    assert "4 cells: 2 computed, 2 reused" in capsys.readouterr().out
    board = pd.read_csv(out / "leaderboard.csv")
    assert len(board) == 4 and (board["n"] == 6).all()  # old deletion cells are not mixed in
    _, cells = stored(out)
    assert len(cells) == 6  # ...but they are kept in the store
    # another seed draws other samples and another random: everything is recomputed
    assert (
        main(["run", "--config", str(cfg), "--out", str(out), "--no-progress", "--seed", "1"]) == 0
    )
    assert "4 cells: 4 computed, 0 reused" in capsys.readouterr().out


def test_a_rerun_reuses_a_model_s_cells_by_its_params_without_loading_it(tmp_path, monkeypatch):
    """A zoo model given a setting by ``[params.NAME]`` (a user architecture's ``units``, which
    its ``cache_settings`` hold as an application's hold its weights source and width): the run
    trains that model, its cells are keyed by the setting, and a rerun predicts the model's
    settings without loading it, so it reuses every cell; another value is another model, whose
    cells are computed. (A keras.applications network is checked at the settings level in
    test_config.py: its cost probe alone takes half a minute here.)"""
    monkeypatch.setattr(architectures, "_items", dict(architectures._items))  # undone after

    @xb.models.register("test_units", kinds=("image",), max_epochs=3)
    def test_units(input_shape, n_classes, seed, *, units=4):
        """A hidden dense layer of ``units`` (ReLU) on the flattened image, then logits."""
        init = [keras.initializers.GlorotUniform(seed=seed * 10 + i) for i in (1, 2)]
        return keras.Sequential(
            [
                keras.Input(input_shape),
                keras.layers.Flatten(),
                keras.layers.Dense(units, activation="relu", kernel_initializer=init[0]),
                keras.layers.Dense(n_classes, kernel_initializer=init[1]),
            ]
        )

    def run(units):
        cfg = write_config(
            tmp_path / "c.toml",
            ["saliency"],
            ["sparseness", "complexity"],
            models=("test_units",),
            samples=4,
            extra=f"[params.test_units]\nunits = {units}\n",
        )
        result = runner.run(load_config(cfg), tmp_path / "r", progress=False)
        assert not result.failures
        return result.computed, result.reused

    assert run(8) == (2, 0)
    _, cells = stored(tmp_path / "r")
    model = json.loads(cells["settings"][0])["model"]
    assert model["settings"] == {"units": 8} and "code" in model and "weights" in model

    def no_model(*args, **kwargs):
        raise AssertionError("a model was loaded")

    with monkeypatch.context() as patch:
        patch.setattr(training, "load_or_train", no_model)
        assert run(8) == (0, 2)
    assert run(16) == (2, 0)
    _, cells = stored(tmp_path / "r")
    assert {json.loads(c)["model"]["settings"]["units"] for c in cells["settings"]} == {8, 16}


OUTPUTS = [
    "verdict.csv",
    "leaderboard.csv",
    "leaderboard.md",
    "leaderboard.tex",
    "tradeoffs.csv",
    "tradeoff_summary.csv",
    "ranks.csv",
    "significance.csv",
    "rank_stability.csv",
    "metric_agreement.csv",
    "report.html",
    "plots/leaderboard_faithfulness.png",
    "plots/leaderboard_complexity.png",
    "plots/ranks_all.png",
    "plots/ranks_digits_cnn.png",
    "plots/ranks_digits_linear.png",
    "plots/agreement.png",
    "plots/curves_deletion.png",
    "plots/tradeoff_performance.png",
    "plots/tradeoff_simplicity.png",
    "plots/gallery_digits_linear.png",
    "plots/gallery_digits_cnn.png",
    "plots/inspection_digits_linear.png",
    "plots/inspection_digits_cnn.png",
]


def test_report_rebuilds_every_output_from_the_store_and_opens_in_a_browser(
    tmp_path, capsys, browser
):
    cfg = write_config(
        tmp_path / "c.toml",
        ["saliency", "gradient_x_input", "random"],
        ["deletion", "faithfulness_correlation", "sparseness", "complexity"],
        models=("linear", "cnn"),
    )
    out = tmp_path / "run"
    assert main(["run", "--config", str(cfg), "--out", str(out), "--no-progress"]) == 0
    before = {name: (out / name).read_bytes() for name in OUTPUTS}
    for name in OUTPUTS:
        (out / name).unlink()
    assert main(["report", str(out)]) == 0
    assert "rebuilt" in capsys.readouterr().out
    for name in OUTPUTS:
        assert (out / name).stat().st_size > 0, name
    for name in OUTPUTS:
        if name.endswith((".csv", ".md", ".tex")):
            assert (out / name).read_bytes() == before[name], name
    board = pd.read_csv(out / "leaderboard.csv")
    assert {"tie", "p_next"} <= set(board.columns)
    trade = pd.read_csv(out / "tradeoffs.csv")
    assert set(trade["tradeoff"]) == {"interpretability_vs_performance", "accuracy_vs_simplicity"}
    assert trade["pareto"].any()
    page = (out / "report.html").read_text()
    for section in ("Verdict", "digits / cnn", "Tradeoffs", "Attributions of test samples"):
        assert section in page
    assert page.index("Verdict") < page.index("Contents") < page.index("Details")
    assert page.count("data:image/png;base64,") == len([n for n in OUTPUTS if n.endswith(".png")])
    shot = tmp_path / "report.png"
    assert browser(out / "report.html", shot, first_screen="section.verdict") == []

    assert main(["report", str(tmp_path / "nothing")]) == 2
    assert "no results.sqlite" in capsys.readouterr().err


@pytest.mark.parametrize(
    "content, message",
    [
        ('methods = ["saliancy"]', "unknown method 'saliancy'"),
        ('metrics = ["deletion"]\nspeed = 3', "unknown key 'speed'"),
        ("samples = 0", "samples must be a positive integer"),
        ('datasets = ["imagenet"]', "unknown dataset 'imagenet'"),
        ('models = ["resnet"]', "unknown model 'resnet'"),
        ("[params.deletion]\nstpes = 3", "unknown parameter 'stpes' for metric 'deletion'"),
        (
            "[params.rise]\nmasks = 3",
            "[params.rise] names no method, metric, model or image folder",
        ),
        ("[params.linear]\nunits = 3", "unknown parameter 'units' for model 'linear'"),
        ("[params.digits]\nsize = 3", "[params.digits] names a dataset"),
        ("methods = [", "not valid TOML"),
    ],
)
def test_bad_config_exits_2_with_a_one_line_message(tmp_path, capsys, content, message):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(content)
    assert main(["run", "--config", str(cfg), "--out", str(tmp_path / "o"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()  # nothing started


def test_a_model_the_run_cannot_train_exits_2_before_any_work(tmp_path, monkeypatch, capsys):
    """ImageNet weights missing from Keras's cache (their file name depends on the input size,
    so only the datasets tell): a user error, said once the datasets are loaded and before any
    cell is computed or the run recorded."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))  # an empty Keras cache
    cfg = tmp_path / "run.toml"
    cfg.write_text(
        'datasets = ["shapes"]\nmodels = ["mobilenet_v2"]\nmethods = ["saliency"]\n'
        'metrics = ["sparseness"]\n[params.mobilenet_v2]\nweights = "imagenet"\n'
    )
    out = tmp_path / "o"
    assert main(["run", "--config", str(cfg), "--out", str(out), "--no-progress"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[-1].startswith("xaibench: error: model 'mobilenet_v2': the ImageNet weights")
    assert str(tmp_path / "keras" / "models") in lines[-1] and "Traceback" not in lines[-1]
    if (out / "results.sqlite").exists():
        with Store(out / "results.sqlite", readonly=True) as store:
            assert store.run() is None  # no run recorded, so no cell either


def test_cli_usage_errors_exit_2(capsys):
    assert main(["run", "--config", "missing.toml"]) == 2
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["run", "--suite", "huge"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        main(["explain"])
    assert exc.value.code == 2


@pytest.mark.parametrize("kind", ["methods", "metrics", "datasets", "models"])
def test_list(kind, capsys):
    assert main(["list", kind]) == 0
    out = capsys.readouterr().out
    registry = {
        "methods": xb.methods,
        "metrics": xb.metrics,
        "datasets": xb.datasets,
        "models": xb.models,
    }[kind]
    for name in registry.names():
        assert name in out
    if kind == "metrics":
        assert "faithfulness" in out and "lower" in out and "explain" in out


def test_console_script_runs_quietly(tmp_path, model_cache):
    """The installed `xaibench` command: no TensorFlow log noise, results where promised."""
    cfg = write_config(tmp_path / "c.toml", ["saliency"], ["sparseness"], samples=3)
    script = Path(sys.executable).parent / "xaibench"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "xaibench.cli"]
    proc = subprocess.run(
        command + ["run", "--config", str(cfg), "--out", str(tmp_path / "run")],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "XAIBENCH_CACHE": model_cache},
    )
    assert proc.returncode == 0, proc.stderr
    assert "oneDNN" not in proc.stderr and "cuda" not in proc.stderr.lower()
    assert "absl" not in proc.stderr
    assert (tmp_path / "run" / "leaderboard.csv").exists()


def test_no_arguments_runs_the_quick_suite_into_results_quick(tmp_path, monkeypatch, capsys):
    """`xaibench run` runs the quick suite into results/quick/; on digits/cnn saliency beats the
    random control on deletion and insertion (the quick suite itself, trimmed to those cells)."""
    from dataclasses import replace

    from xaibench.benchmark import config

    trimmed = replace(
        config.SUITES["quick"],
        datasets=("digits",),
        models_per_dataset={},
        methods=("saliency", "random"),
        metrics=("deletion", "insertion"),
        params={},
    )
    monkeypatch.setitem(config.SUITES, "quick", trimmed)
    monkeypatch.chdir(tmp_path)
    assert main(["run", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "results in results/quick/" in out and "digits / cnn" in out
    board = pd.read_csv(tmp_path / "results" / "quick" / "leaderboard.csv")
    assert len(board) == 2 * 2 * 2 and (board["n"] == 32).all()
    cnn = board[(board.model == "cnn")].set_index(["metric", "method"])["mean"]
    assert cnn["deletion", "saliency"] < cnn["deletion", "random"]
    assert cnn["insertion", "saliency"] > cnn["insertion", "random"]


def test_the_command_line_offers_every_suite():
    from xaibench._suites import SUITE_NAMES
    from xaibench.benchmark.config import SUITES

    assert tuple(SUITES) == SUITE_NAMES


@pytest.mark.parametrize("name", ["quick", "default", "full", "realistic"])
def test_suites_are_valid_and_cover_what_they_promise(name):
    import xaibench as xb
    from xaibench.benchmark.config import SUITES

    suite = SUITES[name].validate()
    builtin_metrics = _tiny.builtin(xb.metrics)
    assert set(suite.metrics) == set(builtin_metrics)
    assert "random" in suite.methods and "saliency" in suite.methods
    large = {d for d in xb.datasets.names() if xb.datasets.cls(d).large}
    assert large >= {"scenes"}
    builtin_methods = [m for m in _tiny.builtin(xb.methods) if not m.startswith(("shap_", "lime_"))]
    if name == "quick":
        assert suite.datasets == ("digits", "shapes", "breast_cancer") and suite.samples == 32
        assert all(len(suite.models_for(d)) == 2 for d in suite.datasets)
    elif name == "realistic":  # every large dataset, a keras.applications network, everything
        assert set(suite.datasets) == large and suite.models == ("mobilenet_v2",)
        images = {m for m in builtin_methods if "image" in xb.methods.cls(m).inputs}
        assert set(suite.methods) == images and suite.samples == 32
        for heavy in ("rise", "lime", "kernel_shap"):  # budgets for the input size
            assert heavy in suite.params
    else:
        assert set(suite.datasets) == set(xb.datasets.names()) - large
        assert set(builtin_methods) <= set(suite.methods)
        assert suite.samples == (56 if name == "default" else 256)  # README: Suites


def test_folder_dataset_runs_through_the_cli(tmp_path, capsys):
    from xaibench._tf import keras

    rng = np.random.default_rng(0)
    for k, label in enumerate(["dark", "light"]):
        (tmp_path / "photos" / label).mkdir(parents=True)
        for i in range(6):
            img = rng.random((12, 12, 3)) * 0.3 + 0.6 * k
            keras.utils.save_img(tmp_path / "photos" / label / f"{i}.png", img * 255, scale=False)
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        f'samples = 3\ndatasets = ["{tmp_path}/photos/"]\nmodels = ["linear"]\n'
        'methods = ["saliency", "random"]\nmetrics = ["sparseness", "deletion"]\n'
    )
    out = tmp_path / "run"
    assert main(["run", "--config", str(cfg), "--out", str(out), "--no-progress"]) == 0
    board = pd.read_csv(out / "leaderboard.csv")
    assert set(board["dataset"]) == {"photos"} and (board["n"] == 3).all()


@pytest.mark.slow
def test_metric_metadata_reaches_the_outputs_without_name_lists(tmp_path, monkeypatch):
    """A user curve metric gets its curve plot and a user metric declaring tradeoff="simplicity"
    joins the simplicity axis, by their class attributes alone."""
    from xaibench.metrics import CurveMetric
    from xaibench.metrics.complexity.sparseness import Sparseness

    monkeypatch.setattr(xb.metrics._registry, "_items", dict(xb.metrics._registry._items))

    @xb.metrics.register("test_runner_curve")
    class Cumulative(CurveMetric):
        """The running mean of |a| over the features, in order."""

        higher_is_better = False
        needs_model = False

        def __init__(self, *, steps: int = 4):
            self.steps = steps

        def compute_curves(self, model, x, y, a):
            idx = np.linspace(0, a.shape[1], self.steps + 1).astype(int)
            c = np.cumsum(np.abs(a), axis=1)
            return np.hstack([np.zeros((len(a), 1)), c[:, idx[1:] - 1]]) / c[:, -1:]

    @xb.metrics.register("test_runner_simple", tradeoff="simplicity")
    class Simple(Sparseness):
        """Sparseness, under another name."""

    cfg = write_config(
        tmp_path / "c.toml",
        ["saliency", "random"],
        ["test_runner_curve", "test_runner_simple", "deletion"],
    )
    out = tmp_path / "run"
    assert main(["run", "--config", str(cfg), "--out", str(out), "--no-progress"]) == 0
    assert (out / "plots" / "curves_test_runner_curve.png").stat().st_size > 1000
    board = pd.read_csv(out / "leaderboard.csv").set_index("metric")
    assert board.loc["test_runner_simple", "tradeoff"].unique().tolist() == ["simplicity"]
    table = pd.read_csv(out / "tradeoffs.csv")
    simple = table[table.tradeoff == "accuracy_vs_simplicity"]
    assert simple["simplicity"].notna().all()  # the user metric is the only simplicity metric
    assert "test_runner_simple" in (out / "report.html").read_text()


def test_progress_bar_counts_the_cells_to_compute_and_names_the_stage(
    tmp_path, monkeypatch, capsys
):
    """The bar's total is the cells that run code (not the ones reused, nor the ones known not
    to apply: Grad-CAM on a model without convolutions, a method that never applies, a
    localisation metric on a dataset without masks); its description names the stage, training
    included; its ETA is the mean rate since the start (smoothing 0)."""
    from tqdm.auto import tqdm

    from xaibench.benchmark import runner

    bars = []

    class Recorded(tqdm):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            bars.append(self)

    monkeypatch.setattr(runner, "tqdm", Recorded)
    monkeypatch.setenv("XAIBENCH_CACHE", str(tmp_path / "cache"))  # the model is trained here
    methods = ["saliency", "grad_cam", "test_never_applicable", "random"]
    metrics = ["deletion", "sparseness", "pointing_game"]
    cfg = write_config(tmp_path / "c.toml", methods, metrics)
    out = tmp_path / "run"
    assert main(["run", "--config", str(cfg), "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert (bars[-1].total, bars[-1].n, bars[-1].smoothing) == (4, 4, 0)
    for stage in (
        "training linear on digits",
        "explaining saliency",
        "scoring deletion",
        "scoring sparseness",
        "explaining random",
        "digits/linear",
    ):
        assert stage in err, stage
    for stage in ("explaining grad_cam", "test_never_applicable", "scoring pointing_game"):
        assert stage not in err, stage

    cfg = write_config(tmp_path / "c.toml", [*methods, "test_counting"], metrics)
    assert main(["run", "--config", str(cfg), "--out", str(out)]) == 0
    assert "loading linear on digits" in capsys.readouterr().err
    assert (bars[-1].total, bars[-1].n) == (2, 2)  # only test_counting's cells
    assert main(["run", "--config", str(cfg), "--out", str(out)]) == 0
    assert "|" not in capsys.readouterr().err  # nothing to compute: no (empty) bar shown
    assert bars[-1].disable and (bars[-1].total, bars[-1].n) == (0, 0)
