"""LF analysis from vote-pattern counts (Snorkel ``LFAnalysis`` definitions).

For ``n`` source rows and each LF ``j`` (Snorkel, ``snorkel.labeling.analysis``):

- polarity: the distinct labels ``j`` emitted;
- coverage: share of rows ``j`` labeled;
- overlaps: share of rows ``j`` labeled that at least one other LF labeled too;
- conflicts: share of rows ``j`` labeled whose non-abstain votes disagree;
- correct / incorrect: ``j``'s votes equal / unequal to gold, where gold exists;
- empirical accuracy: correct / (correct + incorrect).

Every one of these is a sum over rows of a function of the row's vote
pattern, so they are computed from the distinct patterns and their counts
(and, for gold, the ``(pattern, gold label)`` counts), which the label-model
stage already has: no per-row Spark job of its own, and the cost does not grow
with rows (docs/decisions/0005).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np

from jobs.lake.tables import TableRef, commit_metadata, replace_run_rows

if TYPE_CHECKING:
    import pyarrow as pa

log = logging.getLogger(__name__)

GoldCounts = tuple[np.ndarray, np.ndarray, np.ndarray]
"""``(L_gold (G, m), gold label (G,), rows (G,))``: the patterns of rows with gold, per gold label."""


def lf_summary(
    L: np.ndarray, counts: np.ndarray, n_rows: int, lf_names: list[str], gold: GoldCounts | None = None
) -> dict[str, dict[str, Any]]:
    """Per LF, Snorkel's LF-analysis statistics from a (P, m) pattern matrix and its row counts."""
    L = np.asarray(L, dtype=np.int32)
    counts = np.asarray(counts, dtype=np.int64)
    n = float(max(n_rows, 1))
    labeled = L != -1
    votes_per_row = labeled.sum(axis=1)
    vmax = L.max(axis=1, initial=-1)
    vmin = np.where(labeled, L, np.iinfo(np.int32).max).min(axis=1, initial=np.iinfo(np.int32).max)
    conflicted = labeled.any(axis=1) & (vmin != vmax)
    if gold is not None and len(gold[0]):
        L_gold, y_gold, n_gold = (np.asarray(gold[0]), np.asarray(gold[1]), np.asarray(gold[2], dtype=np.int64))
        hits = (L_gold == y_gold[:, None]) & (L_gold != -1)
        misses = (L_gold != y_gold[:, None]) & (L_gold != -1)
        correct, incorrect = n_gold @ hits, n_gold @ misses
    else:
        correct = incorrect = np.zeros(len(lf_names), dtype=np.int64)
    summary: dict[str, dict[str, Any]] = {}
    for j, name in enumerate(lf_names):
        on = labeled[:, j]
        rows_labeled = int(counts[on].sum())
        judged = int(correct[j] + incorrect[j])
        summary[name] = {
            "polarity": sorted({int(v) for v in np.unique(L[on & (counts > 0), j])}),
            "labeled": rows_labeled,
            "coverage": rows_labeled / n,
            "overlaps": int(counts[on & (votes_per_row > 1)].sum()) / n,
            "conflicts": int(counts[on & conflicted].sum()) / n,
            "correct": int(correct[j]),
            "incorrect": int(incorrect[j]),
            "empirical_accuracy": (int(correct[j]) / judged) if judged else None,
        }
    return summary


def _analysis_schema() -> pa.Schema:
    import pyarrow as pa

    return pa.schema(
        [
            ("_run_id", pa.string()),
            ("lf", pa.string()),
            ("lf_version", pa.string()),
            ("kind", pa.string()),
            ("polarity", pa.list_(pa.int32())),
            ("labeled", pa.int64()),
            ("coverage", pa.float64()),
            ("overlaps", pa.float64()),
            ("conflicts", pa.float64()),
            ("correct", pa.int64()),
            ("incorrect", pa.int64()),
            ("empirical_accuracy", pa.float64()),
            ("errors", pa.int64()),
            ("error_sample_ids", pa.list_(pa.string())),
            ("first_error", pa.string()),
        ]
    )


def write_lf_analysis(
    stats: dict[str, dict[str, Any]],
    lfs: list[tuple[str, str, str]],
    errors: dict[str, dict[str, Any]],
    ref: TableRef,
    run_id: str,
) -> list[dict[str, Any]]:
    """Store the per-LF statistics of a run (replacing that run's rows).

    ``lfs`` lists every LF of the pack as (name, version, kind) so an LF that
    never voted still gets a row (coverage 0), which is exactly the LF a
    person needs to notice. ``errors`` is the Python-LF error report of apply.
    """
    import pyarrow as pa

    rows = []
    for name, version, kind in lfs:
        s = stats.get(name, {})
        e = errors.get(name, {})
        rows.append(
            {
                "_run_id": run_id,
                "lf": name,
                "lf_version": version,
                "kind": kind,
                "polarity": [int(p) for p in s.get("polarity") or []],
                "labeled": int(s.get("labeled") or 0),
                "coverage": float(s.get("coverage") or 0.0),
                "overlaps": float(s.get("overlaps") or 0.0),
                "conflicts": float(s.get("conflicts") or 0.0),
                "correct": int(s.get("correct") or 0),
                "incorrect": int(s.get("incorrect") or 0),
                "empirical_accuracy": s.get("empirical_accuracy"),
                "errors": int(e.get("errors", 0)),
                "error_sample_ids": list(e.get("sample_ids", [])),
                "first_error": e.get("first_error"),
            }
        )
    # Written with delta-rs (jobs.lake.tables.replace_run_rows): a Spark write of these few dozen rows
    # cost a fit about a second.
    replace_run_rows(
        ref,
        pa.Table.from_pylist(rows, schema=_analysis_schema()),
        run_id,
        commit_metadata(run_id=run_id, stage="lf_analysis"),
    )
    return rows
