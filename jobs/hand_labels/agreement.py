"""How much annotators agree: per-annotator counts, Cohen's kappa per pair, Fleiss' kappa, Krippendorff's alpha.

Agreement is computed in Spark down to small matrices (pairs of annotators x
classes x classes, classes x classes), which reach the driver; the formulas
run on those. Every row with two or more annotations counts; rows annotated
once carry no agreement information and are skipped (they still count in the
per-annotator totals).

- Cohen's kappa, per pair: ``(p_o - p_e) / (1 - p_e)`` over the rows both
  annotated, ``p_e`` from each annotator's own class shares on those rows.
- Fleiss' kappa, overall, generalised to a varying number of annotators per
  row: ``P_i = (sum_c n_ic^2 - n_i) / (n_i (n_i - 1))``, ``p_c`` the share of all
  annotations in class c, kappa = ``(mean P_i - sum p_c^2) / (1 - sum p_c^2)``.
- Krippendorff's alpha (nominal), from the coincidence matrix
  ``o_ck = sum_u n_uc (n_uk - [c = k]) / (m_u - 1)``:
  ``alpha = 1 - (n - 1) sum_{c != k} o_ck / sum_{c != k} n_c n_k``.
- Accuracy against gold, per annotator, where the dataset has gold.
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from pyspark.sql import DataFrame
from pyspark.sql import functions as F


@dataclass(frozen=True)
class AnnotatorStats:
    annotator: str
    annotations: int
    rows_shared: int
    gold_rows: int = 0
    gold_accuracy: float | None = None
    learned_accuracy: float | None = None
    """What the published labels' label model learned (annotators as sources; without gold)."""


@dataclass
class Agreement:
    classes: list[str]
    annotators: list[AnnotatorStats]
    cohen_kappa: dict[str, dict[str, Any]] = field(default_factory=dict)
    fleiss_kappa: float | None = None
    krippendorff_alpha: float | None = None
    rows_with_two_or_more: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "annotators": [asdict(a) for a in self.annotators]}


def cohen_kappa(confusion: np.ndarray) -> float | None:
    """Cohen's kappa of a (k, k) table of counts (rows: annotator A's label, columns: B's)."""
    total = confusion.sum()
    if total == 0:
        return None
    observed = np.trace(confusion) / total
    expected = float((confusion.sum(axis=1) / total) @ (confusion.sum(axis=0) / total))
    return 1.0 if expected == 1.0 else float((observed - expected) / (1.0 - expected))


def fleiss_kappa(per_row: np.ndarray) -> float | None:
    """Fleiss' kappa of a (rows, k) table of how many annotators gave each class, rows with >= 2 annotators."""
    n = per_row.sum(axis=1)
    keep = n >= 2
    per_row, n = per_row[keep], n[keep]
    if not len(n):
        return None
    p_i = ((per_row**2).sum(axis=1) - n) / (n * (n - 1))
    shares = per_row.sum(axis=0) / per_row.sum()
    expected = float((shares**2).sum())
    return 1.0 if expected == 1.0 else float((p_i.mean() - expected) / (1.0 - expected))


def krippendorff_alpha(coincidence: np.ndarray) -> float | None:
    """Krippendorff's alpha (nominal) of a (k, k) coincidence matrix."""
    n_c = coincidence.sum(axis=1)
    n = n_c.sum()
    if n <= 1:
        return None
    off = ~np.eye(len(n_c), dtype=bool)
    disagreement_expected = float((np.outer(n_c, n_c)[off]).sum())
    if disagreement_expected == 0:
        return 1.0
    return float(1.0 - (n - 1) * coincidence[off].sum() / disagreement_expected)


def _per_annotator(votes: DataFrame) -> dict[str, int]:
    return {r["annotator"]: int(r["n"]) for r in votes.groupBy("annotator").agg(F.count(F.lit(1)).alias("n")).collect()}


def _gold_accuracy(votes: DataFrame, gold: DataFrame | None) -> dict[str, tuple[int, float]]:
    """(rows, accuracy) of each annotator on the gold rows they labeled."""
    if gold is None:
        return {}
    scored = votes.join(gold.select("id", F.col("label").alias("g")), "id")
    accuracy = F.avg((F.col("c") == F.col("g")).cast("double")).alias("acc")
    rows = scored.groupBy("annotator").agg(F.count(F.lit(1)).alias("n"), accuracy).collect()
    return {r["annotator"]: (int(r["n"]), float(r["acc"])) for r in rows}


def _cohen_by_pair(multi: DataFrame, k: int) -> dict[str, dict[str, Any]]:
    """Cohen's kappa and raw agreement of every pair of annotators over the rows both labeled."""
    a, b = multi.alias("a"), multi.alias("b")
    pairs = (
        a.join(b, (F.col("a.id") == F.col("b.id")) & (F.col("a.annotator") < F.col("b.annotator")))
        .groupBy(
            F.col("a.annotator").alias("x"),
            F.col("b.annotator").alias("y"),
            F.col("a.c").alias("cx"),
            F.col("b.c").alias("cy"),
        )
        .count()
        .collect()
    )
    tables: dict[tuple[str, str], np.ndarray] = {}
    for r in pairs:
        tables.setdefault((r["x"], r["y"]), np.zeros((k, k)))[r["cx"], r["cy"]] += r["count"]
    return {
        f"{x} ~ {y}": {"rows": int(t.sum()), "kappa": cohen_kappa(t), "agreement": float(np.trace(t) / t.sum())}
        for (x, y), t in sorted(tables.items())
    }


