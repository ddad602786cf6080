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

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator
from scipy import stats

from xaibench.results._figures import (
    CONTROL_COLOR,
    METHOD_COLOR,
    NORMAL,
    PALETTE,
    SMALL,
    _axes,
    _figure,
    _grid_axes,
    _save,
    _text_inches,
    place_labels,
    plain_text,
    seconds,
)
from xaibench.results.drawing import Job, drawn
from xaibench.results.leaderboard import roundoff
from xaibench.results.tables import RUNTIME_METRIC, control_mask
from xaibench.results.tables import as_bool as _as_bool

# Which methods are left out of faithfulness_best, faithfulness_mean and the Spearman rhos:
# CONTROL, the methods the board marks as controls (its ``control`` column, ``Method.control``);
# a method name; or None (keep every method).
CONTROL = "declared"
GROUP = ["dataset", "model"]
KEYS = ["dataset", "model", "method"]
RING = {"facecolors": "none", "linewidths": 1.5, "zorder": 4}
FRONT_COLOR = "tab:red"
CONTROL_POINT = {"facecolors": "white", "edgecolors": CONTROL_COLOR, "linewidths": 1.2}
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


def _is_control(rows: pd.DataFrame, board: pd.DataFrame) -> np.ndarray:
    """Per row of ``rows`` (columns dataset, model, method): whether ``board`` marks that
    method a control there."""
    controls = board.loc[control_mask(board), KEYS].drop_duplicates().assign(_control=True)
    flags = rows[KEYS].merge(controls, on=KEYS, how="left")["_control"]
    return flags.fillna(False).to_numpy(dtype=bool)


def _normalised(board: pd.DataFrame, metrics: Sequence[str], within: list[str]) -> pd.DataFrame:
    """Per (dataset, model, method): mean of the oriented min-max scores of ``metrics`` (min and
    max over the rows sharing ``within`` and the metric) and how many metrics were averaged."""
    rows = board[board["metric"].isin(list(metrics))]
    values = pd.to_numeric(rows["mean"], errors="coerce").astype(float)
    grouped = values.groupby([rows[c] for c in within + ["metric"]])
    low, high, tol = (grouped.transform(f) for f in ("min", "max", roundoff))
    # within round-off of the best or the worst is the best or the worst (leaderboard.ROUNDOFF)
    values = values.where(high - values > tol, high).where(values - low > tol, low)
    span = high - low
    scaled = ((values - low) / span.where(span > tol)).fillna(0.5).where(values.notna())
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
    ``higher_is_better``; means within round-off of the best (worst) count as the best (worst)
    (``leaderboard.ROUNDOFF``), and if all methods score the same within round-off, each gets
    0.5. A method without a finite score for a metric is averaged over the metrics it has; with
    none, its score is NaN. Simplicity is built the same way from the metrics whose ``tradeoff``
    is ``"simplicity"`` (built-ins: sparseness, higher = simpler, and complexity, entropy, lower
    = simpler). The scores are relative: 1 means the best method of this (dataset, model), not a
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


def pareto_front(points: np.ndarray, maximise: Sequence[bool], tol=0.0) -> np.ndarray:
    """Which rows of ``points`` (n, d) no other row dominates.

    Row j dominates row i when it is at least as good in every column (``>=`` where
    ``maximise[k]``, ``<=`` otherwise) and strictly better in one, where values within ``tol``
    (one number, or one per column) are equal: round-off is no difference. Equal rows do not
    dominate each other, so ties are on the front together. Rows with a NaN are never on the
    front and dominate nothing.

    Examples
    --------
    >>> pareto_front(np.array([[1, 1], [2, 0], [0.5, 0.5]]), [True, True])
    array([ True,  True, False])
    >>> pareto_front(np.array([[1.0, 1.0], [1.0 - 1e-13, 1.0]]), [True, True], tol=1e-9)
    array([ True,  True])
    """
    p = np.asarray(points, dtype=float)
    sign = np.where(np.asarray(maximise, dtype=bool), 1.0, -1.0)
    if p.ndim != 2 or sign.ndim != 1 or p.shape[1] != len(sign):
        raise ValueError(
            f"pareto_front needs points of shape (n, d) and d values in maximise; got points "
            f"of shape {p.shape} and {sign.size} values in maximise"
        )
    q = p * sign
    tol = np.broadcast_to(np.asarray(tol, dtype=float), sign.shape)
    valid = np.isfinite(q).all(axis=1)
    v = q[valid]
    at_least = (v[:, None, :] >= v[None, :, :] - tol).all(axis=-1)  # [j, i]: j >= i everywhere
    better = (v[:, None, :] > v[None, :, :] + tol).any(axis=-1)
    front = np.zeros(len(p), dtype=bool)
    front[valid] = ~(at_least & better).any(axis=0)
    return front


