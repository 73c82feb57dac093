"""The candidate labels summarised for their suite: one Spark pass over the rows, a few rows for GX.

Every check of the candidate-labels contract but ``id_unique`` depends on a row only through
its label, its class, what is wrong with it (``row_problem``) and whether it agrees with its
gold label. So one aggregate over the staged rows, grouped by those four, gives everything: each
group's rows, its confidence sum and the ids' fingerprint (a few ids of broken rows are looked up
only when there are some: a min or max of string ids would make the aggregate sort every row). GX then
checks the groups as a pandas frame: the rows are not cached and GX runs no Spark job (at 10M
rows the cache and GX's jobs over it were most of an LF edit's validation, docs/decisions/0006).
Every row is still read: the aggregate passes over all of them.

A share is a sum: the frame's ``*_share`` columns hold each group's part of it (its rows over
the rows the share is taken among), so the suite checks their sums
(``ExpectColumnSumToBeBetween``). So does the label-distribution drift: each labeled group's
term of KL(candidate || published), ``share * log(class share / published share)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from expectations.fingerprint import combined_fingerprint, fingerprint_aggregates
from expectations.labels_suite import KL_FLOOR, PublishedStats, row_problem, share_column

GROUP_KEYS = ("label", "class_of_labeled_row", "row_problem", "agrees_with_gold")
IDS_SHOWN = 5


@dataclass(frozen=True)
class LabelGroups:
    """The candidate labels grouped by :data:`GROUP_KEYS` (a few rows), and their ids' fingerprint."""

    groups: list[dict[str, Any]]
    classes: tuple[str, ...]
    fingerprint: dict[str, int]
    broken_ids: list[str]
    """Up to :data:`IDS_SHOWN` ids of rows with a ``row_problem`` (none when every row is sound)."""

    def rows(self, where: Any = None) -> int:
        return sum(g["rows"] for g in self.groups if where is None or where(g))

    def suite_frame(self, published: PublishedStats | None = None) -> pd.DataFrame:
        """One row per group with the share columns the suite sums (see the module)."""
        total, labeled = self.rows(), self.rows(lambda g: g["label"] >= 0)
        with_gold = self.rows(lambda g: g["label"] >= 0 and g["agrees_with_gold"] is not None)
        by_class = {c: self.rows(lambda g, c=c: g["class_of_labeled_row"] == c) for c in self.classes}
        classed = sum(by_class.values())
        weights = _published_weights(self.classes, published)
        records = []
        for g in self.groups:
            is_labeled = g["label"] >= 0
            record = {
                "rows": g["rows"],
                "row_problem": g["row_problem"],
                "class_of_labeled_row": g["class_of_labeled_row"],
                "labeled_share": g["rows"] / total if is_labeled else 0.0,
                "confidence_share": (g["confidence_sum"] or 0.0) / total,
                "gold_agreement_share": _part(g["rows"] * (g["agrees_with_gold"] or 0.0), with_gold),
            }
            for i in range(len(self.classes)):
                record[share_column(self.classes, i)] = _part(g["rows"], labeled) if g["label"] == i else 0.0
            cls = g["class_of_labeled_row"]
            if weights is not None:
                record["kl_divergence_term"] = (
                    _part(g["rows"], classed) * math.log(by_class[cls] / classed / weights[cls])
                    if is_labeled and cls in weights
                    else 0.0
                )
            records.append(record)
        return pd.DataFrame.from_records(records, columns=_columns(self.classes, weights is not None))

    def broken_rows(self) -> dict[str, Any]:
        """What ``rows_valid`` observed: how many rows are broken, what is wrong, and some of their ids."""
        broken = [g for g in self.groups if g["row_problem"] is not None]
        return {
            "unexpected_count": sum(g["rows"] for g in broken),
            "sample": sorted({g["row_problem"] for g in broken})[:IDS_SHOWN],
            **({"ids": sorted(self.broken_ids)} if self.broken_ids else {}),
        }


def _part(rows: float, among: int) -> float:
    return rows / among if among else 0.0


def _columns(classes: tuple[str, ...], drift: bool) -> list[str]:
    shares = [share_column(classes, i) for i in range(len(classes))]
    fixed = ["rows", "row_problem", "class_of_labeled_row", "labeled_share", "confidence_share"]
    return fixed + ["gold_agreement_share", *shares] + (["kl_divergence_term"] if drift else [])


def _published_weights(classes: tuple[str, ...], published: PublishedStats | None) -> dict[str, float] | None:
    """The published class distribution, with :data:`KL_FLOOR` for a class it never used."""
    if published is None:
        return None
    weights = {c: max(published.class_shares.get(c, 0.0), KL_FLOOR) for c in classes}
    total = sum(weights.values())
    return {c: w / total for c, w in weights.items()}


def group_labels(labels: DataFrame, classes: tuple[str, ...], gold: DataFrame | None = None) -> LabelGroups:
    """The candidate labels (``id, label, label_name, probs, confidence``) grouped by
    :data:`GROUP_KEYS`, in one aggregate (the row-level columns are computed before the gold join,
    a shuffled-hash join, so a shuffle carries a few small columns)."""
    rows = labels.select(
        "id",
        "label",
        "confidence",
        row_problem(len(classes)).alias("row_problem"),
        F.when(F.col("label") >= 0, F.col("label_name")).alias("class_of_labeled_row"),
    )
    if gold is None:
        rows = rows.withColumn("agrees_with_gold", F.lit(None).cast("double"))
    else:
        rows = (
            rows.hint("shuffle_hash")
            .join(gold.select("id", F.col("label").alias("_gold_label")), "id", "left")
            .withColumn(
                "agrees_with_gold",
                F.when(
                    F.col("_gold_label").isNotNull() & (F.col("label") >= 0),
                    (F.col("label") == F.col("_gold_label")).cast("double"),
                ),
            )
        )
    # Only fixed-width aggregates: a min or max of the ids (strings) would turn the hash aggregate
    # into a sort of every row. The ids of broken rows are looked up only when there are some.
    grouped = rows.groupBy(*GROUP_KEYS).agg(
        F.count(F.lit(1)).alias("rows"),
        F.sum("confidence").alias("confidence_sum"),
        *fingerprint_aggregates(F.col("id")),
    )
    found = grouped.collect()  # one row per group: at most (classes + 1) x problems x 3
    groups = [{**r.asDict(), "label": -1 if r["label"] is None else int(r["label"])} for r in found]
    broken: list[str] = []
    if any(g["row_problem"] is not None for g in groups):
        picked = rows.where(F.col("row_problem").isNotNull()).select("id").limit(IDS_SHOWN).collect()
        broken = [r["id"] for r in picked]
    return LabelGroups(groups, classes, combined_fingerprint(found), broken)
