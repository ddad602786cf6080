"""torch before TensorFlow: a CUDA build of torch loads Triton (through torch's compiler, which
torchvision imports) and Triton's native module crashes the process when TensorFlow's was loaded
first (a segmentation fault, seen with torch 2.14.1+cu130 and torchvision 0.29.1). The CPU build
these tests run on has no Triton, so the crash itself cannot happen here: what is tested is the
order the run's process and its workers import in, and when the CLI decides to."""

import subprocess
import sys
import textwrap
from argparse import Namespace

from xaibench.cli import _uses_torch


def _python(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_torch_is_loaded_before_tensorflow_and_never_after_it():
    first = _python(
        """
        import sys
        from xaibench._system import torch_before_tensorflow
        print(torch_before_tensorflow(), "torch" in sys.modules, "tensorflow" in sys.modules)
        """
    )
    assert first == "True True False"
    late = _python(
        """
        import sys
        import tensorflow
        from xaibench._system import torch_before_tensorflow
        print(torch_before_tensorflow(), "torch" in sys.modules)
        """
    )
    assert late == "False False"  # too late: importing it now is what crashes


def _args(**kw):
    return Namespace(**({"models": None, "config": None, "imports": []} | kw))


def test_the_cli_loads_torch_first_when_the_run_may_use_it(tmp_path, monkeypatch):
    plain = tmp_path / "plain.toml"
    plain.write_text('datasets = ["digits"]\nmodels = ["linear"]\n')
    assert not _uses_torch(_args(config=str(plain)))
    assert not _uses_torch(_args(models="linear,cnn"))
    assert _uses_torch(_args(models="torch:nets:build@net.pt"))
    spec = tmp_path / "mine.toml"
    spec.write_text('models = ["torch:nets:build@net.pt"]\n')
    assert _uses_torch(_args(config=str(spec)))
    (tmp_path / "my_plugin.py").write_text("import torchvision\n")  # a plugin's own torch
    (tmp_path / "other_plugin.py").write_text("import numpy\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert _uses_torch(_args(imports=["my_plugin"]))
    assert not _uses_torch(_args(imports=["other_plugin", "no_such_module_here"]))
    assert not _uses_torch(_args(config=str(tmp_path / "missing.toml")))  # said by the load


def test_worker_processes_load_torch_first_when_the_run_has_it():
    """The run's process has torch loaded (its models): its workers are told to load it first,
    and a worker told so has torch in its modules before TensorFlow."""
    import torch  # noqa: F401 - what the run's process has when it holds torch models

    from xaibench.benchmark import processes

    started = []

    class Context:  # records the worker's process instead of starting it
        def Pipe(self):
            return None, Namespace(close=lambda: None)

        def Process(self, *, target, args, name, daemon):
            started.append((target, args))
            return Namespace(start=lambda: None)

    processes._Worker(Context(), 1)
    assert started == [(processes._serve, (started[0][1][0], 1, True))]
    order = _python(
        """
        import sys
        from xaibench._system import torch_before_tensorflow
        torch_before_tensorflow()  # what _serve does first when told
        from xaibench._tf import tf
        names = list(sys.modules)
        print(names.index("torch") < names.index("tensorflow"))
        """
    )
    assert order == "True"
