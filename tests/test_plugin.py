"""The pytest plugin ``xaibench.testing``: assertion helpers, option, ini value and fixtures."""

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import xaibench
from xaibench.testing import assert_beats_random, assert_no_regression, update_baseline

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[1]

BOARD = """\
dataset,model,method,metric,category,higher_is_better,mean,ci_low,ci_high,n,rank
digits,cnn,saliency,deletion,faithfulness,False,0.30,0.28,0.32,32,1
digits,cnn,random,deletion,faithfulness,False,0.50,0.48,0.52,32,2
digits,cnn,saliency,insertion,faithfulness,True,0.60,0.58,0.62,32,1
"""

INNER = """\
import io

import pandas as pd
import pytest

from xaibench.testing import assert_no_regression

BOARD = '''{board}'''


def board(changes=()):
    b = pd.read_csv(io.StringIO(BOARD))
    for (method, metric), mean in dict(changes).items():
        at = (b.method == method) & (b.metric == metric)
        b.loc[at, ["mean", "ci_low", "ci_high"]] = [mean, mean - 0.02, mean + 0.02]
    return b


def test_same_board_passes():
    assert_no_regression(board(), board())


def test_planted_regression_fails():
    assert_no_regression(board({{("saliency", "insertion"): 0.45}}), board())


def test_fixture_passes(xaibench_check):
    xaibench_check(board({{("saliency", "deletion"): 0.2}}))  # an improvement


def test_fixture_fails(xaibench_check):
    xaibench_check(board({{("random", "deletion"): 0.7}}))
"""


def words(text: str) -> str:
    """A regex matching a line that holds ``text``'s words in order, however spaced."""
    return ".*" + r"\s+".join(map(re.escape, text.split())) + ".*"


@pytest.fixture
def inner(pytester, monkeypatch):
    """A pytester directory with the inner test file; ``run(*args)`` runs pytest in it with the
    plugin loaded explicitly (whether or not its entry point is installed)."""
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    pytester.makepyfile(test_inner=INNER.format(board=BOARD))
    (pytester.path / "baseline.csv").write_text(BOARD)
    # this process imported the plugin already: pytest cannot rewrite it (it needs no rewriting)
    quiet = ("-W", "ignore::pytest.PytestAssertRewriteWarning", "-p", "no:cacheprovider")
    return lambda *args: pytester.runpytest("-p", "xaibench.testing", *quiet, *args)


def test_helpers_and_fixtures_in_a_test_suite(inner):
    result = inner("--xaibench-baseline", "baseline.csv")
    result.assert_outcomes(passed=2, failed=2)
    out = result.stdout.str()
    result.stdout.re_match_lines(
        [
            ".*test_planted_regression_fails.*",
            words("Regressions (worse beyond the confidence intervals and the tolerance):"),
            words("digits cnn saliency insertion higher 0.6 [0.58, 0.62] 0.45 [0.43, 0.47] -25.0%"),
            words("xaibench check FAILED: 1 regression(s), 0 missing, 0 improvement(s), 2 ok"),
            ".*test_fixture_fails.*",
            words("digits cnn random deletion lower 0.5 [0.48, 0.52] 0.7 [0.68, 0.72] +40.0%"),
        ]
    )
    assert "xaibench/testing.py" not in out  # the helpers' frames are hidden


def test_the_baseline_comes_from_the_ini_file(inner, pytester):
    pytester.makeini("[pytest]\nxaibench_baseline = baseline.csv\n")
    inner("-k", "fixture").assert_outcomes(passed=1, failed=1)


def test_update_baseline_writes_the_checked_scores(inner, pytester):
    result = inner(
        "-k", "fixture", "--xaibench-baseline", "new/baseline.csv", "--xaibench-update-baseline"
    )
    result.assert_outcomes(passed=2)
    written = pd.read_csv(pytester.path / "new" / "baseline.csv").set_index(["method", "metric"])
    assert len(written) == 3  # the second test's rows replaced the first's
    assert written.loc[("random", "deletion"), "mean"] == pytest.approx(0.7)
    # the accepted state: random at 0.7 is the baseline now, saliency at 0.2 an improvement
    again = inner("-k", "fixture", "--xaibench-baseline", "new/baseline.csv")
    again.assert_outcomes(passed=2)


