"""PyTorch models in runs: named in a config as ``torch:<module>:<factory>[@<state_dict>]``,
in the same run as a Keras zoo model (one verdict), resumed, on the Dask executor (the factory
and the state_dict travel, not a pickle), and bad specs as exit 2 with one line, nothing left."""

from __future__ import annotations

import os
import sys
import textwrap

import _runs
import pandas as pd
import pytest
import torch
from _tolerance import assert_scores_close

from xaibench.cli import main

pytestmark = pytest.mark.slow

NETS = """
import torch
from torch import nn


def build():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 10),
    )


def five_classes():
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 5))


def broken():
    raise RuntimeError("no GPU here")
"""


@pytest.fixture(scope="module")
def nets(tmp_path_factory):
    """A module ``xbtorchnets`` importable by the run and by Dask workers (PYTHONPATH), and a
    state_dict of its ``build()``."""
    folder = tmp_path_factory.mktemp("nets")
    (folder / "xbtorchnets.py").write_text(textwrap.dedent(NETS))
    sys.path.insert(0, str(folder))
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(folder), old]))
    import xbtorchnets

    net = xbtorchnets.build()
    with torch.no_grad():
        net[-1].bias.copy_(torch.arange(10.0) / 10)  # not the factory's own weights
    torch.save(net.state_dict(), folder / "net.pt")
    torch.save(net, folder / "pickled.pt")  # a whole module: refused
    yield folder
    sys.path.remove(str(folder))
    os.environ.pop("PYTHONPATH") if old is None else os.environ.update(PYTHONPATH=old)


METHODS = ["saliency", "grad_cam", "random"]
METRICS = ["deletion", "model_randomisation", "sparseness"]


def test_a_mixed_keras_and_torch_run_writes_one_verdict_resumes_and_runs_on_dask(
    nets, tmp_path, capsys
):
    spec = f"torch:xbtorchnets:build@{nets / 'net.pt'}"
    cfg = _runs.write_config(
        tmp_path / "c.toml", METHODS, METRICS, models=("linear", spec), samples=4
    )
    args = ["run", "--config", str(cfg), "--no-progress"]
    local = tmp_path / "local"
    assert main([*args, "--out", str(local)]) == 0
    cells = pd.read_csv(local / "leaderboard.csv")
    assert set(cells.model) == {"linear", "net"}
    torch_cells = cells[cells.model == "net"]
    assert len(torch_cells) == 9 and torch_cells["mean"].notna().all()  # grad_cam applies
    verdict = pd.read_csv(local / "verdict.csv")
    assert {"linear", "net", "*"} <= set(verdict.model)
    capsys.readouterr()
    assert main([*args, "--out", str(local)]) == 0  # resumed: nothing computed again
    assert "0 computed" in capsys.readouterr().out
    pytest.importorskip("distributed")
    dask = tmp_path / "dask"
    assert main([*args, "--out", str(dask), "--executor", "dask", "--workers", "1"]) == 0
    board = pd.read_csv(dask / "leaderboard.csv")
    assert list(board.model) == list(cells.model) and list(board.method) == list(cells.method)
    assert_scores_close(board["mean"], cells["mean"])


@pytest.mark.parametrize(
    "model, message",
    [
        ("torch:nosuchmodule:build", "cannot import module 'nosuchmodule'"),
        ("torch:xbtorchnets:nothing", "has no function 'nothing'"),
        ("torch:xbtorchnets:broken", "the factory raised RuntimeError: no GPU here"),
        ("torch:xbtorchnets:five_classes", "scores 5 classes, but dataset 'digits' has 10"),
        ("torch:xbtorchnets:five_classes@{nets}/net.pt", "does not fit the factory's model"),
        ("torch:xbtorchnets:build@{nets}/pickled.pt", "weights_only=True (a pickled module"),
        ("torch:xbtorchnets:build@{nets}/missing.pt", "does not exist"),
        ("torch:xbtorchnets", "'torch:<module>:<factory>'"),
    ],
)
def test_bad_torch_models_exit_2_with_one_line(nets, tmp_path, capsys, model, message):
    cfg = _runs.write_config(
        tmp_path / "c.toml", ["saliency"], ["deletion"], models=(model.format(nets=nets),)
    )
    out = tmp_path / "out"
    assert main(["run", "--config", str(cfg), "--out", str(out), "--no-progress"]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(errors) == 1 and errors[0].startswith("xaibench: error: ") and message in errors[0]
    assert not out.exists()


def test_a_factory_without_weights_is_evaluated_with_a_warning(nets, tmp_path):
    from xaibench.datasets import load
    from xaibench.models.training import load_file

    with pytest.warns(UserWarning, match="no state_dict file: evaluating the weights"):
        trained = load_file("torch:xbtorchnets:build", load("digits"))
    assert trained.settings["framework"] == "torch" and trained.name == "build"
    assert trained.params == sum(p.numel() for p in trained.model.parameters())
