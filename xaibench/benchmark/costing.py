"""The cost of a planned run, estimated before anything is computed: each pair's model is probed
(loaded from the cache, or built untrained when the run would train it) and timed, and every
cell still to compute is costed from what its method and metric declare (``cost``)."""

from __future__ import annotations

from collections.abc import Callable

from xaibench.benchmark import cost
from xaibench.benchmark.plan import Pair, Plan
from xaibench.models import training


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

    def estimate(self, pairs: list[Pair], parallel: int = 1) -> cost.Estimate:
        """The cost of the cells still to compute (``Plan.plan`` first), on ``parallel``
        processes."""
        estimate = cost.Estimate(parallel=parallel)
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
            tasks = [(method, [c.metric for c in cells]) for method, cells in groups]
        else:
            metrics = [metric for metric in plan.metrics if plan.scores(pair, metric)]
            tasks = [(m, metrics) for m in plan.methods if metrics and plan.applies(pair, m)]
        names = (pair.data.name, pair.arch)
        timing, why = None, "its model could not be had to time it"
        if model is not None:
            self.stage(f"estimating the cost: timing {where}", pair)
            impute = any(cost.needs_imputation(m, ms, pair.x, model) for m, ms in tasks)
            try:
                timing = cost.probe(model, pair.x, pair.y, imputation=impute)
            except Exception as err:  # noqa: BLE001 - the cells say why their cost is unknown
                why = f"its model could not be timed: {type(err).__name__}: {err}"
        for method, metrics in tasks:
            if timing is None:
                estimate.cells += [
                    cost.CellEstimate(*names, method.name, m.name, None, why) for m in metrics
                ]
            else:
                estimate.cells += cost.task_estimates(names, method, metrics, pair.x, model, timing)
        if untrained is not None:
            estimate.training["/".join(names)] = self.training_estimate(pair, model, untrained)

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