def test_update_baseline_keeps_the_rows_of_other_keys(tmp_path):
    path = tmp_path / "baseline.csv"
    path.write_text(BOARD)
    ref = scores({"occlusion": [0.2, 0.3]})
    written = update_baseline(path, ref, dataset="digits", model="cnn")
    assert len(written) == 4 and len(pd.read_csv(path)) == 4
    update_baseline(path, ref, dataset="digits", model="cnn")
    assert len(pd.read_csv(path)) == 4


def test_without_a_baseline_the_fixture_tests_are_skipped(inner):
    result = inner("-k", "fixture", "-rs")
    result.assert_outcomes(skipped=2)
    result.stdout.fnmatch_lines(["*no xaibench baseline: pass --xaibench-baseline FILE*"])


def test_a_malformed_baseline_is_reported_without_a_traceback(inner, pytester):
    (pytester.path / "bad.csv").write_text("dataset,model\nd,m\n")
    result = inner("-k", "fixture", "--xaibench-baseline", "bad.csv")
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(["*xaibench_check: baseline *bad.csv lacks column(s) *"])
    assert "read_baseline" not in result.stdout.str()


def test_the_plugin_is_declared_as_a_pytest11_entry_point():
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert '[project.entry-points.pytest11]\nxaibench = "xaibench.testing"\n' in pyproject


def test_the_installed_entry_point_loads_the_plugin(pytester):
    from importlib.metadata import entry_points

    if "xaibench.testing" not in [ep.value for ep in entry_points(group="pytest11")]:
        pytest.skip("xaibench is installed without its entry points: pip install -e . again")
    pytester.makepyfile("def test_it(xaibench_baseline):\n    assert len(xaibench_baseline) == 3\n")
    (pytester.path / "baseline.csv").write_text(BOARD)
    quiet = ("-W", "ignore::pytest.PytestAssertRewriteWarning", "-p", "no:cacheprovider")
    pytester.runpytest("--xaibench-baseline", "baseline.csv", *quiet).assert_outcomes(passed=1)


def _imports(code: str) -> set[str]:
    probe = "import sys; print(' '.join(m for m in ('tensorflow', 'keras', 'pandas') if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\n{probe}"], capture_output=True, text=True, check=True
    )
    return set(out.stdout.split())


def test_the_plugin_module_imports_no_tensorflow_or_pandas():
    # xaibench/__init__ stubbed: what the plugin module itself imports
    stub = (
        "import sys, types; pkg = types.ModuleType('xaibench'); "
        f"pkg.__path__ = [{str(Path(xaibench.__file__).parent)!r}]; sys.modules['xaibench'] = pkg; "
        "import xaibench.testing"
    )
    assert _imports(stub) == set()


def test_importing_the_plugin_does_not_import_tensorflow():
    # pytest loads the plugin in every project where xaibench is installed: it must stay light
    assert "tensorflow" not in _imports("import xaibench.testing")
    assert "tensorflow" not in _imports("import xaibench")


# -- assert_no_regression on score tables ---------------------------------------------------


def scores(values: dict, metric="deletion", higher_is_better=False) -> pd.DataFrame:
    rows = [
        {
            "method": method,
            "metric": metric,
            "category": "faithfulness",
            "higher_is_better": higher_is_better,
            "sample": i,
            "score": s,
        }
        for method, v in values.items()
        for i, s in enumerate(v)
    ]
    return pd.DataFrame(rows)


def baseline_of(df, **names) -> pd.DataFrame:
    return xaibench.leaderboard(df.assign(**names))


def test_scores_take_dataset_and_model_names_and_match_only_their_rows():
    ref = scores({"saliency": [0.3, 0.31, 0.29, 0.3], "random": [0.5, 0.52, 0.48, 0.5]})
    other = baseline_of(ref, dataset="shapes", model="cnn")
    baseline = pd.concat([baseline_of(ref, dataset="digits", model="cnn"), other])
    result = assert_no_regression(ref, baseline, dataset="digits", model="cnn")
    assert set(result["status"]) == {"ok"} and len(result) == 2
    assert set(assert_no_regression(ref, baseline_of(ref))["status"]) == {"ok"}  # no names at all
    worse = scores({"saliency": [0.6, 0.61, 0.59, 0.6], "random": [0.5, 0.52, 0.48, 0.5]})
    with pytest.raises(AssertionError, match=r"saliency\s+deletion\s+lower"):
        assert_no_regression(worse, baseline, dataset="digits", model="cnn")
    with pytest.raises(ValueError, match="no column.*dataset"):
        assert_no_regression(ref, baseline)
    with pytest.raises(ValueError, match="no rows for the scores' dataset/model/method"):
        assert_no_regression(ref, baseline, dataset="mnist", model="cnn")
    only_saliency = ref[ref.method == "saliency"]  # a test may check a few methods
    result = assert_no_regression(only_saliency, baseline, dataset="digits", model="cnn")
    assert result["method"].tolist() == ["saliency"]
    lost = scores({"saliency": [0.3] * 4}, metric="insertion", higher_is_better=True)
    more = pd.concat([baseline, baseline_of(lost, dataset="digits", model="cnn")])
    with pytest.raises(AssertionError, match="Missing from the run"):
        assert_no_regression(only_saliency, more, dataset="digits", model="cnn")


