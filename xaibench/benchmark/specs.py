"""Dataset and model specs in a run config: what a name is (a built-in, an ``.npz`` file, an
image folder, a ``.keras`` file), how the results name it, and the checks of the names a config
lists (each a ValueError of one short line naming them)."""

from __future__ import annotations

import difflib
from collections import Counter
from pathlib import Path

from xaibench import datasets as _datasets
from xaibench import models as _models
from xaibench._checks import listing, shown
from xaibench.datasets.user import FOLDER_SETTINGS, folder_settings
from xaibench.models import torch_spec

# Names an error message lists at most (``_checks.listing``: "... and N more").
NAMES_SHOWN = 20


def is_model_file(spec: str) -> bool:
    """A model given as a saved Keras file or a PyTorch factory (``"torch:<module>:<factory>
    [@<state_dict file>]"``) rather than a zoo architecture."""
    return spec.endswith(".keras") or torch_spec.is_torch_spec(spec)


def is_dataset_path(spec: str) -> bool:
    """A dataset given as an ``.npz`` file or a folder of class subfolders of images."""
    return spec.endswith(".npz") or "/" in spec or Path(spec).is_dir()


def is_image_folder(spec: str) -> bool:
    """A dataset given as a folder of class subfolders of images."""
    return is_dataset_path(spec) and not spec.endswith(".npz")


def display_name(spec: str) -> str:
    """How a dataset or model spec is named in results: built-in names as they are, files by
    their stem (``models/my_cnn.keras`` -> ``my_cnn``), folders by their name (``photos/`` ->
    ``photos``, as ``datasets.from_folder`` names them), PyTorch models by their state_dict
    file's stem, else their factory's name (``torch:nets:build@r18.pt`` -> ``r18``)."""
    if torch_spec.is_torch_spec(spec):
        return torch_spec.TorchSpec.parse(spec).name
    if is_model_file(spec) or spec.endswith(".npz"):
        return Path(spec).stem
    if is_dataset_path(spec):
        return Path(spec).resolve().name
    return spec


def check_folder_params(name: str, params) -> None:
    """``[params."<folder>/"]``: a table of an image folder's settings (``datasets.from_folder``:
    ``image_size``, ``color_mode``)."""
    if not isinstance(params, dict):
        raise ValueError(f'[params."{name}"] must be a table of settings, got {shown(params)}')
    unknown = sorted(set(params) - set(FOLDER_SETTINGS))
    if unknown:
        raise ValueError(
            f'[params."{name}"]: unknown setting {listing(map(repr, unknown))} of an image '
            f"folder; valid settings: {', '.join(FOLDER_SETTINGS)}"
        )
    try:
        folder_settings(**params)
    except ValueError as err:
        raise ValueError(f'[params."{name}"]: {err}') from None


def same_path(a: str, b: str) -> bool:
    return Path(a).resolve() == Path(b).resolve()


def check_imports(modules, where: str = "imports") -> tuple[str, ...]:
    """``modules`` as a tuple of distinct module names (``my_package.methods``); ValueError naming
    the first that is not one (``where``: how the message names the list)."""
    if isinstance(modules, str) or not isinstance(modules, list | tuple):
        raise ValueError(f"{where} must be a list of module names, got {shown(modules)}")
    for name in modules:
        if not isinstance(name, str) or not all(p.isidentifier() for p in name.split(".")):
            raise ValueError(
                f"{where}: {shown(name)} is not a module name (dotted Python identifiers, "
                "like my_package.methods)"
            )
    twice = [name for name, n in Counter(modules).items() if n > 1]
    if twice:
        raise ValueError(f"{where} lists a module twice: {listing(map(repr, twice))}")
    return tuple(modules)


def check_list(key: str, names) -> None:
    """``names`` (the value of ``key``) is a non-empty list of distinct, non-empty names."""
    if isinstance(names, str) or not isinstance(names, list | tuple):
        raise ValueError(f"{key} must be a list of names, got {shown(names)}")
    if not names:
        raise ValueError(f"{key} is empty: list at least one")
    for name in names:
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"{key}: {shown(name)} is not a name")
    twice = [name for name, n in Counter(names).items() if n > 1]
    if twice:
        raise ValueError(f"{key} lists a name twice: {listing(map(repr, twice))}")


def check_alike(key: str, specs, where: str, fix: str) -> None:
    """ValueError naming two of ``specs`` (the ``key`` list, ``where``) that results would name
    alike (``display_name``), and how to tell them apart (``fix``)."""
    seen: dict[str, str] = {}
    for spec in specs:
        name = display_name(spec)
        if name in seen:
            raise ValueError(
                f"{key} {seen[name]!r} and {spec!r}{where} would both be named {name!r} in the "
                f"results (a file or folder is named by its name without suffix): {fix}, or "
                "leave one out"
            )
        seen[name] = spec


def check_names(
    kind: str, names, valid: list[str], missing: dict | None = None, alternative: str = ""
) -> None:
    """One ValueError naming every name of ``names`` not in ``valid``, each with its close
    matches, then the valid names (and ``alternative``: what else a name may be). A name in
    ``missing`` (known but not installed here) is reported with how to get it."""
    for name in names:
        if missing and name in missing:
            raise ValueError(f"{kind} {name!r} is not available here: {missing[name]}")
    unknown = [name for name in names if name not in valid]
    if not unknown:
        return
    parts = []
    for name in unknown[:NAMES_SHOWN]:  # the close matches of the names shown
        close = difflib.get_close_matches(name, valid, n=3)
        hint = f" (did you mean {', '.join(map(repr, close))}?)" if close else ""
        parts.append(f"{shown(name)}{hint}")
    parts += unknown[NAMES_SHOWN:]  # counted by listing
    plural = "s" if len(unknown) > 1 else ""
    raise ValueError(
        f"unknown {kind}{plural} {listing(parts, NAMES_SHOWN)}; valid {kind}s: "
        f"{listing(valid, 60)}{alternative}"
    )


def check_datasets(specs) -> None:
    for spec in specs:
        if is_dataset_path(spec) and not Path(spec).exists():
            raise ValueError(f"dataset {spec!r}: no such file or folder")
    extras = _datasets.extras()
    check_names(
        "dataset",
        [s for s in specs if not is_dataset_path(s)],
        _datasets.names() + extras,
        alternative=" or an .npz file or a folder of class subfolders",
    )


def check_models(specs) -> None:
    for spec in specs:
        if torch_spec.is_torch_spec(spec):
            torch_spec.TorchSpec.parse(spec)  # the form and the file
        elif is_model_file(spec) and not Path(spec).is_file():
            raise ValueError(f"model file {spec!r} does not exist")
    check_names(
        "model",
        [s for s in specs if not is_model_file(s)],
        _models.names(),
        alternative=" or a path to a .keras file or 'torch:<module>:<factory>[@<state_dict>]'",
    )
