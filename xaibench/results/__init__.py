"""Results: leaderboards, tables and plots, built from the store alone."""

from xaibench.results.leaderboard import bootstrap_ci, leaderboard

__all__ = ["leaderboard", "bootstrap_ci"]