def _pareto_within(
    df: pd.DataFrame, columns: list[str], maximise: list[bool], by: list[str], exclude=None
) -> np.ndarray:
    """Pareto flags per group of ``by``, values within round-off of each other equal
    (``leaderboard.roundoff`` of each column in the group); rows where ``exclude`` (bools) are
    left out: never on a front, and they push no other row off it."""
    flags = pd.Series(False, index=df.index)
    candidates = df if exclude is None else df[~np.asarray(exclude, dtype=bool)]
    for _, g in candidates.groupby(by, sort=False):
        values = g[columns].astype(float).to_numpy()
        tol = [roundoff(values[:, k]) for k in range(len(columns))]
        flags[g.index] = pareto_front(values, maximise, tol)
    return flags.to_numpy(dtype=bool)


def _excluded(rows: pd.DataFrame, board: pd.DataFrame, control: str | None) -> np.ndarray:
    """Per row of ``rows`` (columns dataset, model, method): whether ``control`` leaves it out."""
    if control is None:
        return np.zeros(len(rows), dtype=bool)
    if control == CONTROL:
        return _is_control(rows, board)
    return rows["method"].eq(control).to_numpy(dtype=bool)


def _best_per_model(scores: pd.DataFrame, board: pd.DataFrame, control: str | None):
    """faithfulness_best, best_method (ties: first by name), faithfulness_mean per model."""
    real = scores[~_excluded(scores, board, control) & scores["faithfulness"].notna()]
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
    control : the methods left out of faithfulness_best and faithfulness_mean: ``CONTROL``
        (default) the board's controls (its ``control`` column), a method name, or ``None``
        (keep all methods).

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
    out = out.merge(_best_per_model(scores, board, control), on=GROUP, how="left")
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
    controls = _is_control(out, board)
    out["pareto"] = _pareto_within(
        out, ["faithfulness", "simplicity"], [True, True], GROUP, exclude=controls
    )
    out["pareto_runtime"] = _pareto_within(
        out, ["faithfulness", "runtime"], [True, False], GROUP, exclude=controls
    )
    return out.sort_values(KEYS).reset_index(drop=True)


def _spearman(x: pd.Series, y: pd.Series) -> dict:
    xv, yv = x.astype(float).to_numpy(), y.astype(float).to_numpy()
    ok = np.isfinite(xv) & np.isfinite(yv)
    xv, yv = xv[ok], yv[ok]
    if len(xv) < 3 or np.ptp(xv) == 0 or np.ptp(yv) == 0:
        return {"n": len(xv), "rho": np.nan, "p_value": np.nan}
    rho, p = stats.spearmanr(xv, yv)
    return {"n": len(xv), "rho": float(rho), "p_value": float(p)}


def _summary(
    perf: pd.DataFrame, methods: pd.DataFrame, board: pd.DataFrame, control: str | None
) -> pd.DataFrame:
    methods = methods[~_excluded(methods, board, control)]
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
    return _summary(perf, accuracy_vs_simplicity(board), board, control)


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


# plots ----------------------------------------------------------------------------------------


def _rho_text(row: pd.Series, control: str | None) -> str:
    over = {None: "", CONTROL: "; the methods except the controls"}.get(
        control, f"; the methods except {control}"
    )
    if not np.isfinite(row["rho"]):
        return f"Spearman ρ undefined (n = {row['n']}{over})"
    return f"Spearman ρ = {row['rho']:.2f} (p = {row['p_value']:.2g}, n = {row['n']}{over})"


def _front_line(ax, x: np.ndarray, y: np.ndarray, maximise_x: bool, color) -> None:
    """The staircase bounding the region the front dominates (``x`` sorted ascending)."""
    where = "pre" if maximise_x else "post"
    ax.step(x, y, where=where, color=color, alpha=0.6, linewidth=1.2, zorder=2)


