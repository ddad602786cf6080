"""Assertion helpers and a pytest plugin to gate attribution quality in a test suite.

The plugin is registered as the ``pytest11`` entry point ``xaibench``: installing xaibench makes
its option and fixtures available in every pytest run, so importing this module stays light
(xaibench's TensorFlow parts are imported inside the functions that need them).

- ``assert_no_regression(scores_or_board, baseline)``: no regression against a baseline
  leaderboard (the definition of ``xaibench check``, see ``xaibench.results.check``).
- ``assert_beats_random(model, x, y, method)``: the method beats the ``random`` control on each
  metric (one-sided paired Wilcoxon signed-rank test on the same samples).
- ``update_baseline(path, scores)``: write scores into a baseline CSV (rows of the same keys
  replaced).
- option ``--xaibench-baseline FILE`` (or ini ``xaibench_baseline``) and fixtures
  ``xaibench_baseline`` (the baseline DataFrame) and ``xaibench_check``
  (``assert_no_regression`` bound to that baseline; with ``--xaibench-update-baseline`` it writes
  the scores into the baseline instead); their tests are skipped when no baseline is configured.

Example
-------
>>> def test_saliency(model, x, y):  # doctest: +SKIP
...     assert_beats_random(model, x, y, "saliency", metrics=("deletion",))
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["assert_beats_random", "assert_no_regression", "update_baseline"]


def _num(v: float) -> str:
    if v != v:  # NaN
        return "nan"
    return f"{v:.3f}" if v == 0 or 0.01 <= abs(v) < 1e4 else f"{v:.3g}"


def _interval(row) -> str:
    return f"{_num(row['mean'])} [{_num(row['ci_low'])}, {_num(row['ci_high'])}]"


def _as_board(scores_or_board, dataset: str | None, model: str | None) -> pd.DataFrame:
    import pandas as pd

    from xaibench.results.leaderboard import leaderboard

    if not isinstance(scores_or_board, pd.DataFrame):
        raise TypeError(
            "scores_or_board: expected a DataFrame of scores (xb.evaluate) or a leaderboard, "
            f"got {type(scores_or_board).__name__}"
        )
    df = scores_or_board.copy()
    for column, name in (("dataset", dataset), ("model", model)):
        if name is None:
            continue
        if column in df.columns:
            raise ValueError(
                f"{column}={name!r} given but the scores already have a {column} column"
            )
        df[column] = name
    return leaderboard(df) if "score" in df.columns else df


def assert_no_regression(
    scores_or_board: pd.DataFrame,
    baseline: str | os.PathLike | pd.DataFrame,
    *,
    tolerance: float = 0.05,
    allow_missing: bool = False,
    dataset: str | None = None,
    model: str | None = None,
    include_cost: bool = False,
) -> pd.DataFrame:
    """Fail unless the scores show no regression against ``baseline`` (a leaderboard CSV path or
    DataFrame), by the definition of ``xaibench check``; the message is its report.

    ``scores_or_board`` is a long score table (``xb.evaluate``; its leaderboard is computed) or a
    leaderboard. Scores without dataset and model columns take the names ``dataset=`` and
    ``model=`` (or match a baseline without those columns). The baseline should come from the
    same evaluation (data, samples, seed, settings), e.g.
    ``xb.leaderboard(scores.assign(dataset=..., model=...)).to_csv(path, index=False)``.
    Only the baseline's rows of the (dataset, model, method) present in the scores are compared,
    so a test may check a few methods; a metric such a method lost fails unless
    ``allow_missing``. Returns the comparison (``xaibench.results.check.compare``).

    Example
    -------
    >>> scores = xb.evaluate(model, x, y, ["saliency"], ["deletion"])  # doctest: +SKIP
    >>> assert_no_regression(scores, "tests/baseline.csv", dataset="digits", model="cnn")  # doctest: +SKIP
    """
    __tracebackhide__ = True
    from xaibench.results import check

    board = _as_board(scores_or_board, dataset, model)
    if isinstance(baseline, (str, os.PathLike)):
        baseline = check.read_baseline(baseline)
    keys = [k for k in ("dataset", "model") if k in baseline.columns and k in board.columns]
    keys += ["method"] if "method" in baseline.columns and "method" in board.columns else []
    if keys:
        tested = set(board[keys].astype(str).apply(tuple, axis=1))
        present = baseline[keys].astype(str).apply(tuple, axis=1).isin(tested)
        if not present.any():
            raise ValueError(
                f"the baseline has no rows for the scores' {'/'.join(keys)}: "
                f"{sorted('/'.join(t) for t in tested)}"
            )
        baseline = baseline[present]
    result = check.compare(
        board,
        baseline,
        tolerance=tolerance,
        allow_missing=allow_missing,
        include_cost=include_cost,
    )
    if len(check.failures(result)):
        raise AssertionError(check.format_report(result))
    return result


def _scores(model, x, y, component, metrics, **kwargs) -> pd.DataFrame:
    import xaibench as xb

    scores = xb.evaluate(model, x, y, [component], list(metrics), **kwargs)
    if scores.empty:
        raise ValueError(f"{component!r} produced no scores: it does not apply to this model")
    return scores


def _paired_p(ours: pd.DataFrame, theirs: pd.DataFrame, higher_is_better: bool):
    """One-sided Wilcoxon signed-rank p-value that ``ours`` is better than ``theirs`` on the
    same samples (finite pairs only), and the number of pairs; p = 1 when no pair differs."""
    import numpy as np

    from xaibench.results.stats import signed_rank_test

    pairs = ours.merge(theirs, on="sample", suffixes=("", "_control"))
    d = (pairs["score"] - pairs["score_control"]).to_numpy(float)
    d = d[np.isfinite(d)] if len(d) else d
    if len(d) == 0 or not np.any(d):
        return 1.0, len(d)
    alternative = "greater" if higher_is_better else "less"
    return signed_rank_test(d, alternative)[1], len(d)


def assert_beats_random(
    model,
    x,
    y,
    method,
    *,
    metrics=("deletion", "insertion"),
    control="random",
    seed: int = 0,
    params: dict | None = None,
    masks=None,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Fail unless ``method`` beats the ``control`` method on every metric with ``xb.evaluate``.

    "Beats" means a one-sided paired Wilcoxon signed-rank test of the per-sample scores (both
    explain the same samples) finds the method better in the metric's direction at level
    ``alpha``: pairing cancels how hard each sample is, so it needs far fewer samples than
    non-overlapping confidence intervals (use 32 or more). The failure message shows both means
    with their 95% bootstrap intervals (as in ``xb.leaderboard``) and the p-value.
    ``method``, ``control`` and ``metrics`` are names, instances or ``(name, params)`` pairs;
    ``seed``, ``params`` and ``masks`` go to ``xb.evaluate`` (the same for both). Returns both
    leaderboards with a ``p_value`` column (NaN for the control).

    Example
    -------
    >>> assert_beats_random(model, x, y, "integrated_gradients", metrics=("deletion",))  # doctest: +SKIP
    """
    __tracebackhide__ = True
    import pandas as pd

    from xaibench.results.leaderboard import leaderboard

    metrics = (metrics,) if isinstance(metrics, str) else tuple(metrics)
    kwargs = dict(seed=seed, params=params, masks=masks)
    ours = _scores(model, x, y, method, metrics, **kwargs)
    theirs = _scores(model, x, y, control, metrics, **kwargs)
    board, control_board = leaderboard(ours), leaderboard(theirs).set_index("metric")
    if len(board) < len(metrics):
        raise ValueError(
            f"only {sorted(board['metric'])} of the metrics {list(metrics)} apply "
            "(localisation metrics need masks=)"
        )
    failed, pvalues = [], []
    for _, r in board.iterrows():
        c, hib = control_board.loc[r["metric"]], bool(r["higher_is_better"])
        p, n = _paired_p(
            ours[ours.metric == r["metric"]], theirs[theirs.metric == r["metric"]], hib
        )
        pvalues.append(p)
        if not p < alpha:
            failed.append(
                f"{r['method']} does not beat {c['method']} on {r['metric']} "
                f"({'higher' if hib else 'lower'} is better): "
                f"{_interval(r)} vs {c['method']} {_interval(c)} "
                f"(one-sided paired Wilcoxon p = {p:.2g}, n = {n}, alpha = {alpha})"
            )
    if failed:
        raise AssertionError("\n".join(failed))
    return pd.concat([board.assign(p_value=pvalues), control_board.reset_index()])


