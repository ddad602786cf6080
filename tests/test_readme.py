"""The README's examples really run."""

import importlib.util
import re
import sys
from pathlib import Path

import numpy as np
import pytest

import xaibench as xb
from xaibench._tf import keras
from xaibench.benchmark.config import DEFAULT_BUDGETS, SUITES, load_config, tomllib

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
    from xaibench.store import Store

    (tmp_path / "results" / "quick").mkdir(parents=True)
    with Store(tmp_path / "results" / "quick" / "results.sqlite") as store:  # what it reads
        run = store.start_run({}, {}, "xaibench run")
        store.finish_run(run, "ok", peak_memory_mb=1369.0)
    namespace = {}
    for code in blocks("python"):
        if "import torch" in code and importlib.util.find_spec("torch") is None:
            continue  # "Your PyTorch model" needs the torch extra (CI has it)
        exec(compile(code, "README.md", "exec"), namespace)
    assert namespace["scores"].shape == (16,) and namespace["curves"].shape == (16, 21)
    assert "rank" in capsys.readouterr().out
    assert (tmp_path / "results" / "my_model" / "verdict.csv").stat().st_size > 0
    assert namespace["board"]["tie"].notna().all() and namespace["page"].exists()
    assert {"estimated_seconds", "peak_memory_mb"} <= set(namespace["cells"].columns)
    assert namespace["run"]["peak_memory_mb"] == 1369.0
    trust = namespace["trust"].set_index(["metric", "test"])
    assert trust.loc[("sanity_constant", "both"), "iac_ar"] == 0.0
    x = namespace["x"][:2]
    a = xb.methods.get("gradient_sign")(namespace["model"], x, [0, 1])
    assert set(np.unique(a)) <= {-1.0, 0.0, 1.0}
    q = xb.metrics.get("l1_mass")
    np.testing.assert_allclose(q(None, x, [0, 1], np.ones_like(x)), [64.0, 64.0])


def test_config_examples_are_valid(tmp_path):
    (entry_point,) = [b for b in blocks("toml") if "xaibench.plugins" in b]
    (torch_run,) = [b for b in blocks("toml") if "torch:my_pkg" in b]
    (torch_64,) = [b for b in blocks("toml") if "torch:nets64" in b]
    (trust,) = [b for b in blocks("toml") if "[sweep." in b]
    toml, more, model_params, photos, at_224 = [
        b for b in blocks("toml") if b not in (entry_point, torch_run, torch_64, trust)
    ]
    (tmp_path / "trust.toml").write_text('metrics = ["deletion", "sparseness"]\n' + trust)
    config = load_config(tmp_path / "trust.toml").validate()
    assert config.meta == {"iterations": 2, "perturbations": 1, "samples": 8}
    assert config.sweep == {"deletion": {"baseline": [0.0, "mean", "blur"], "steps": [10, 20]}}
    plugin = tomllib.loads(entry_point)["project"]["entry-points"]["xaibench.plugins"]
    assert plugin == {"my_plugin": "my_package.xaibench_plugin"}
    path = tmp_path / "my_run.toml"
    path.write_text(toml)
    config = load_config(path).validate()
    assert config.params["integrated_gradients"] == {"steps": 64}
    assert config.metrics == ("deletion", "insertion", "sparseness", "runtime")
    more = more.replace('imports = ["my_package.methods"]', 'imports = ["json"]')  # importable
    model = tmp_path / "models" / "my_cnn.keras"
    model.parent.mkdir()
    model.write_bytes(b"")  # only its existence is checked before the run
    standalone = 'datasets = ["digits", "breast_cancer"]\n' + more
    (tmp_path / "more.toml").write_text(standalone.replace("models/", f"{tmp_path}/models/"))
    config = load_config(tmp_path / "more.toml").validate()
    assert config.models[-1].endswith("my_cnn.keras")
    assert config.models_for("breast_cancer") == ("linear", "mlp")
    weights = tmp_path / "backbone.weights.h5"  # a MobileNetV2 backbone's file, as a user's
    keras.applications.MobileNetV2(
        include_top=False, weights=None, input_shape=(32, 32, 3), alpha=0.35
    ).save_weights(weights)
    (tmp_path / "m.toml").write_text(model_params.replace("backbone.weights.h5", str(weights)))
    config = load_config(tmp_path / "m.toml").validate()
    arch = config.architecture("mobilenet_v2")
    assert arch.params == {"weights": str(weights), "alpha": 0.35, "epochs": None}
    # your own image folder at your model's size
    for label in ("cat", "dog"):
        (tmp_path / "photos" / label).mkdir(parents=True)
    (tmp_path / "models" / "team_cnn.keras").write_bytes(b"")
    photos = photos.replace('"photos/', f'"{tmp_path}/photos/').replace(
        "models/", f"{tmp_path}/models/"
    )
    (tmp_path / "photos.toml").write_text(photos)
    config = load_config(tmp_path / "photos.toml").validate()
    assert config.image_settings(f"{tmp_path}/photos/", {}) == {
        "image_size": [64, 64],
        "color_mode": "rgb",
    }
    # your own model at 224x224: every image method and metric, the realistic suite's budgets
    for name in ("scenes224.npz", "mobilenet_v2_224.keras"):
        (tmp_path / name).write_bytes(b"")  # only their existence is checked before the run
    for name in ("scenes224", "mobilenet_v2_224"):
        at_224 = at_224.replace(f'"{name}', f'"{tmp_path}/{name}')
    (tmp_path / "mnv2.toml").write_text(at_224)
    config = load_config(tmp_path / "mnv2.toml").validate()
    # a PyTorch model beside a zoo model: the spec's form and its state_dict file are checked
    (tmp_path / "net.pt").write_bytes(b"")
    (tmp_path / "torch.toml").write_text(torch_run.replace("@net.pt", f"@{tmp_path}/net.pt"))
    mixed = load_config(tmp_path / "torch.toml").validate()
    assert mixed.models[-1] == f"torch:my_pkg.nets:build@{tmp_path}/net.pt"
    # a user's 64x64 torch CNN: its methods, every metric, the default suite's budgets
    for name in ("shapes64.npz", "cnn64.pt"):
        (tmp_path / name).write_bytes(b"")
    torch_64 = torch_64.replace('"shapes64', f'"{tmp_path}/shapes64').replace(
        "@cnn64", f"@{tmp_path}/cnn64"
    )
    (tmp_path / "cnn64.toml").write_text(torch_64)
    cnn64 = load_config(tmp_path / "cnn64.toml").validate()
    assert cnn64.params == {k: v for k, v in DEFAULT_BUDGETS.items() if k in cnn64.params}
    assert set(cnn64.params) == set(DEFAULT_BUDGETS) and cnn64.samples == 16
    realistic = SUITES["realistic"]
    assert set(config.methods) == set(realistic.methods)
    assert set(config.metrics) == set(realistic.metrics)
    assert config.params == {k: v for k, v in realistic.params.items() if k != "mobilenet_v2"}


