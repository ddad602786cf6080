"""The two tradeoffs of the field, from a leaderboard and the models' accuracy.

* Interpretability vs performance: are the explanations of a more accurate (or larger) model more
  or less faithful? One row per (dataset, model).
* Accuracy vs simplicity: are the methods whose explanations are more faithful (explanation
  accuracy) also simpler (sparser, lower entropy), and what do they cost to compute? One row per
  (dataset, model, method).

All scores are normalised and relative to the methods (and models) of the run; see
:func:`faithfulness_score` for the exact definition.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.ticker import FormatStrFormatter, LogLocator, NullLocator
from scipy import stats

from xaibench.results._figures import DPI, _axes, _figure, _grid_axes, plain_text

RUNTIME_METRIC = "runtime"
CONTROL = "random"
GROUP = ["dataset", "model"]
KEYS = ["dataset", "model", "method"]
RING = {"facecolors": "none", "linewidths": 1.5, "zorder": 4}
LABEL = {"xytext": (4, 3), "textcoords": "offset points", "fontsize": 8}
TABLE_COLUMNS = [
    "tradeoff",
    "dataset",
    "model",
    "method",
    "accuracy",
    "params",
    "faithfulness",
    "faithfulness_best",
    "best_method",
    "faithfulness_mean",
    "simplicity",
    "runtime",
    "pareto",
    "pareto_runtime",
]


def _check(df: pd.DataFrame, needed: Sequence[str], name: str) -> None:
    missing = set(needed) - set(df.columns)
    if missing:
        raise ValueError(f"{name} needs columns {sorted(needed)}; missing {sorted(missing)}")


def _check_board(board: pd.DataFrame) -> None:
    _check(board, KEYS + ["metric", "higher_is_better", "mean"], "board")


def _as_bool(values: pd.Series) -> pd.Series:
    """``higher_is_better`` as bools, also when read back from a CSV as text."""
    return values.map(lambda v: str(v).strip().lower() in ("true", "1", "1.0"))


def _normalised(board: pd.DataFrame, metrics: Sequence[str], within: list[str]) -> pd.DataFrame:
    """Per (dataset, model, method): mean of the oriented min-max scores of ``metrics`` (min and
    max over the rows sharing ``within`` and the metric) and how many metrics were averaged."""
    rows = board[board["metric"].isin(list(metrics))]
    values = pd.to_numeric(rows["mean"], errors="coerce").astype(float)
    grouped = values.groupby([rows[c] for c in within + ["metric"]])
    low, high = grouped.transform("min"), grouped.transform("max")
    span = high - low
    scaled = ((values - low) / span.where(span > 0)).fillna(0.5).where(values.notna())
    oriented = scaled.where(_as_bool(rows["higher_is_better"]), 1 - scaled)
    frame = rows[KEYS].assign(score=oriented)
    out = (
        board[KEYS]
        .drop_duplicates()
        .merge(
            frame.groupby(KEYS, as_index=False)["score"].agg(["mean", "count"]), on=KEYS, how="left"
        )
    )
    out["count"] = out["count"].fillna(0).astype(int)
    return out.rename(columns={"mean": "score"})


def axis_metrics(board: pd.DataFrame, axis: str, given: Sequence[str] | None = None) -> list[str]:
    """The metrics of ``board`` that feed tradeoff ``axis`` (its ``tradeoff`` column), or
    ``given`` when the caller names them."""
    if given is not None:
        return list(given)
    if "tradeoff" not in board.columns:
        raise ValueError(
            f"board has no tradeoff column to find the {axis} metrics (leaderboards of xaibench "
            f"runs and xb.evaluate carry it); pass {axis}_metrics= to name them"
        )
    return sorted(board.loc[board["tradeoff"] == axis, "metric"].unique())


def faithfulness_score(
    board: pd.DataFrame,
    *,
    within: Sequence[str] = ("dataset", "model"),
    faithfulness_metrics: Sequence[str] | None = None,
    simplicity_metrics: Sequence[str] | None = None,
) -> pd.DataFrame:
    """One faithfulness and one simplicity number per (dataset, model, method).

    Faithfulness is the mean of a method's normalised scores on the metrics whose ``tradeoff``
    (a metric's class attribute, carried by the board) is ``"faithfulness"``: among the
    built-ins deletion, insertion and faithfulness_correlation. Each metric's leaderboard
    ``mean`` is min-max normalised across the methods of one (dataset, model), the ``random``
    control included, to [0, 1] with 1 = the most faithful method: ``(m - min) / (max - min)`` for
    a metric where higher is better (insertion, faithfulness_correlation) and
    ``(max - m) / (max - min)`` where lower is better (deletion), as read from
    ``higher_is_better``. If all methods score the same, each gets 0.5. A method without a finite
    score for a metric is averaged over the metrics it has; with none, its score is NaN. Simplicity
    is built the same way from the metrics whose ``tradeoff`` is ``"simplicity"`` (built-ins:
    sparseness, higher = simpler, and complexity, entropy, lower = simpler). The scores are relative: 1 means the best method of this (dataset, model), not a
    perfect explanation, and they move when methods are added or removed.

    Parameters
    ----------
    board : leaderboard with columns dataset, model, method, metric, higher_is_better, mean.
    within : the columns whose rows share one min and max (default per (dataset, model);
        ``("dataset",)`` puts the models of a dataset on one scale, as in
        :func:`interpretability_vs_performance`).
    faithfulness_metrics, simplicity_metrics : the metrics combined (absent ones are skipped);
        by default those the board's ``tradeoff`` column names for each axis.

    Returns
    -------
    DataFrame with columns dataset, model, method, faithfulness, simplicity, n_faithfulness,
    n_simplicity (the number of metrics averaged into each score).

    Examples
    --------
    >>> scores = faithfulness_score(pd.read_csv("results/quick/leaderboard.csv"))  # doctest: +SKIP
    >>> scores.sort_values("faithfulness", ascending=False).head()  # doctest: +SKIP
    """
    _check_board(board)
    within = list(within)
    _check(board, within, "board")
    faith = _normalised(board, axis_metrics(board, "faithfulness", faithfulness_metrics), within)
    simple = _normalised(board, axis_metrics(board, "simplicity", simplicity_metrics), within)
    out = faith.rename(columns={"score": "faithfulness", "count": "n_faithfulness"}).merge(
        simple.rename(columns={"score": "simplicity", "count": "n_simplicity"}), on=KEYS
    )
    columns = KEYS + ["faithfulness", "simplicity", "n_faithfulness", "n_simplicity"]
    return out[columns].sort_values(KEYS).reset_index(drop=True)


def pareto_front(points: np.ndarray, maximise: Sequence[bool]) -> np.ndarray:
    """Which rows of ``points`` (n, d) no other row dominates.

    Row j dominates row i when it is at least as good in every column (``>=`` where
    ``maximise[k]``, ``<=`` otherwise) and strictly better in one. Equal rows do not dominate each
    other, so ties are on the front together. Rows with a NaN are never on the front and dominate
    nothing.

    Examples
    --------
    >>> pareto_front(np.array([[1, 1], [2, 0], [0.5, 0.5]]), [True, True])
    array([ True,  True, False])
    """
    p = np.asarray(points, dtype=float)
    sign = np.where(np.asarray(maximise, dtype=bool), 1.0, -1.0)
    if p.ndim != 2 or sign.ndim != 1 or p.shape[1] != len(sign):
        raise ValueError(
            f"pareto_front needs points of shape (n, d) and d values in maximise; got points "
            f"of shape {p.shape} and {sign.size} values in maximise"
        )
    q = p * sign
    valid = np.isfinite(q).all(axis=1)
    v = q[valid]
    at_least = (v[:, None, :] >= v[None, :, :]).all(axis=-1)  # [j, i]: j >= i everywhere
    better = (v[:, None, :] > v[None, :, :]).any(axis=-1)
    front = np.zeros(len(p), dtype=bool)
    front[valid] = ~(at_least & better).any(axis=0)
    return front


def _pareto_within(
    df: pd.DataFrame, columns: list[str], maximise: list[bool], by: list[str]
) -> np.ndarray:
    flags = pd.Series(False, index=df.index)
    for _, g in df.groupby(by, sort=False):
        flags[g.index] = pareto_front(g[columns].astype(float).to_numpy(), maximise)
    return flags.to_numpy(dtype=bool)


def _best_per_model(scores: pd.DataFrame, control: str | None) -> pd.DataFrame:
    """faithfulness_best, best_method (ties: first by name), faithfulness_mean per model."""
    real = scores[(scores["method"] != control) & scores["faithfulness"].notna()]
    columns = GROUP + ["faithfulness_best", "best_method", "faithfulness_mean"]
    if real.empty:
        return pd.DataFrame(columns=columns)
    real = real.sort_values(GROUP + ["faithfulness", "method"], ascending=[True, True, False, True])
    g = real.groupby(GROUP, sort=False)
    best = g.first()[["faithfulness", "method"]].set_axis(columns[2:4], axis=1)
    return best.assign(faithfulness_mean=g["faithfulness"].mean()).reset_index()[columns]


def interpretability_vs_performance(
    board: pd.DataFrame, models: pd.DataFrame, *, control: str | None = CONTROL
) -> pd.DataFrame:
    """Per (dataset, model): the model's accuracy and size against how faithfully it is explained.

    Faithfulness here is :func:`faithfulness_score` with ``within=("dataset",)``: each metric is
    min-max normalised over all (model, method) rows of a dataset rather than per model. Per-model
    normalisation would give every model's best method a score near 1 by construction, so the
    best scores of different models could not be compared; one scale per dataset keeps the
    differences between models (the model whose best explanation beats the others' explanations
    scores higher). The scale is still relative to the methods and models of the run and is not
    comparable across datasets. Deletion and insertion read the model's class probability, so a
    more confident model moves both; they move in opposite directions of "better", which averaging
    them partly cancels, and faithfulness_correlation (a Pearson correlation) is scale-free.

    Parameters
    ----------
    board : the leaderboard (see :func:`faithfulness_score`).
    models : columns dataset, model, accuracy, params (``Store.models()``); a model listed twice
        keeps its last row.
    control : the control method left out of faithfulness_best and faithfulness_mean
        (``None``: keep all methods).

    Returns
    -------
    DataFrame with columns dataset, model, accuracy, params, faithfulness_best, best_method,
    faithfulness_mean, pareto. ``pareto`` is True when no other model of the dataset has
    accuracy and faithfulness_best both at least as high, one strictly higher (False when
    either is missing).
    """
    _check_board(board)
    _check(models, GROUP + ["accuracy", "params"], "models")
    scores = faithfulness_score(board, within=("dataset",))
    info = models[GROUP + ["accuracy", "params"]].drop_duplicates(GROUP, keep="last")
    pairs = pd.concat([board[GROUP], info[GROUP]]).drop_duplicates()
    out = pairs.merge(info, on=GROUP, how="left")
    out = out.merge(_best_per_model(scores, control), on=GROUP, how="left")
    out["accuracy"] = pd.to_numeric(out["accuracy"], errors="coerce").astype(float)
    out["params"] = pd.to_numeric(out["params"], errors="coerce").round().astype("Int64")
    out["faithfulness_best"] = out["faithfulness_best"].astype(float)
    out["faithfulness_mean"] = out["faithfulness_mean"].astype(float)
    out["pareto"] = _pareto_within(
        out, ["accuracy", "faithfulness_best"], [True, True], ["dataset"]
    )
    return out.sort_values(GROUP).reset_index(drop=True)


def accuracy_vs_simplicity(board: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, model, method): explanation accuracy (faithfulness) against simplicity and cost.

    ``faithfulness`` and ``simplicity`` are :func:`faithfulness_score` (normalised per
    (dataset, model)); ``runtime`` is the leaderboard mean of the runtime metric (seconds per
    sample; NaN when not measured). ``pareto``: no other method of the (dataset, model) is at
    least as faithful and as simple, one strictly; ``pareto_runtime``: none is at least as
    faithful and as fast, one strictly. Missing values keep a method off a front. The control
    method is included (it is usually the fastest, so it often sits on the runtime front).

    Returns
    -------
    DataFrame with columns dataset, model, method, faithfulness, simplicity, runtime, pareto,
    pareto_runtime.
    """
    _check_board(board)
    scores = faithfulness_score(board)[KEYS + ["faithfulness", "simplicity"]]
    runtime = board.loc[board["metric"] == RUNTIME_METRIC, KEYS + ["mean"]]
    runtime = runtime.drop_duplicates(KEYS).rename(columns={"mean": "runtime"})
    out = scores.merge(runtime, on=KEYS, how="left")
    out["runtime"] = pd.to_numeric(out["runtime"], errors="coerce").astype(float)
    out["pareto"] = _pareto_within(out, ["faithfulness", "simplicity"], [True, True], GROUP)
    out["pareto_runtime"] = _pareto_within(out, ["faithfulness", "runtime"], [True, False], GROUP)
    return out.sort_values(KEYS).reset_index(drop=True)


def _spearman(x: pd.Series, y: pd.Series) -> dict:
    xv, yv = x.astype(float).to_numpy(), y.astype(float).to_numpy()
    ok = np.isfinite(xv) & np.isfinite(yv)
    xv, yv = xv[ok], yv[ok]
    if len(xv) < 3 or np.ptp(xv) == 0 or np.ptp(yv) == 0:
        return {"n": len(xv), "rho": np.nan, "p_value": np.nan}
    rho, p = stats.spearmanr(xv, yv)
    return {"n": len(xv), "rho": float(rho), "p_value": float(p)}


def _summary(perf: pd.DataFrame, methods: pd.DataFrame, control: str | None) -> pd.DataFrame:
    methods = methods[methods["method"] != control]
    specs = [
        ("accuracy_vs_faithfulness", perf, "accuracy", "faithfulness_best"),
        ("params_vs_faithfulness", perf, "params", "faithfulness_best"),
        ("faithfulness_vs_simplicity", methods, "faithfulness", "simplicity"),
        ("faithfulness_vs_runtime", methods, "faithfulness", "runtime"),
    ]
    rows = [
        {"relationship": name, "x": x, "y": y, **_spearman(df[x], df[y])}
        for name, df, x, y in specs
    ]
    return pd.DataFrame(rows, columns=["relationship", "x", "y", "n", "rho", "p_value"])


def tradeoff_summary(
    board: pd.DataFrame, models: pd.DataFrame, *, control: str | None = CONTROL
) -> pd.DataFrame:
    """Spearman rank correlation quantifying each tradeoff.

    Four relationships: accuracy vs faithfulness_best and params vs faithfulness_best over all
    (dataset, model) rows of :func:`interpretability_vs_performance`; faithfulness vs simplicity
    and faithfulness vs runtime over all (dataset, model, method) rows of
    :func:`accuracy_vs_simplicity` except the ``control`` method (by design unfaithful, noisy and
    cheap, it would manufacture correlations; ``None`` keeps it). Rows with a missing value are
    dropped; ``rho`` and ``p_value`` (two-sided, ``scipy.stats.spearmanr``) are NaN when fewer
    than 3 rows remain or either variable is constant.

    Returns
    -------
    DataFrame with columns relationship, x, y, n, rho, p_value.
    """
    perf = interpretability_vs_performance(board, models, control=control)
    return _summary(perf, accuracy_vs_simplicity(board), control)


def tradeoffs_table(
    board: pd.DataFrame, models: pd.DataFrame, *, control: str | None = CONTROL
) -> pd.DataFrame:
    """Both tradeoff tables as one long DataFrame (the run directory's ``tradeoffs.csv``).

    Rows of :func:`interpretability_vs_performance` have ``tradeoff`` =
    "interpretability_vs_performance" and an empty ``method``; rows of
    :func:`accuracy_vs_simplicity` have "accuracy_vs_simplicity". Columns a table lacks are
    empty (NaN; ``pareto_runtime`` is a nullable boolean).

    Returns
    -------
    DataFrame with columns tradeoff, dataset, model, method, accuracy, params, faithfulness,
    faithfulness_best, best_method, faithfulness_mean, simplicity, runtime, pareto,
    pareto_runtime.
    """
    perf = interpretability_vs_performance(board, models, control=control)
    perf = perf.assign(tradeoff="interpretability_vs_performance", method="")
    methods = accuracy_vs_simplicity(board).assign(tradeoff="accuracy_vs_simplicity")
    parts = [t.reindex(columns=TABLE_COLUMNS) for t in (perf, methods) if not t.empty]
    if not parts:
        return pd.DataFrame(columns=TABLE_COLUMNS)
    table = pd.concat(parts, ignore_index=True)
    table["params"] = table["params"].astype("Int64")
    table["pareto"] = table["pareto"].astype(bool)
    table["pareto_runtime"] = table["pareto_runtime"].astype("boolean")
    return table


def _rho_text(row: pd.Series) -> str:
    if not np.isfinite(row["rho"]):
        return f"Spearman ρ undefined (n = {row['n']})"
    return f"Spearman ρ = {row['rho']:.2f} (p = {row['p_value']:.2g}, n = {row['n']})"


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI)
    return path


