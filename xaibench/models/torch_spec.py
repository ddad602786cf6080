"""PyTorch models named in configs: ``"torch:<module>:<factory>"`` or
``"torch:<module>:<factory>@<state_dict file>"``.

The factory is a function of an importable module returning a ``torch.nn.Module`` (called with
no arguments); the file, when given, is a state_dict saved with ``torch.save(net.state_dict(),
path)`` and read with ``torch.load(..., weights_only=True)``: a pickled module is refused, never
unpickled. Without a file the model is evaluated with the weights the factory gives it (it may
load them itself); a run warns about that, since a factory's fresh weights are untrained.

A model travels to Dask workers as its factory reference and its state_dict (``to_bytes`` /
``from_bytes``), never as a pickle. Importing this module does not import torch.
"""

from __future__ import annotations

import importlib
import io
import json
import re
import warnings
import weakref
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from xaibench._fingerprint import code_fingerprint

PREFIX = "torch:"
HINT = 'PyTorch is not installed: pip install "xaibench[torch]"'
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
MAGIC = b"XAIBENCH-TORCH-1\n"  # what ``to_bytes`` writes first


def is_torch_spec(spec: str) -> bool:
    return isinstance(spec, str) and spec.startswith(PREFIX)


@dataclass(frozen=True)
class TorchSpec:
    """A parsed ``torch:<module>:<factory>[@<file>]``."""

    module: str
    factory: str
    file: str | None = None

    @classmethod
    def parse(cls, spec: str) -> TorchSpec:
        """ValueError naming the expected form when ``spec`` is malformed, or its file is
        missing."""
        body, _, file = spec[len(PREFIX) :].partition("@")
        module, _, factory = body.partition(":")
        if not (_NAME.match(module) and _NAME.match(factory) and "." not in factory):
            raise ValueError(
                f"model {spec!r}: a PyTorch model is named 'torch:<module>:<factory>' or "
                "'torch:<module>:<factory>@<state_dict file>' (e.g. 'torch:my_pkg.nets:build@net.pt')"
            )
        if "@" in spec and not file:
            raise ValueError(f"model {spec!r}: no state_dict file after '@'")
        if file and not Path(file).is_file():
            raise ValueError(f"model {spec!r}: state_dict file {file!r} does not exist")
        return cls(module, factory, file or None)

    @property
    def reference(self) -> str:
        return f"{self.module}:{self.factory}"

    @property
    def name(self) -> str:
        """How results name the model: the file's stem, else the factory's name."""
        return Path(self.file).stem if self.file else self.factory


def _torch():
    try:
        import torch
    except ImportError as err:
        raise ValueError(HINT) from err
    return torch


def _factory(ref: TorchSpec, spec: str):
    try:
        module = importlib.import_module(ref.module)
    except ImportError as err:
        raise ValueError(f"model {spec!r}: cannot import module {ref.module!r}: {err}") from err
    factory = getattr(module, ref.factory, None)
    if not callable(factory):
        raise ValueError(f"model {spec!r}: module {ref.module!r} has no function {ref.factory!r}")
    return factory


def build(ref: TorchSpec, spec: str, state_dict: dict | None = None):
    """The factory's module, with ``state_dict`` (else ``ref.file``'s) loaded; ValueError naming
    the spec and the problem."""
    torch = _torch()
    factory = _factory(ref, spec)
    try:
        net = factory()
    except Exception as err:  # noqa: BLE001 - a user's factory: say what it raised
        raise ValueError(f"model {spec!r}: the factory raised {type(err).__name__}: {err}") from err
    if not isinstance(net, torch.nn.Module):
        raise ValueError(
            f"model {spec!r}: the factory returned a {type(net).__name__}, not a torch.nn.Module"
        )
    if state_dict is None and ref.file:
        state_dict = _read_state_dict(ref.file, spec)
    if state_dict is not None:
        try:
            net.load_state_dict(state_dict)
        except (RuntimeError, TypeError, ValueError) as err:
            first = str(err).strip().splitlines()
            raise ValueError(
                f"model {spec!r}: the state_dict does not fit the factory's model: "
                f"{' '.join(line.strip() for line in first[:3])}"
            ) from err
    _SOURCES[net] = ref
    return net.eval()