def update_baseline(
    path: str | os.PathLike,
    scores_or_board: pd.DataFrame,
    *,
    dataset: str | None = None,
    model: str | None = None,
) -> pd.DataFrame:
    """Write the leaderboard of ``scores_or_board`` into the baseline CSV ``path``: its rows
    replace the baseline's rows of the same keys, the other rows are kept (several tests may share
    one baseline). ``dataset=`` and ``model=`` name scores without those columns, as in
    ``assert_no_regression``.
    Returns the written baseline."""
    import pandas as pd

    from xaibench._text import visible
    from xaibench.results import check
    from xaibench.results.tables import csv_text

    board = _as_board(scores_or_board, dataset, model)
    keys = [k for k in check.KEYS if k in board.columns]
    for key in keys:  # as the baseline's names read back (``check.read_baseline``)
        board[key] = board[key].map(lambda v: visible(v) if isinstance(v, str) else v)
    path = Path(path)
    if path.exists():
        board = pd.concat([check.read_baseline(path), board]).drop_duplicates(keys, keep="last")
    board = check.validate_board(board.sort_values(keys), f"baseline {path}", keys=keys)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(csv_text(board), encoding="utf-8")
    return board


# -- the pytest plugin ------------------------------------------------------------------------


def pytest_addoption(parser) -> None:
    group = parser.getgroup("xaibench", "xaibench regression gate")
    group.addoption(
        "--xaibench-baseline",
        metavar="FILE",
        help="baseline leaderboard CSV for the xaibench_baseline and xaibench_check fixtures",
    )
    group.addoption(
        "--xaibench-update-baseline",
        action="store_true",
        help="xaibench_check writes the scores into the baseline instead of comparing "
        "(then review the diff and commit it)",
    )
    parser.addini(
        "xaibench_baseline",
        "baseline leaderboard CSV (relative to the ini file) for the xaibench fixtures",
        default="",
    )