def _front_line(ax, x: np.ndarray, y: np.ndarray, maximise_x: bool, color) -> None:
    """The staircase bounding the region the front dominates (``x`` sorted ascending)."""
    where = "pre" if maximise_x else "post"
    ax.step(x, y, where=where, color=color, alpha=0.6, linewidth=1.2)


def _performance_plot(perf: pd.DataFrame, rho: pd.Series, path: Path) -> Path | None:
    data = perf[np.isfinite(perf["accuracy"]) & np.isfinite(perf["faithfulness_best"])]
    if data.empty:
        return None
    title = f"Interpretability vs performance (rings: Pareto front)\n{_rho_text(rho)}"
    fig = _figure(7.6, 5.3, title)
    ax = _axes(fig, 0.8, 0.55, 5.3, 4.1)  # fixed margins: labels of right-hand points fit
    colours = matplotlib.colormaps.get_cmap("tab10")
    for i, (dataset, g) in enumerate(data.groupby("dataset", sort=True)):
        c = colours(i % 10)
        ax.scatter(g["accuracy"], g["faithfulness_best"], color=c, label=dataset, zorder=3)
        front = g[g["pareto"]].sort_values("accuracy")
        ax.scatter(front["accuracy"], front["faithfulness_best"], s=180, edgecolors=c, **RING)
        _front_line(
            ax, front["accuracy"].to_numpy(), front["faithfulness_best"].to_numpy(), True, c
        )
        for _, r in g.iterrows():
            bold = "bold" if r["pareto"] else "normal"
            xy = (r["accuracy"], r["faithfulness_best"])
            ax.annotate(f"{dataset}/{r['model']}", xy, fontweight=bold, **LABEL)
    ax.set_xlabel("test accuracy")
    ax.set_ylabel("best faithfulness (normalised per dataset, control excluded)")
    ax.grid(alpha=0.3)
    ax.legend(title="dataset", fontsize=8)
    return _save(fig, path)


