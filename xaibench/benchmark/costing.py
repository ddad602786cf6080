"""The cost of a planned run, estimated before anything is computed: each pair's model is probed
(loaded from the cache, or built untrained when the run would train it) and timed, each of its
methods timed on the run's samples, and every cell still to compute is costed from what its
method and metric declare (``cost``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from xaibench.benchmark import cost, meta
from xaibench.benchmark.plan import Cell, Pair, Plan
from xaibench.models import training


@dataclass
class Share:
    """Cells of one method that share their explanation: the run's metric cells (its sweep
    variants too), or the meta-evaluation cells of one perturbation (``perturbation``; see
    ``cost.task_estimates`` for how each is costed)."""

    cells: list[Cell]
    perturbation: meta.Perturbation | None = None

    def estimates(
        self, names, method, x, model, timing, why: str, *, method_seconds: float | None = None
    ) -> list[cost.CellEstimate]:
        """The cells' estimates (of unknown cost, for ``why``, without a ``timing``);
        ``method_seconds``: the method's measured seconds per sample, if timed."""
        variants = [c.ids.get("variant") for c in self.cells]
        if timing is None:
            return [
                cost.CellEstimate(*names, method.name, c.metric.name, None, why, v)
                for c, v in zip(self.cells, variants, strict=True)
            ]
        p, task = self.perturbation, {}  # the run's cells: every sample, explained
        if p is not None:  # a perturbation's: on its samples, as its test explains them
            n = len(p.positions)
            task = {
                "samples": n,
                "explain": p.test == "model" or (p.test == "reference" and n < len(x)),
                "forward": 0.0 if p.test == "reference" else 1.0,
            }
        metrics = [c.metric for c in self.cells]
        return cost.task_estimates(
            names,
            method,
            metrics,
            x,
            model,
            timing,
            variants=variants,
            method_seconds=method_seconds,
            **task,
        )


def shares(cells: list[Cell]) -> list[Share]:
    """``cells`` (one method's) by what they share: the metric cells, then each perturbation's."""
    out = (
        [Share([c for c in cells if c.meta is None])] if any(c.meta is None for c in cells) else []
    )
    extra = [(c.meta, c) for c in cells if c.meta is not None]
    for p, indices in meta.by_perturbation(extra):
        out.append(Share([extra[i][1] for i in indices], p))
    return out


class _Untrained(Exception):
    """Raised through ``load_or_train``'s log when the model is not cached (it would train)."""


def _cached_only(message: str) -> None:
    if message.startswith("training "):  # load_or_train is about to train (see probe_model)
        raise _Untrained


class Costing:
    """Estimates the cells of ``plan`` still to compute; ``stage(text, pair)`` says what it is
    doing (the run's progress bar)."""

    def __init__(self, plan: Plan, stage: Callable[[str, Pair], None]):
        self.plan, self.stage = plan, stage

    def estimate(
        self, pairs: list[Pair], parallel: int = 1, speedup: float | None = None
    ) -> cost.Estimate:
        """The cost of the cells still to compute (``Plan.plan`` first), on ``parallel``
        processes ``speedup`` times as fast as one (``cost.Estimate``)."""
        estimate = cost.Estimate(parallel=parallel, speedup=speedup)
        for pair in pairs:
            if pair.planned:
                self.estimate_pair(pair, estimate)
        return estimate

    def estimate_pair(self, pair: Pair, estimate: cost.Estimate) -> None:
        """Add ``pair``'s cells to compute (and its training) to ``estimate``, from a probe of its
        model (``probe_model``) and what its methods and metrics declare."""
        plan = self.plan
        where = f"{pair.arch} on {pair.data.name}"
        self.stage(f"estimating the cost: loading {where}", pair)
        model, untrained = self.probe_model(pair)
        if pair.trained is not None:  # the cells' keys are known: those still to compute
            groups = plan.pending(pair, plan.cells(pair, pair.trained.settings, pair.trained.key))
        else:  # every cell that applies (their keys are known once the model is trained)
            groups = [
                (method, [c for c in cells if plan.scores(pair, c.metric)])
                for method, cells in plan.cells(pair, {})
                if plan.applies(pair, method)
            ]
        tasks = [(method, shares(cells)) for method, cells in groups if cells]
        names = (pair.data.name, pair.arch)
        timing, why = None, "its model could not be had to time it"
        if model is not None:
            self.stage(f"estimating the cost: timing {where}", pair)
            impute = any(
                cost.needs_imputation(m, [c.metric for s in ss for c in s.cells], pair.x, model)
                for m, ss in tasks
            )
            try:
                timing = cost.probe(model, pair.x, pair.y, imputation=impute)
            except Exception as err:  # noqa: BLE001 - the cells say why their cost is unknown
                why = f"its model could not be timed: {type(err).__name__}: {err}"
        for method, share_list in tasks:
            seconds = None
            if timing is not None:
                self.stage(f"estimating the cost: timing {method.name} on {where}", pair)
                seconds = cost.method_seconds(method, model, pair.x, pair.y, timing)
            for share in share_list:
                estimate.cells += share.estimates(
                    names, method, pair.x, model, timing, why, method_seconds=seconds
                )
        if untrained is not None:
            name = "/".join(names)
            estimate.training[name] = self.training_estimate(pair, model, untrained)
            if getattr(untrained, "epochs_budget", False):  # every epoch runs
                estimate.training_share[name] = 1.0

    def training_estimate(self, pair: Pair, model, spec) -> float | None:
        """The longest training of ``pair``'s model (architecture ``spec``, built untrained as
        ``model``), from a training step timed on it; None when it cannot be timed."""
        self.stage(f"estimating the cost: timing the training of {pair.arch}", pair)
        try:
            timing = cost.probe_training(spec, model, pair.x, pair.y)
        except Exception:  # noqa: BLE001 - the training's time is then unknown (and said so)
            return None
        return cost.training_seconds(spec.max_epochs, len(pair.data.x_train), timing)

    def probe_model(self, pair: Pair) -> tuple[object, object]:
        """``(model, architecture)``: the model to time for ``pair``, its file's or the cached
        model (loaded now and kept for the run; architecture None), else its architecture built
        untrained and that architecture (the run trains it); ``(None, None)`` when neither can
        be had (the run records why when it loads the model). ValueError from the
        architecture's ``check_training`` when the run could not train it."""
        if pair.trained is None:
            try:
                pair.trained = training.load_or_train(
                    pair.architecture, pair.data, log=_cached_only
                )
            except Exception:  # noqa: BLE001 - _Untrained, or an error recorded by the run's load
                pass
        if pair.trained is not None:
            return pair.trained.model, None
        spec = pair.architecture
        try:
            # the run would train it: what cannot be trained (ImageNet weights missing from
            # Keras's cache, a network too large to train from scratch) is the user's error,
            # said now (its ValueError propagates)
            spec.check_training(tuple(pair.data.input_shape))
        except ValueError:
            raise
        except Exception:  # noqa: BLE001 - a user's check that fails: the load records it
            return None, None
        try:
            return spec.build(pair.data.input_shape, pair.data.n_classes, 0), spec
        except Exception:  # noqa: BLE001 - a user's architecture: its cost is unknown
            return None, None