def test_a_baseline_path_is_read_and_validated(tmp_path):
    path = tmp_path / "baseline.csv"
    path.write_text(BOARD)
    board = pd.read_csv(path)
    assert len(assert_no_regression(board, path)) == 3
    path.write_text(BOARD.replace("0.30,", "x,"))
    with pytest.raises(ValueError, match="column mean must be numeric, got 'x'"):
        assert_no_regression(board, str(path))


# -- assert_beats_random --------------------------------------------------------------------


def test_beats_random_message_names_method_metric_values_and_intervals(monkeypatch):
    constant = {"integrated_gradients": 0.412, "random": 0.398}

    def evaluate(model, x, y, methods, metrics, **kwargs):
        (method,) = methods
        return scores({method: [constant[method]] * 8}, metric=metrics[0])

    monkeypatch.setattr(xaibench, "evaluate", evaluate)
    with pytest.raises(AssertionError) as err:
        assert_beats_random(None, None, None, "integrated_gradients", metrics=("deletion",))
    assert str(err.value) == (
        "integrated_gradients does not beat random on deletion (lower is better): "
        "0.412 [0.412, 0.412] vs random 0.398 [0.398, 0.398] "
        "(one-sided paired Wilcoxon p = 1, n = 8, alpha = 0.05)"
    )
    constant["integrated_gradients"] = 0.2  # better on all 8 pairs: p = 1 / 2**8
    board = assert_beats_random(None, None, None, "integrated_gradients", metrics="deletion")
    assert board["method"].tolist() == ["integrated_gradients", "random"]
    np.testing.assert_allclose(board["p_value"], [1 / 2**8, np.nan])


@pytest.mark.slow
def test_gradient_x_input_beats_random_on_a_linear_model_and_random_does_not():
    from tests._tiny import linear_tabular

    rng = np.random.default_rng(0)
    w = np.array([3.0, 2.0, 1.0, 0.5, -0.5, -1.0, -2.0, -3.0])
    model = linear_tabular(np.stack([w, -w], axis=1), [0.0, 0.0])
    x = rng.uniform(0, 1, (48, 8)).astype(np.float32)
    y = (x @ w < 0).astype(int)  # the predicted class
    zero = {"insertion": {"baseline": 0.0}}  # tabular: start from zeros, not a blurred image
    board = assert_beats_random(model, x, y, "gradient_x_input", params=zero)
    assert set(board["metric"]) == {"deletion", "insertion"}
    with pytest.raises(AssertionError) as err:
        assert_beats_random(model, x, y, "random", metrics=("deletion",))
    message = str(err.value)
    assert message.startswith("random does not beat random on deletion (lower is better): ")
    assert message.count("[") == 2 and " vs random " in message


@pytest.mark.slow
def test_the_readme_example_writes_its_baseline_then_gates(pytester, monkeypatch):
    example = (ROOT / "tests" / "examples" / "test_gate_example.py").read_text()
    pytester.makepyfile(test_gate_copy=example)  # another name: the original is imported already
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    args = ("-p", "xaibench.testing", "-p", "no:cacheprovider", "--xaibench-baseline", "base.csv")
    args += ("-W", "ignore::pytest.PytestAssertRewriteWarning")
    pytester.runpytest(*args, "--xaibench-update-baseline").assert_outcomes(passed=3)
    board = pd.read_csv(pytester.path / "base.csv")
    assert len(board) == 4 and set(board["model"]) == {"linear"}
    pytester.runpytest(*args).assert_outcomes(passed=3)
    # the baseline says integrated_gradients deleted twice as well: the run now regressed
    at = (board.method == "integrated_gradients") & (board.metric == "deletion")
    board.loc[at, ["mean", "ci_low", "ci_high"]] /= 2
    board.to_csv(pytester.path / "base.csv", index=False)
    result = pytester.runpytest(*args)
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.re_match_lines([words("digits linear integrated_gradients deletion lower")])