def _log_axis(ax, x: np.ndarray) -> None:
    """Log x axis with plain labels; ticks at 1, 2, 5 x 10^k when the data span under 2 decades,
    no minor ticks (unlabelled, and dozens of them cost more to draw than the rest)."""
    ax.set_xscale("log")
    if np.log10(x.max() / x.min()) < 2:
        ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FormatStrFormatter("%g"))
    ax.xaxis.set_minor_locator(NullLocator())


def _method_panel(ax, g: pd.DataFrame, x: str, front_col: str, log_x: bool, control) -> None:
    """Methods of one (dataset, model): the control as a cross, the Pareto front in red."""
    front = g[g[front_col]].sort_values(x)
    for is_control, part in g.groupby(g["method"] == control):
        marker = "x" if is_control else "o"
        ax.scatter(part[x], part["faithfulness"], color="tab:blue", alpha=0.6, marker=marker)
    ax.scatter(front[x], front["faithfulness"], s=80, edgecolors="tab:red", **RING)
    _front_line(ax, front[x].to_numpy(), front["faithfulness"].to_numpy(), not log_x, "tab:red")
    for _, r in front.iterrows():
        ax.annotate(r["method"], (r[x], r["faithfulness"]), **LABEL)
    if log_x:
        _log_axis(ax, g[x].to_numpy())
    ax.set_xlabel("runtime (s / sample, log scale)" if log_x else x, fontsize=8)
    ax.set_ylabel("faithfulness", fontsize=8)
    ax.grid(alpha=0.3)