def _fleiss_and_coincidence(multi: DataFrame, k: int) -> tuple[float | None, np.ndarray, int]:
    """Fleiss' kappa, the coincidence matrix (for Krippendorff's alpha) and the rows with 2+ labels,
    from per-row class counts reduced in one pass (never the rows themselves)."""
    counts = multi.groupBy("id", "m").pivot("c", list(range(k))).count().na.fill(0)
    n_cols = [F.col(str(c)) for c in range(k)]
    p_i = (sum((x * x for x in n_cols), F.lit(0)) - F.col("m")) / (F.col("m") * (F.col("m") - 1))
    fleiss_row = counts.agg(
        F.count(F.lit(1)).alias("rows"),
        F.avg(p_i).alias("p_bar"),
        *[F.sum(x).alias(f"n{c}") for c, x in enumerate(n_cols)],
        *[
            F.sum(n_cols[c] * (n_cols[d] - (1 if c == d else 0)) / (F.col("m") - 1)).alias(f"o{c}_{d}")
            for c in range(k)
            for d in range(k)
        ],
    ).collect()[0]
    coincidence = np.array([[float(fleiss_row[f"o{c}_{d}"] or 0.0) for d in range(k)] for c in range(k)])
    fleiss = None
    if fleiss_row["rows"]:
        shares = np.array([float(fleiss_row[f"n{c}"]) for c in range(k)])
        shares /= shares.sum()
        expected = float((shares**2).sum())
        fleiss = 1.0 if expected == 1.0 else float((fleiss_row["p_bar"] - expected) / (1.0 - expected))
    return fleiss, coincidence, int(fleiss_row["rows"] or 0)


def agreement(annotations: DataFrame, classes: list[str], gold: DataFrame | None = None) -> Agreement:
    """The agreement figures of an ``annotations`` table (``id, annotator, label`` with class names)."""
    k = len(classes)
    index = F.create_map(*[x for i, c in enumerate(classes) for x in (F.lit(c), F.lit(i))])
    votes = annotations.select("id", "annotator", F.element_at(index, F.col("label")).alias("c")).where("c IS NOT NULL")
    per_row = votes.groupBy("id").agg(F.count(F.lit(1)).alias("m"))
    multi = votes.join(per_row.where("m >= 2"), "id")
    totals, shared = _per_annotator(votes), _per_annotator(multi)
    gold_stats = _gold_accuracy(votes, gold)
    cohen = _cohen_by_pair(multi, k)
    fleiss, coincidence, rows = _fleiss_and_coincidence(multi, k)
    stats = [
        AnnotatorStats(name, totals[name], shared.get(name, 0), *gold_stats.get(name, (0, None)))
        for name in sorted(totals)
    ]
    return Agreement(list(classes), stats, cohen, fleiss, krippendorff_alpha(coincidence), rows)


def with_learned_accuracies(result: Agreement, learned: dict[str, float], groups: dict[str, str]) -> Agreement:
    """Attach each annotator's learned accuracy (its group's, when grouped) from the label model."""
    from jobs.hand_labels.annotator_sources import PREFIX

    result.annotators = [
        dataclasses.replace(a, learned_accuracy=learned.get(PREFIX + groups.get(a.annotator, a.annotator)))
        for a in result.annotators
    ]
    return result


def format_agreement(result: Agreement) -> str:
    lines = [
        f"{len(result.annotators)} annotators; {result.rows_with_two_or_more:,} rows with two or more",
        f"{'annotator':<28}{'labels':>8}{'shared':>8}{'gold':>7}{'gold acc':>10}{'learned acc':>13}",
    ]
    for a in result.annotators:
        acc = "" if a.gold_accuracy is None else f"{a.gold_accuracy:.3f}"
        learned = "" if a.learned_accuracy is None else f"{a.learned_accuracy:.3f}"
        lines.append(f"{a.annotator:<28}{a.annotations:>8,}{a.rows_shared:>8,}{a.gold_rows:>7,}{acc:>10}{learned:>13}")
    if result.cohen_kappa:
        lines.append("Cohen's kappa per pair (rows both labeled, raw agreement):")
        for pair, value in result.cohen_kappa.items():
            kappa = "n/a" if value["kappa"] is None else f"{value['kappa']:.3f}"
            lines.append(f"  {pair:<40} kappa {kappa:>6}  rows {value['rows']:>6,}  agree {value['agreement']:.3f}")
    fmt = lambda v: "n/a" if v is None else f"{v:.3f}"  # noqa: E731
    lines.append(
        f"Fleiss' kappa {fmt(result.fleiss_kappa)}   Krippendorff's alpha (nominal) {fmt(result.krippendorff_alpha)}"
    )
    return "\n".join(lines)
