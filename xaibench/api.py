"""The top-level functions that join layers: ``xb.leaderboard`` ranks a score table with the
metrics' metadata from the registry (the results layer never looks metrics up), ``xb.report``
writes a run directory's outputs from an ``xb.evaluate`` table or rebuilds them from a run,
``xb.meta_evaluate`` computes the meta-evaluation's scores (benchmark/) and its statistics
(results/)."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd


def _with_metadata(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with the metrics' ``category``, ``higher_is_better``, ``tradeoff`` and the methods'
    ``control`` where they are missing, from the registries."""
    from xaibench import methods, metrics

    df = df.copy()
    if "metric" in df.columns:
        known = {"category", "higher_is_better", "tradeoff"}
        if not known <= set(df.columns):
            info = {m: metrics.cls(m) for m in df["metric"].unique()}
            for column in sorted(known - set(df.columns)):
                df[column] = df["metric"].map(lambda m, c=column: getattr(info[m], c))
    if "method" in df.columns and "control" not in df.columns:
        df["control"] = df["method"].map(  # a user's method not registered is no control
            lambda m: m in methods.names() and bool(methods.cls(m).control)
        )
    return df


def leaderboard(
    df: pd.DataFrame,
    *,
    confidence: float = 0.95,
    n_boot: int = 1000,
    seed: int = 0,
    ties: bool = False,
    overall: bool = False,
) -> pd.DataFrame:
    """Rank the methods of a long score table (``xb.evaluate`` output or a run's scores): mean,
    seeded bootstrap ``confidence`` interval, ``n`` and ``rank`` per (dataset, model, metric,
    method), as :func:`xaibench.results.leaderboard.leaderboard`. A table without the metrics'
    ``category`` / ``higher_is_better`` / ``tradeoff`` columns gets them from the metric registry
    (so the metric names must be registered), and ``control`` from the method registry.

    ``ties=True`` adds ``p_next`` and the tie letters ``tie`` (methods sharing a letter are not
    significantly different from their rank neighbours: paired Wilcoxon tests, Holm-corrected);
    ``overall=True`` adds ``rank_overall`` (the mean of the method's category ranks, cost left
    out) and ``overall`` (its position, 1 = best) per (dataset, model).

    >>> df = xb.evaluate(model, x, y, ["saliency", "random"], ["deletion", "sparseness"])
    >>> board = xb.leaderboard(df, ties=True, overall=True)
    >>> sorted(board.columns[-4:])
    ['overall', 'p_next', 'rank_overall', 'tie']
    """
    from xaibench.results import stats
    from xaibench.results.leaderboard import leaderboard as rank

    df = _with_metadata(df)
    board = rank(df, confidence=confidence, n_boot=n_boot, seed=seed)
    if ties and not board.empty:
        board = stats.add_ties(board, stats.significance(df, board))
    if overall and not board.empty:
        keys = [k for k in ("dataset", "model") if k in board.columns]
        ranks = stats.aggregate_ranks(board)[keys + ["method", "rank_overall", "overall"]]
        board = board.merge(ranks, on=keys + ["method"], how="left")
    return board


def report(
    scores_or_run_dir: pd.DataFrame | str | os.PathLike,
    out_dir: str | os.PathLike | None = None,
    *,
    dataset: str = "data",
    model: str = "model",
) -> Path:
    """Write a run directory's outputs (verdict.csv, leaderboard.csv/.md/.tex, statistics,
    tradeoffs, plots, report.html) into ``out_dir`` and return the path of its report.html.

    From an ``xb.evaluate`` DataFrame (named ``dataset`` / ``model`` in the outputs unless it has
    those columns; curves, galleries and model accuracy are not in such a table, so the report
    leaves them out), or rebuilt from a run directory's ``results.sqlite`` (``out_dir`` defaults
    to the run directory itself).

    >>> df = xb.evaluate(model, x, y, ["saliency", "random"], ["deletion", "sparseness"])
    >>> page = xb.report(df, getfixture("tmp_path") / "my_report")
    >>> page.name, (page.parent / "verdict.csv").exists()
    ('report.html', True)
    """
    from xaibench.results import outputs

    if isinstance(scores_or_run_dir, pd.DataFrame):
        if out_dir is None:
            raise ValueError("report: out_dir is needed to write the outputs of a DataFrame")
        data = outputs.RunData.from_scores(
            _with_metadata(scores_or_run_dir), dataset=dataset, model=model
        )
        outputs.build_from(data, out_dir)
        return Path(out_dir) / "report.html"
    run_dir = Path(scores_or_run_dir)
    made = outputs.rebuild(run_dir, to=out_dir)
    return next(p for p in made.files if p.name == "report.html")


def meta_evaluate(
    model,
    x,
    y,
    methods,
    metrics,
    *,
    seed: int = 0,
    masks=None,
    params: dict | None = None,
    dataset: str = "data",
    model_name: str = "model",
    **settings,
) -> pd.DataFrame:
    """How far each of ``metrics`` can be trusted on ``model`` and ``(x, y)``, judged with
    ``methods``: MetaQuantus's meta-evaluation (Hedström et al. 2023; README, Which metrics to
    trust), one row per (metric, test) with the columns of a run's ``meta.csv``: ``dataset,
    model`` (``dataset``, ``model_name``), ``metric, test`` ("model", "input", "both"),
    ``iac_nr, iac_ar, iec_nr, iec_ar, mc, mc_std, n_nr, n_ar``.

    ``settings``: ``iterations`` (default 3), ``perturbations`` (5), ``samples`` (None: all of
    ``x``), ``tests``, ``sigma_nr`` (0.001), ``sigma_ar`` (2.0), ``eps_nr`` (0.001), ``eps_ar``
    (1.5), as a config's ``[meta]`` table (``xaibench.benchmark.meta.MetaSettings``). ``seed``
    seeds the perturbations and every stochastic method and metric. Metrics and methods are
    names, instances (the sanity estimators of ``xaibench.metrics.sanity`` too) or ``(name,
    params)`` pairs; what fails is left out with a warning.

    >>> table = xb.meta_evaluate(model, x, y, ["saliency", "random"], ["sparseness"],
    ...                          iterations=2, perturbations=1)
    >>> table[["metric", "test"]].values.tolist()
    [['sparseness', 'model'], ['sparseness', 'input'], ['sparseness', 'both']]
    """
    from xaibench.benchmark.meta_evaluate import meta_scores
    from xaibench.results.meta import meta_table

    scores = meta_scores(
        model, x, y, methods, metrics, seed=seed, masks=masks, params=params, **settings
    )
    table = meta_table(scores.assign(dataset=dataset, model=model_name)) if len(scores) else None
    if table is None:
        from xaibench.results.meta import COLUMNS

        table = pd.DataFrame(columns=COLUMNS)
    table.attrs["failed"] = scores.attrs.get("failed", {})
    return table