@plain_text
def _performance_plot(perf: pd.DataFrame, rho: str, path: Path) -> Path | None:
    data = _performance_data(perf)
    if data.empty:
        return None
    fig = _figure(8.4, 5.4, f"Interpretability vs performance (rings: Pareto front)\n{rho}")
    ax = _axes(fig, 0.75, 0.55, 5.6, 4.1)
    performance_panel(ax, data)
    ax.legend(title="dataset", loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    return _save(fig, path)


def _performance_data(perf: pd.DataFrame) -> pd.DataFrame:
    return perf[np.isfinite(perf["accuracy"]) & np.isfinite(perf["faithfulness_best"])]


def performance_panel(ax, data: pd.DataFrame) -> None:
    """Accuracy vs best faithfulness of the models of ``data`` (rows of
    :func:`interpretability_vs_performance` with both): a colour per dataset (labelled for a
    legend), its Pareto front ringed and joined, each point named by its model."""
    datasets = sorted(data["dataset"].unique())
    for i, dataset in enumerate(datasets):
        g, c = data[data["dataset"] == dataset], PALETTE[i % len(PALETTE)]
        ax.scatter(g["accuracy"], g["faithfulness_best"], color=c, label=dataset, zorder=3)
        front = g[g["pareto"]].sort_values("accuracy")
        ax.scatter(front["accuracy"], front["faithfulness_best"], s=150, edgecolors=c, **RING)
        x, y = front["accuracy"].to_numpy(), front["faithfulness_best"].to_numpy()
        _front_line(ax, x, y, True, c)
    _limits(ax, data["accuracy"].to_numpy(), log=False)
    ax.set_ylim(-0.08, 1.12)
    xy = data[["accuracy", "faithfulness_best"]].to_numpy(dtype=float)
    colours = [{"color": PALETTE[datasets.index(d) % len(PALETTE)]} for d in data["dataset"]]
    models = [str(m) for m in data["model"]]
    place_labels(ax, xy, models, marker_px=8.0, each=colours, fontsize=SMALL)
    ax.set_xlabel("test accuracy")
    ax.set_ylabel("best faithfulness (normalised per dataset)")
    ax.grid(alpha=0.3)


def _limits(ax, x: np.ndarray, *, log: bool) -> None:
    """Fixed x limits around ``x`` with room for labels (placement needs final limits)."""
    low, high = np.nanmin(x), np.nanmax(x)
    if log:
        ax.set_xscale("log")
        ax.set_xlim(low / 2.0, high * 2.0)
        return
    span = high - low if high > low else max(abs(high), 1.0) * 0.1
    ax.set_xlim(low - 0.1 * span, high + 0.1 * span)


def _runtime_axis(ax, x: np.ndarray) -> None:
    """Log axis of seconds per sample labelled with units; ticks at 1, 2, 5 x 10^k when the
    data span under 2 decades, no minor ticks (unlabelled, and costly to draw)."""
    _limits(ax, x, log=True)
    if np.log10(np.nanmax(x) / np.nanmin(x)) < 2:
        ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(seconds))
    ax.xaxis.set_minor_locator(NullLocator())


def method_panel(ax, g: pd.DataFrame, x: str, front_col: str, log_x: bool) -> None:
    """Methods of one (dataset, model): the real ones in blue, the Pareto front ringed in red
    and labelled, the controls as grey diamonds with a dashed line at their faithfulness."""
    real, ctrl = g[~g["control"]], g[g["control"]]
    front = real[real[front_col]].sort_values(x)
    ax.scatter(real[x], real["faithfulness"], color=METHOD_COLOR, alpha=0.7, s=24, zorder=3)
    ax.scatter(front[x], front["faithfulness"], s=80, edgecolors=FRONT_COLOR, **RING)
    ax.scatter(ctrl[x], ctrl["faithfulness"], marker="D", s=24, zorder=3, **CONTROL_POINT)
    for level in ctrl["faithfulness"]:
        ax.axhline(level, color=CONTROL_COLOR, lw=0.9, ls=(0, (4, 2)), zorder=1)
    if log_x:
        _runtime_axis(ax, g[x].to_numpy(dtype=float))
    else:
        _limits(ax, g[x].to_numpy(dtype=float), log=False)
    ax.set_ylim(-0.1, 1.14)
    _front_line(ax, front[x].to_numpy(), front["faithfulness"].to_numpy(), not log_x, FRONT_COLOR)
    ax.set_xlabel("runtime per sample (log scale)" if log_x else x)
    ax.set_ylabel("faithfulness")
    ax.grid(alpha=0.3)
    shown = pd.concat([front, ctrl])
    grey = {"color": CONTROL_COLOR, "style": "italic"}
    place_labels(
        ax,
        shown[[x, "faithfulness"]].to_numpy(dtype=float),
        [str(m) for m in shown["method"]],
        avoid=g[[x, "faithfulness"]].to_numpy(dtype=float),
        hlines=ctrl["faithfulness"].to_numpy(dtype=float),
        marker_px=6.0,
        each=[{}] * len(front) + [grey] * len(ctrl),
        fontsize=SMALL,
    )