def _method_plot(
    methods: pd.DataFrame,
    x: str,
    front_col: str,
    rho: pd.Series,
    path: Path,
    *,
    log_x: bool,
    control: str | None,
) -> Path | None:
    """One panel per (dataset, model): ``x`` against faithfulness, Pareto methods labelled."""
    ok = np.isfinite(methods[x]) & np.isfinite(methods["faithfulness"])
    data = methods[ok & (methods[x] > 0)] if log_x else methods[ok]
    groups = sorted(data.groupby(GROUP).groups)
    if not groups:
        return None
    ncols = min(3, len(groups))
    nrows = -(-len(groups) // ncols)
    what = "runtime" if log_x else "simplicity"
    title = (
        f"Faithfulness vs {what} per method (red rings: Pareto front; x: control "
        f"{control})\n{_rho_text(rho)} over the methods except the control"
    )
    (pw, ph), gap = (3.3, 2.6), (0.95, 0.8)  # fixed margins: labels of right-hand points fit
    fig = _figure(0.6 + ncols * (pw + gap[0]), 0.95 + nrows * (ph + gap[1]) - 0.3, title)
    axes = _grid_axes(fig, len(groups), ncols, (pw, ph), left=0.6, top=0.95, gap=gap)
    for ax, (dataset, model) in zip(axes, groups, strict=True):
        g = data[(data["dataset"] == dataset) & (data["model"] == model)]
        _method_panel(ax, g, x, front_col, log_x, control)
        ax.set_title(f"{dataset} / {model}", fontsize=9, y=1.0)  # y: no tick measuring
    return _save(fig, path)


@plain_text
def tradeoff_plots(
    board: pd.DataFrame,
    models: pd.DataFrame,
    plots_dir: str | Path,
    *,
    control: str | None = CONTROL,
) -> list[Path]:
    """Write the tradeoff plots into ``plots_dir``; return the paths written.

    ``tradeoff_performance.png``: accuracy vs faithfulness_best, one point per (dataset, model)
    coloured by dataset, Pareto front per dataset as a staircase with its points ringed.
    ``tradeoff_simplicity.png``: simplicity vs faithfulness per method, one panel per
    (dataset, model), Pareto methods labelled. ``tradeoff_runtime.png``: runtime (log scale) vs
    faithfulness the same way. A plot whose data are missing is skipped, not an error.
    """
    plots_dir = Path(plots_dir)
    perf = interpretability_vs_performance(board, models, control=control)
    methods = accuracy_vs_simplicity(board)
    rho = _summary(perf, methods, control).set_index("relationship")
    perf_rho = rho.loc["accuracy_vs_faithfulness"]
    paths = [_performance_plot(perf, perf_rho, plots_dir / "tradeoff_performance.png")]
    for x, front, log_x in [("simplicity", "pareto", False), ("runtime", "pareto_runtime", True)]:
        path = plots_dir / f"tradeoff_{x}.png"
        r = rho.loc[f"faithfulness_vs_{x}"]
        paths.append(_method_plot(methods, x, front, r, path, log_x=log_x, control=control))
    return [p for p in paths if p is not None]