def gate_section() -> str:
    return README.split("## Gate explainer quality in CI", 1)[1].split("\n## ", 1)[0]


def test_the_readme_pytest_gate_example_is_the_one_our_tests_run():
    (code,) = re.findall(r"```python\n(.*?)```", gate_section(), flags=re.S)
    example = Path(__file__).parent / "examples" / "test_gate_example.py"
    assert code == example.read_text()


@pytest.mark.slow
def test_the_github_actions_example_passes_and_catches_a_planted_regression(tmp_path):
    import shlex
    import subprocess

    import pandas as pd

    (workflow,) = re.findall(r"```yaml\n(.*?)```", gate_section(), flags=re.S)
    steps = [
        line.split("- run:", 1)[1].strip() for line in workflow.splitlines() if "- run:" in line
    ]
    assert steps[0] == "pip install ."  # installed already: the test runs the others
    (tmp_path / "my.toml").write_text(
        'samples = 12\ndatasets = ["digits"]\nmodels = ["linear"]\n'
        'methods = ["saliency", "random"]\nmetrics = ["deletion", "sparseness"]\n'
    )

    def sh(command):
        argv = shlex.split(command)
        if argv[0] == "xaibench":
            argv = [sys.executable, "-m", "xaibench.cli", *argv[1:]]
        return subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=600)

    # the baseline, made as the README says (with the CI job's config)
    made = sh("xaibench run --config my.toml --out results/reference --no-progress")
    assert made.returncode == 0, made.stderr[-2000:]
    (tmp_path / "results" / "baseline.csv").write_bytes(
        (tmp_path / "results" / "reference" / "leaderboard.csv").read_bytes()
    )
    for step in steps[1:]:
        done = sh(step)
        assert done.returncode == 0, (step, done.stdout[-2000:], done.stderr[-2000:])

    # a baseline in which saliency was far better on deletion: the same run now regressed
    baseline = pd.read_csv(tmp_path / "results" / "baseline.csv")
    row = (baseline.method == "saliency") & (baseline.metric == "deletion")
    baseline.loc[row, ["mean", "ci_low", "ci_high"]] = [0.01, 0.005, 0.015]
    baseline.to_csv(tmp_path / "results" / "baseline.csv", index=False)
    done = sh(steps[-1])
    assert done.returncode == 1 and "saliency" in done.stdout and "deletion" in done.stdout


def test_the_readme_reference_table_is_the_committed_reference_run():
    import pandas as pd

    from xaibench.results.tables import markdown_table, wide

    root = Path(__file__).resolve().parents[1]
    board = pd.read_csv(root / "results" / "reference" / "leaderboard.csv")
    metrics = README.split("## Reference run", 1)[1].split("\n## ", 1)[0]
    header = next(line for line in metrics.splitlines() if line.startswith("| method |"))
    names = [c.strip().rsplit(" ", 1)[0] for c in header.strip("|").split("|")[1:]]
    g = board[(board.dataset == "shapes") & (board.model == "cnn") & board.metric.isin(names)]
    table = markdown_table(*wide(g.assign(tie=g["tie"].fillna(""))))
    assert table in README, "refresh the README's reference table from results/reference"
    for png in re.findall(r"\]\((results/reference/plots/[^)]+\.png)\)", README):
        assert (root / png).stat().st_size > 1000


def test_the_docs_cite_only_what_exists():
    """Docstrings and comments that cite a README section name a heading of the README, and
    nothing cites a file the repository does not hold (the project's docs stand alone)."""
    root = Path(__file__).resolve().parents[1]
    headings = {h.strip() for h in re.findall(r"^#+ (.+)$", README, flags=re.M)}
    sources = {p: p.read_text() for p in (root / "xaibench").rglob("*.py")}
    cited = {
        (p.name, section)
        for p, text in sources.items()
        for section in re.findall(r"README(?:'s|,) ([A-Z]\w+)", text)
    }
    assert cited, "the pattern finds the citations"
    assert not {c for c in cited if not any(h.startswith(c[1]) for h in headings)}
    for p, text in sources.items():
        for name in re.findall(r"\b((?:\w+/)*[A-Z]+\.md)\b", text):  # docs: README.md, ...
            assert (p.parent / name).exists() or (root / name).exists(), (p, name)
