"""Inputs from outside (names, files, configs, user components, baselines) are treated as
hostile: nothing lands outside its folder, nothing half-written is left behind, and a user error
is exit 2 with one line naming the problem, before any work starts (README, Promises)."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import xaibench as xb
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
