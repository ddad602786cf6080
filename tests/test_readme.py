"""The README's examples really run."""

import re
from pathlib import Path

import numpy as np
import pytest

import xaibench as xb
from xaibench.benchmark.config import load_config

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README, flags=re.S)


def test_quick_start_has_exactly_two_sh_blocks():
    section = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```sh\n(.*?)```", section, flags=re.S)
    assert len(commands) == 2
    assert "pip install ." in commands[0] and "xaibench run" in commands[0]
    assert ".[dev]" in commands[1] and "pytest" in commands[1]


@pytest.mark.slow
def test_python_examples_run(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace = {}
    for code in blocks("python"):
        exec(compile(code, "README.md", "exec"), namespace)
    assert namespace["scores"].shape == (16,) and namespace["curves"].shape == (16, 21)
    assert "rank" in capsys.readouterr().out
    x = namespace["x"][:2]
    a = xb.methods.get("gradient_sign")(namespace["model"], x, [0, 1])
    assert set(np.unique(a)) <= {-1.0, 0.0, 1.0}
    q = xb.metrics.get("l1_mass")
    np.testing.assert_allclose(q(None, x, [0, 1], np.ones_like(x)), [64.0, 64.0])


def test_config_examples_are_valid(tmp_path):
    toml, more = blocks("toml")
    path = tmp_path / "my_run.toml"
    path.write_text(toml)
    config = load_config(path).validate()
    assert config.params["integrated_gradients"] == {"steps": 64}
    assert config.metrics == ("deletion", "insertion", "sparseness", "runtime")
    model = tmp_path / "models" / "my_cnn.keras"
    model.parent.mkdir()
    model.write_bytes(b"")  # only its existence is checked before the run
    standalone = 'datasets = ["digits", "breast_cancer"]\n' + more
    (tmp_path / "more.toml").write_text(standalone.replace("models/", f"{tmp_path}/models/"))
    config = load_config(tmp_path / "more.toml").validate()
    assert config.models[-1].endswith("my_cnn.keras")
    assert config.models_for("breast_cancer") == ("linear", "mlp")