def baseline_path(config) -> Path | None:
    """The baseline configured by ``--xaibench-baseline`` (relative to the working directory) or
    the ini value ``xaibench_baseline`` (relative to the ini file), or None."""
    option = config.getoption("xaibench_baseline")
    if option:
        return Path(config.invocation_params.dir, option)
    ini = config.getini("xaibench_baseline")
    if ini:
        root = config.inipath.parent if config.inipath else config.rootpath
        return Path(root, ini)
    return None


def _configured(config) -> Path:
    path = baseline_path(config)
    if path is None:
        pytest.skip("no xaibench baseline: pass --xaibench-baseline FILE or set xaibench_baseline")
    return path


def _read_or_fail(path: Path, fixture: str) -> pd.DataFrame:
    from xaibench.results.check import read_baseline

    try:
        return read_baseline(path)
    except ValueError as err:
        message = f"{fixture}: {err}"
    pytest.fail(message, pytrace=False)  # outside the except: no chained traceback


@pytest.fixture
def xaibench_baseline(pytestconfig) -> pd.DataFrame:
    """The baseline leaderboard (validated); skips the test when no baseline is configured."""
    return _read_or_fail(_configured(pytestconfig), "xaibench_baseline")


@pytest.fixture
def xaibench_check(pytestconfig):
    """``assert_no_regression`` against the configured baseline:
    ``xaibench_check(scores, dataset=..., model=..., **kw)``. With ``--xaibench-update-baseline``
    it writes the scores into the baseline instead (``update_baseline``). Skips the test when no
    baseline is configured."""
    path = _configured(pytestconfig)
    if pytestconfig.getoption("xaibench_update_baseline"):

        def write(scores_or_board, *, dataset=None, model=None, **settings):  # settings: unused
            return update_baseline(path, scores_or_board, dataset=dataset, model=model)

        return write
    baseline = _read_or_fail(path, "xaibench_check")

    def check(scores_or_board, **kwargs):
        __tracebackhide__ = True
        return assert_no_regression(scores_or_board, baseline, **kwargs)

    return check