def _read_state_dict(file, spec: str, data: bytes | None = None) -> dict:
    torch = _torch()
    try:
        state = torch.load(
            io.BytesIO(data) if data else file, map_location="cpu", weights_only=True
        )
    except Exception as err:  # noqa: BLE001 - what torch.load raises on a file it refuses
        raise ValueError(
            f"model {spec!r}: {str(file)!r} is not a state_dict torch.load can read with "
            f"weights_only=True (a pickled module is refused: save net.state_dict() instead): "
            f"{type(err).__name__}: {str(err).strip().splitlines()[0] if str(err).strip() else ''}"
        ) from err
    if not isinstance(state, dict):
        raise ValueError(
            f"model {spec!r}: {str(file)!r} holds a {type(state).__name__}, not a state_dict "
            "(save net.state_dict())"
        )
    return state


# The factory reference of every module ``build`` made (weak keys: nothing written on a module).
_SOURCES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def load(spec: str, data):
    """The ``TrainedModel`` of a torch spec on dataset ``data``: built, checked (its input shape
    and class count on ``data``), its accuracy on the test split and its settings (framework,
    factory, file, the factory's code and the weights' hash). Warns when no state_dict file is
    given (the factory's weights are evaluated as they are)."""
    from xaibench.models.batching import model_batch
    from xaibench.models.outputs import n_classes
    from xaibench.models.protocol import adapt
    from xaibench.models.training import TrainedModel

    ref = TorchSpec.parse(spec)
    net = build(ref, spec)
    try:
        classes = n_classes(net, data.x_test[:1])
    except Exception as err:  # noqa: BLE001 - the user's model cannot run on the dataset
        raise ValueError(
            f"model {spec!r} cannot score dataset {data.name!r} (inputs of shape "
            f"{tuple(data.input_shape)}, channels last): {type(err).__name__}: "
            f"{str(err).strip().splitlines()[0] if str(err).strip() else ''}"
        ) from err
    if classes != data.n_classes:
        raise ValueError(
            f"model {spec!r} scores {classes} classes, but dataset {data.name!r} has "
            f"{data.n_classes}"
        )
    forward, x = adapt(net).forward_fn("raw"), data.x_test
    batch = model_batch("auto", net, x.shape[1:], gradient=False)
    predicted = [forward(x[i : i + batch]).argmax(axis=1) for i in range(0, len(x), batch)]
    accuracy = float((np.concatenate(predicted) == data.y_test).mean())
    if ref.file is None:
        warnings.warn(
            f"model {spec!r} has no state_dict file: evaluating the weights its factory returns "
            f"(test accuracy {accuracy:.3f} on {data.name!r}; chance is about "
            f"{1 / data.n_classes:.3f}); name trained weights as {spec}@<file>",
            UserWarning,
            stacklevel=2,
        )
    adapter = adapt(net)
    settings = {
        "model": ref.name,
        "framework": "torch",
        "factory": ref.reference,
        "code": code_fingerprint(_factory(ref, spec)),
        **({"file": str(Path(ref.file).resolve())} if ref.file else {}),
        "dataset": data.name,
        "weights": adapter.weights_hash(),
    }
    return TrainedModel(net, ref.name, data.name, accuracy, adapter.count_params(), settings)


def to_bytes(net) -> bytes:
    """``net`` as its factory reference and its state_dict (``torch.save``), for a Dask worker;
    ValueError when ``net`` was not built from a factory (``build``)."""
    ref = _SOURCES.get(net)
    if ref is None:
        raise ValueError(
            "a PyTorch model travels to Dask workers as its factory and state_dict: name it in "
            "the config as 'torch:<module>:<factory>[@<file>]'"
        )
    buffer = io.BytesIO()
    _torch().save(net.state_dict(), buffer)
    header = json.dumps({"module": ref.module, "factory": ref.factory}).encode()
    return MAGIC + header + b"\n" + buffer.getvalue()


def from_bytes(blob: bytes):
    """The module ``to_bytes`` wrote: the factory called again, the state_dict loaded with
    ``weights_only=True``."""
    header, _, state = blob[len(MAGIC) :].partition(b"\n")
    ref = TorchSpec(**json.loads(header))
    spec = f"{PREFIX}{ref.reference}"
    return build(ref, spec, _read_state_dict("<sent by the run>", spec, state))
