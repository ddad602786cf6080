"""Which metrics to trust (results/trust.py): the deciding metrics of a recommendation, the
cautions the verdict gains from the meta-evaluation and the sweeps, the summary per metric."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from xaibench.results import trust
from xaibench.results.meta import COLUMNS as META_COLUMNS
from xaibench.results.sweep import COLUMNS as SWEEP_COLUMNS


def test_unreliable_metrics_are_below_half_or_in_the_bottom_half():
    """Median of (0.4, 0.6, 0.7, 0.8) is 0.65: a (< 0.5) and b (< median) are unreliable."""
    assert trust.unreliable({"a": 0.4, "b": 0.6, "c": 0.7, "d": 0.8, "e": np.nan}) == {"a", "b"}
    assert trust.unreliable({"a": 0.7}) == set()  # one metric: no bottom half
    assert trust.unreliable({"a": 0.45}) == {"a"}


def _board(rows):
    return pd.DataFrame(
        [
            dict(dataset=d, model="m", metric=metric, category=category, method=method, rank=rank)
            for d, metric, category, method, rank in rows
        ]
    )


BOARD = _board(
    [
        ("d1", "deletion", "faithfulness", "x", 1),
        ("d1", "deletion", "faithfulness", "y", 2),
        ("d1", "deletion", "faithfulness", "z", 3),
        ("d1", "sparseness", "complexity", "x", 2),
        ("d1", "sparseness", "complexity", "y", 1),
        ("d1", "sparseness", "complexity", "z", 3),
        ("d1", "road", "faithfulness", "x", 3),
        ("d1", "road", "faithfulness", "y", 1),
        ("d1", "road", "faithfulness", "z", 2),
        ("d1", "runtime", "cost", "x", 1),
        ("d1", "runtime", "cost", "y", 2),
        ("d1", "runtime", "cost", "z", 3),
    ]
)


def test_deciding_metrics_are_the_quality_metrics_in_its_top_half():
    """x: rank 1 of 3 on deletion, 2 on sparseness (top half: <= (3 + 1) / 2), 3 on road;
    runtime is a cost, not a quality metric."""
    assert trust.deciding(BOARD, "d1", "m", "x") == ["deletion", "sparseness"]
    assert trust.deciding(BOARD, "*", "*", "x") == ["deletion", "sparseness"]
    assert trust.deciding(BOARD, "d1", "m", "absent") == []


def _meta(rows):
    return pd.DataFrame(
        [
            {
                **dict.fromkeys(META_COLUMNS, 0.0),
                "dataset": "d1",
                "model": "m",
                "metric": metric,
                "test": "both",
                "mc": mc,
            }
            for metric, mc in rows
        ],
        columns=META_COLUMNS,
    )


def _sweep(holds):
    return pd.DataFrame(
        [
            dict(
                dataset="d1",
                model="m",
                metric="deletion",
                variant=f"v{i}",
                settings="{}",
                kendall_tau=1.0,
                top_method="x",
                recommended_holds=h,
                control_last=True,
            )
            for i, h in enumerate(holds)
        ],
        columns=SWEEP_COLUMNS,
    )


VERDICT = pd.DataFrame(
    {
        "dataset": ["d1", "d1", "*"],
        "model": ["m", "m", "*"],
        "method": ["x", "y", "x"],
        "recommended": [True, False, True],
        "note": ["low on road 3/3", "", ""],
    }
)


def test_annotate_names_the_deciding_metrics_and_their_reliability():
    """deletion MC 0.7 (reliable), sparseness 0.45 (below 0.5), road 0.8: x was decided by
    deletion and sparseness, the second unreliable; the recommendation held under 2 of 3
    settings of deletion. Across the run: the same MC (one pair), no sweep caution."""
    data = trust.Trust(
        _meta([("deletion", 0.7), ("sparseness", 0.45), ("road", 0.8)]), _sweep([True, True, False])
    )
    out = trust.annotate(VERDICT, BOARD, data)
    assert out["decided_by"].tolist() == [
        "deletion (MC 0.70), sparseness (MC 0.45)",
        "",
        "deletion (MC 0.70), sparseness (MC 0.45)",
    ]
    assert out["note"].tolist() == [
        "low on road 3/3; rests on unreliable metrics: sparseness (MC 0.45); "
        "holds under 2 of 3 settings of deletion",
        "",
        "rests on unreliable metrics: sparseness (MC 0.45)",
    ]
    assert VERDICT["note"].tolist() == ["low on road 3/3", "", ""]  # not changed in place


def test_without_meta_or_sweeps_the_verdict_is_unchanged(tmp_path):
    empty = trust.Trust.none()
    assert trust.annotate(VERDICT, BOARD, empty) is VERDICT
    (tmp_path / "trust.png").write_bytes(b"an earlier run's")
    assert trust.markdown(empty) == "" and trust.section(empty, tmp_path) == (None, [])
    assert not (tmp_path / "trust.png").exists()


def test_sweeps_only_give_no_mc():
    data = trust.Trust(pd.DataFrame(columns=META_COLUMNS), _sweep([True]))
    out = trust.annotate(VERDICT, BOARD, data)
    assert out["decided_by"].iloc[0] == "deletion (MC –), sparseness (MC –)"
    assert out["note"].iloc[0] == "low on road 3/3"


def test_swept_settings_from_the_cells():
    def cell(variant, **metric):
        settings = {"metric": {"name": "deletion", "steps": 20, "baseline": 0.0, **metric}}
        return dict(metric="deletion", variant=variant, settings=json.dumps(settings))

    cells = pd.DataFrame(
        [
            cell(None),
            cell("sweep:baseline=mean", baseline="mean"),
            cell("sweep:steps=5", steps=5),
            cell("meta:reference"),
        ]
    )
    assert trust.swept_settings(cells) == {
        ("deletion", "sweep:baseline=mean"): {"baseline": "mean"},
        ("deletion", "sweep:steps=5"): {"steps": 5},
        ("deletion", "configured"): {"baseline": 0.0, "steps": 20},
    }


def test_summary_markdown_and_figure(tmp_path):
    data = trust.Trust(_meta([("deletion", 0.7), ("sparseness", 0.45)]), _sweep([True, False]))
    summary = trust.metric_summary(data)
    assert summary["metric"].tolist() == ["deletion", "sparseness"]  # by MC, best first
    assert summary.set_index("metric").loc["deletion", "holds"] == "1 of 2"
    text = trust.markdown(data)
    assert text.startswith("# Which metrics to trust") and "| deletion | 0.7 |" in text
    section, figures = trust.section(data, tmp_path)
    assert section.title == "Which metrics to trust" and figures == [tmp_path / "trust.png"]
    assert figures[0].stat().st_size > 0


def test_a_caution_names_the_three_least_reliable_deciding_metrics():
    """Five deciding metrics below 0.5: the three lowest named, the rest counted."""
    board = _board(
        [("d1", f"q{i}", "faithfulness", m, r) for i in range(5) for m, r in (("x", 1), ("y", 2))]
    )
    data = trust.Trust(_meta([(f"q{i}", 0.3 + 0.01 * i) for i in range(5)]), _sweep([]))
    out = trust.annotate(VERDICT.iloc[:1].assign(note=""), board, data)
    assert out["note"].iloc[0] == (
        "rests on unreliable metrics: q0 (MC 0.30), q1 (MC 0.31), q2 (MC 0.32) +2 more"
    )


def test_failed_variant_cells_are_listed_in_the_report(tmp_path):
    """A failed meta-evaluation cell is among the report's failures (named with its variant);
    variants that are fine or do not apply are not listed one by one."""
    from xaibench.results.html import cells_summary
    from xaibench.results.outputs import _with_failed_variants
    from xaibench.store import Store

    metric = type("M", (), {"category": "faithfulness", "higher_is_better": False})()
    with Store(tmp_path / "results.sqlite") as store:
        run = store.start_run({}, {}, "")
        for key, variant, status in [
            ("a", None, "ok"),
            ("b", "meta:model:ar:0:0", "error"),
            ("c", "meta:reference", "ok"),
            ("d", "sweep:baseline=blur", "not_applicable"),
        ]:
            ids = dict(dataset="d", model="m", method="x", metric="deletion", model_key=None)
            store.put_cell(
                key,
                ids={**ids, "variant": variant},
                metric=metric,
                status=status,
                settings={},
                version="v",
                run_id=run,
                error="boom" if status != "ok" else None,
            )
            store.link(run, [key])
        cells = _with_failed_variants(store, run)
    failed, not_applicable = cells_summary(cells)
    assert failed["metric"].tolist() == ["deletion [meta:model:ar:0:0]"]
    assert not_applicable.empty and len(cells) == 2
