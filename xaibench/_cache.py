"""Where trained models are kept and what the cache holds, read without TensorFlow (so that
``xaibench list models`` stays fast); ``models.training`` writes and loads the models."""

from __future__ import annotations

import json
import os
from pathlib import Path


def cache_dir() -> Path:
    """Where trained models are kept: ``$XAIBENCH_CACHE`` or ``~/.cache/xaibench``."""
    return Path(os.environ.get("XAIBENCH_CACHE") or Path.home() / ".cache" / "xaibench")


def cached_models(zoo_version: int) -> list[dict]:
    """What the cache holds for ``zoo_version``: the metadata of each trained model whose file is
    there (model, dataset, seed, accuracy, params, ...)."""
    found = []
    for meta_path in sorted((cache_dir() / "models").glob(f"*-zoo{zoo_version}.json")):
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError):
            continue
        complete = meta_path.with_suffix(".keras").exists()
        if complete and {"model", "dataset", "accuracy"} <= set(meta):
            found.append(meta)
    return found