@plain_text
def _method_plot(
    methods: pd.DataFrame, x: str, front_col: str, rho: str, path: Path, *, log_x: bool
) -> Path | None:
    """One panel per (dataset, model): ``x`` against faithfulness, Pareto methods labelled.
    The figure is at least as wide as its legend and the line of the Spearman rho above it, the
    panels centred (one panel alone would cut both at its edges)."""
    ok = np.isfinite(methods[x]) & np.isfinite(methods["faithfulness"])
    data = methods[ok & (methods[x] > 0)] if log_x else methods[ok]
    groups = sorted(data.groupby(GROUP).groups)
    if not groups:
        return None
    ncols = min(3, len(groups))
    nrows = -(-len(groups) // ncols)
    what = "runtime" if log_x else "simplicity"
    (pw, ph), gap, top = (3.2, 2.6), (0.8, 0.85), 1.15
    handles, names = _method_legend_entries(data["control"].any())
    panels = ncols * pw + (ncols - 1) * gap[0]
    width = max(0.65 + panels + 0.15, _legend_inches(names), _text_inches([rho], SMALL) + 0.4)
    left = max(0.65, (width - panels + 0.5) / 2)
    fig = _figure(width, top + nrows * ph + (nrows - 1) * gap[1] + 0.55, f"Faithfulness vs {what}")
    _method_legend(fig, handles, names, rho, 1 - 0.36 / fig.get_figheight())
    axes = _grid_axes(fig, len(groups), ncols, (pw, ph), left=left, top=top, gap=gap)
    for ax, (dataset, model) in zip(axes, groups, strict=True):
        g = data[(data["dataset"] == dataset) & (data["model"] == model)]
        method_panel(ax, g, x, front_col, log_x)
        ax.set_title(f"{dataset} / {model}", fontsize=NORMAL, y=1.0)  # y: no tick measuring
    return _save(fig, path)


def _method_legend_entries(controls: bool) -> tuple[list, list[str]]:
    handles = [
        Line2D([], [], ls="none", marker="o", color=METHOD_COLOR, alpha=0.7, ms=5),
        Line2D([], [], color=FRONT_COLOR, alpha=0.6, marker="o", ms=8, mfc="none", mec=FRONT_COLOR),
    ]
    names = ["method", "Pareto front of the methods (labelled)"]
    if controls:
        marker = {"marker": "D", "ms": 5, "mfc": "white", "mec": CONTROL_COLOR}
        handles.append(Line2D([], [], color=CONTROL_COLOR, ls=(0, (4, 2)), **marker))
        names.append("control (a reference, never on the front)")
    return handles, names


def _legend_inches(names: list[str]) -> float:
    """The width of a one-row legend of ``names`` at `SMALL` (handles and spacing included)."""
    return sum(_text_inches([n], SMALL) for n in names) + 0.6 * len(names) + 0.3


def _method_legend(fig, handles: list, names: list[str], rho: str, y: float) -> None:
    legend = fig.legend(
        handles,
        names,
        loc="upper center",
        bbox_to_anchor=(0.5, y),
        ncol=len(names),
        frameon=False,
        fontsize=SMALL,
        title=rho,
        title_fontsize=SMALL,
    )
    legend.get_title().set_color("0.25")


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
    (dataset, model), the Pareto methods ringed and labelled (labels placed without overlaps);
    the control methods (the board's ``control`` column) are grey diamonds with a dashed line
    at their faithfulness, never on a front. ``tradeoff_runtime.png``: runtime per sample (log
    scale, with units) vs faithfulness the same way. ``control`` is the method the tables'
    faithfulness_best and the Spearman ρ quoted leave out (see `tradeoff_summary`). A plot
    whose data are missing is skipped, not an error.
    """
    return drawn(tradeoff_jobs(board, models, plots_dir, control=control))


def tradeoff_jobs(
    board: pd.DataFrame,
    models: pd.DataFrame,
    plots_dir: str | Path,
    *,
    control: str | None = CONTROL,
) -> list[Job]:
    """The figures of `tradeoff_plots`, their data computed, to draw (``drawing``)."""
    plots_dir = Path(plots_dir)
    perf = interpretability_vs_performance(board, models, control=control)
    methods = accuracy_vs_simplicity(board)
    methods["control"] = _is_control(methods, board)
    rho = _summary(perf, methods, board, control).set_index("relationship")
    perf_rho = _rho_text(rho.loc["accuracy_vs_faithfulness"], None)
    jobs = [Job(_performance_plot, (perf, perf_rho, plots_dir / "tradeoff_performance.png"))]
    for x, front, log_x in [("simplicity", "pareto", False), ("runtime", "pareto_runtime", True)]:
        text = _rho_text(rho.loc[f"faithfulness_vs_{x}"], control)
        path = plots_dir / f"tradeoff_{x}.png"
        jobs.append(Job(_method_plot, (methods, x, front, text, path), {"log_x": log_x}))
    return jobs
