"""Plots of a run (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def leaderboard_plot(board: pd.DataFrame, path: str | Path) -> Path:
    """One panel per (dataset / model, metric): each method's mean with its 95% CI; rank 1 green."""
    groups = sorted(board.groupby(["dataset", "model"]).groups)
    metrics = list(dict.fromkeys(board["metric"]))
    order = sorted(board["method"].unique(), reverse=True)  # alphabetical from the top
    n_methods = len(order)
    fig, axes = plt.subplots(
        len(groups),
        len(metrics),
        squeeze=False,
        figsize=(3.2 * len(metrics), 0.35 * n_methods * len(groups) + 1.2 * len(groups)),
    )
    for i, (dataset, model) in enumerate(groups):
        for j, metric in enumerate(metrics):
            ax = axes[i, j]
            g = board[
                (board.dataset == dataset) & (board.model == model) & (board.metric == metric)
            ]
            g = g.set_index("method").reindex(order).reset_index()
            pos = np.arange(len(g))
            err = np.vstack([g["mean"] - g["ci_low"], g["ci_high"] - g["mean"]]).clip(min=0)
            colors = ["tab:green" if r == 1 else "tab:blue" for r in g["rank"]]
            ax.errorbar(g["mean"], pos, xerr=err, fmt="none", ecolor="0.4", capsize=3)
            ax.scatter(g["mean"], pos, c=colors, zorder=3)
            ax.set_yticks(pos, order if j == 0 else [""] * len(order))
            arrow = "↑" if len(g) and g["higher_is_better"].iloc[0] else "↓"
            ax.set_title(f"{metric} {arrow}", fontsize=9)
            ax.tick_params(labelsize=8)
            ax.grid(axis="x", alpha=0.3)
            if j == 0:
                ax.set_ylabel(f"{dataset} / {model}", fontsize=9)
    fig.suptitle("Leaderboard: mean and bootstrap 95% CI per method (green = rank 1)", fontsize=10)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
