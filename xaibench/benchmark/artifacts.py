"""What a run keeps for its report besides the scores: the gallery's inputs and attributions and
the model inspection (first layer), each an artifact of the store under a key that hashes what
it was computed from."""

from __future__ import annotations

import numpy as np

from xaibench._version import __version__
from xaibench.models.inspect import first_layer_view
from xaibench.store import Store, settings_key

# Samples per (dataset, model) kept for the report's saliency gallery.
GALLERY = 4


def gallery_index(y: np.ndarray, k: int = GALLERY) -> np.ndarray:
    """Up to ``k`` positions into ``y`` for the gallery: the first sample of each class in turn,
    then the next samples, so the gallery shows as many classes as it can."""
    _, first = np.unique(y, return_index=True)
    chosen = list(np.sort(first)[:k])
    rest = [i for i in range(len(y)) if i not in chosen]
    return np.sort(np.array(chosen + rest[: k - len(chosen)], dtype=int))


class Keys:
    """The artifact keys of one (dataset, model) ``pair`` keyed by ``model_settings``, with the
    code fingerprints of ``plan`` (``Plan.code_settings``)."""

    def __init__(self, plan, pair, model_settings: dict):
        self.plan, self.pair, self.model_settings = plan, pair, model_settings

    def key(self, kind: str, method=None) -> str:
        config = method.get_config() if method is not None else None
        return settings_key(
            {
                "artifact": kind,
                "data": self.pair.data_settings,
                "model": self.model_settings,
                "method": config,
                "gallery": GALLERY,
                "version": __version__,
                **(self.plan.code_settings(method=method) if method is not None else {}),
            }
        )

    def model(self) -> dict[str, str]:
        """The keys of the report's artifacts of the pair's model: the gallery's inputs, and the
        model inspection (image data only)."""
        kinds = ("inputs", "inspection") if self.pair.data.kind == "image" else ("inputs",)
        return {k: self.key(k) for k in kinds}

    def gallery(self, method) -> str:
        return self.key("gallery", method)


class Keeper:
    """Writes a run's artifacts to ``store`` (linked to run ``run_id``), counting them in
    ``result.artifacts``; an artifact already stored is linked, not computed again."""

    def __init__(self, store: Store, run_id: int | None, result):
        self.store, self.run_id, self.result = store, run_id, result

    def keep(self, key, kind, dataset, model, arrays, method=None) -> None:
        self.store.put_artifact(
            key,
            run_id=self.run_id,
            dataset=dataset,
            model=model,
            method=method,
            kind=kind,
            arrays=arrays,
        )
        self.result.artifacts += 1

    def model_artifacts(self, keys: Keys) -> None:
        """The gallery's inputs and the model inspection (first layer) for the report."""
        pair = keys.pair
        trained, data, x, y = pair.trained, pair.data, pair.x, pair.y
        g = gallery_index(y)
        wanted = keys.model()
        if not self.store.reuse_artifact(self.run_id, wanted["inputs"]):
            arrays = {"x": x[g], "y": y[g], "class_names": np.array(data.class_names, str)}
            if getattr(data, "feature_names", None) is not None:
                arrays["feature_names"] = np.array(data.feature_names, str)
            self.keep(wanted["inputs"], "inputs", data.name, pair.arch, arrays)
        key = wanted.get("inspection")
        if key is None or self.store.reuse_artifact(self.run_id, key):
            return
        view = first_layer_view(trained.model, x[g[:1]])
        if view is not None:
            arrays = {"x": x[g[0]], **view, "layer": np.array(view["layer"])}
            self.keep(key, "inspection", data.name, pair.arch, arrays)

    def gallery(self, key, trained, method, x, y, a) -> None:
        """Keep the gallery samples' attributions of ``method``: from ``a`` when the run has just
        computed them, else (its cells all reused from an earlier version) explained afresh."""
        if self.store.reuse_artifact(self.run_id, key):
            return
        g = gallery_index(y)
        if a is None and method.applicable(trained.model, x) is not None:
            return
        try:
            a = method(trained.model, x[g], y[g]) if a is None else a[g]
        except Exception:  # noqa: BLE001 - the gallery is illustration; the cells hold the errors
            return
        arrays = {"attributions": np.asarray(a, dtype=np.float32)}
        self.keep(key, "gallery", trained.dataset, trained.name, arrays, method=method.name)
