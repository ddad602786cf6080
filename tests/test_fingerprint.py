"""Fingerprints of user-supplied code: a method or metric whose code changed is computed again,
never served its old cells (README, Promises)."""

from __future__ import annotations

import sqlite3
import textwrap

import numpy as np
import pandas as pd
import pytest
from _runs import write_config

import xaibench as xb
from xaibench._fingerprint import code_fingerprint, component_fingerprint
from xaibench.cli import main


def user_code(source: str, name: str = "mine"):
    """``name`` from ``source`` run as a module of the user's (not installed, not xaibench)."""
    namespace = {"__name__": "user_methods_for_tests"}
    exec(textwrap.dedent(source), namespace)  # noqa: S102 - the test's own source text
    return namespace[name]


BASE = """
import numpy as np
SCALE = 2.0
def helper(x):
    return np.abs(x) * SCALE
def mine(model, x, y, *, power=1):
    '''Some method.'''
    return helper(x) ** power
"""


@pytest.mark.parametrize(
    "change",
    [
        ("return helper(x) ** power", "return -helper(x) ** power"),  # the body
        ("power=1", "power=2"),  # a default
        ("np.abs(x) * SCALE", "np.abs(x) + SCALE"),  # a helper it calls
        ("SCALE = 2.0", "SCALE = 3.0"),  # a module constant the helper reads
    ],
    ids=["body", "default", "helper", "constant"],
)
def test_a_change_in_the_code_changes_the_fingerprint(change):
    before = code_fingerprint(user_code(BASE))
    assert code_fingerprint(user_code(BASE)) == before  # the same code: the same fingerprint
    assert code_fingerprint(user_code(BASE.replace(*change))) != before


def test_layout_and_docstring_do_not_change_the_fingerprint():
    moved = BASE.replace("import numpy as np\n", "import numpy as np\n\n\n# a comment\n")
    redoc = BASE.replace("Some method.", "Some method, explained better.")
    fingerprints = {code_fingerprint(user_code(src)) for src in (BASE, moved, redoc)}
    assert len(fingerprints) == 1


def test_closures_and_classes():
    make = user_code(
        """
        def make(weight):
            def mine(model, x, y):
                return x * weight
            return mine
        """,
        "make",
    )
    assert code_fingerprint(make(2.0)) != code_fingerprint(make(3.0))
    assert code_fingerprint(make(np.ones(3))) != code_fingerprint(make(np.zeros(3)))
    source = """
    from xaibench.methods.base import Method
    class Mine(Method):
        def __init__(self, *, batch_size: int = 256):
            self.batch_size = batch_size
        def explain(self, model, x, y):
            return self.transform(x)
        def transform(self, x):
            return abs(x)
    """
    before = code_fingerprint(user_code(source, "Mine"))
    after = code_fingerprint(user_code(source.replace("abs(x)", "-abs(x)"), "Mine"))
    assert before != after


def test_built_in_components_have_no_fingerprint():
    """xaibench's own code is covered by its version: the keys of their cells do not change."""
    for name in ["saliency", "occlusion", "random"]:
        assert component_fingerprint(xb.methods.cls(name)) is None
    for name in ["deletion", "road"]:
        assert component_fingerprint(xb.metrics.cls(name)) is None


@pytest.mark.slow
def test_a_changed_user_method_is_computed_again(tmp_path, capsys):
    """The issue's case: a user method changed from abs(x) to -abs(x) and run again into the same
    run directory got every old cell back (deletion 0.2742 instead of 0.9135)."""
    cfg = write_config(tmp_path / "c.toml", ["test_changing"], ["deletion"])
    out = tmp_path / "run"
    args = ["run", "--config", str(cfg), "--out", str(out), "--no-progress"]
    scores, printed = [], []
    for body in ["np.abs(x)", "-np.abs(x)", "np.abs(x)"]:
        method = user_code(f"import numpy as np\ndef mine(model, x, y):\n    return {body}\n")
        xb.methods.register("test_changing", replace=True)(method)
        assert main(args) == 0
        scores.append(stored_mean(out))
        printed.append(capsys.readouterr().out)
    assert "1 computed, 0 reused" in printed[1]  # the change was computed
    assert scores[0] != pytest.approx(scores[1], abs=0.05)
    assert "0 computed, 1 reused" in printed[2]  # back to the first code: its cells, reused
    assert scores[2] == scores[0]


def stored_mean(out) -> float:
    with sqlite3.connect(out / "results.sqlite") as db:
        run = db.execute("SELECT max(id) FROM runs").fetchone()[0]
        frame = pd.read_sql_query(
            "SELECT s.score FROM scores s JOIN run_cells r ON r.cell = s.cell WHERE r.run_id = ?",
            db,
            params=(run,),
        )
    return float(frame.score.mean())
