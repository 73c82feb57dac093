"""The contract a candidate labeling must meet before it is published.

GX column expectations check columns, so the few properties of the ``probs``
array (length, range, sum) and of the label distribution are first exposed as
plain columns by :func:`validation_view`; the suite then states the contract
on those columns with stock GX expectations. Two GX behaviours are used on
purpose:

- ``mostly`` on ``ExpectColumnValuesToNotBeNull`` over ``labeled_class``
  (null where the label is -1) is exactly "coverage >= min_coverage";
- map expectations ignore nulls in their denominator, so
  ``ExpectColumnValuesToBeInSet([c], mostly=lo)`` over ``labeled_class`` is
  "share of class c among labeled rows >= lo", and
  ``ExpectColumnValuesToNotBeInSet([c], mostly=1-hi)`` is "share <= hi".

Drift against the last published labels (read by Delta time travel) and the
gold accuracy are columns of the same view (``label_change``, ``gold_correct``),
so the whole contract is one batch: Spark materializes the view once (it is
persisted by the caller) and GX's metrics read it from memory.

- ``ExpectColumnKLDivergenceToBeLessThan`` over ``labeled_class`` with the
  previous distribution as the partition object is the label-distribution drift;
- ``ExpectColumnValuesToNotBeInSet(["changed"], mostly=1-max)`` over
  ``label_change`` (null for ids that are new) is "share of labels changed <= max";
- ``ExpectColumnMeanToBeBetween`` over ``confidence`` (drop) and ``gold_correct``
  (1/0 where a labeled row has gold, else null) are the confidence and accuracy floors.

Each expectation carries ``meta`` (what it checks, the threshold) so a failure
can be reported as "class_share_max[SPAM]: observed 0.97 > 0.95".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import great_expectations as gx
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.datasets import ExpectationConfig

PROB_SUM_TOLERANCE = 1e-6


@dataclass(frozen=True)
class PublishedStats:
    """What drift is measured against: the last published labeling, aggregated once."""

    version: int
    run_id: str | None
    class_shares: dict[str, float]
    mean_confidence: float


def published_stats(published: DataFrame, version: int, run_id: str | None) -> PublishedStats:
    """Class shares among labeled rows and mean confidence of a published labels version (one pass)."""
    groups = (published.groupBy("label", "label_name")
              .agg(F.count(F.lit(1)).alias("n"), F.sum("confidence").alias("confidence")).collect())
    rows = sum(int(g["n"]) for g in groups)
    mean = sum(float(g["confidence"] or 0.0) for g in groups) / rows if rows else 0.0
    counts = {g["label_name"]: int(g["n"]) for g in groups if g["label"] is not None and g["label"] >= 0}
    total = sum(counts.values())
    shares = {k: v / total for k, v in counts.items()} if total else {}
    return PublishedStats(version, run_id, shares, float(mean or 0.0))


def probs_problem(n_classes: int) -> Any:
    """Null when ``probs`` and ``confidence`` are sound, else what is wrong with them.

    One column for the five properties (length, range, sum, confidence = max)
    so GX checks them in one pass and a failure still says which went wrong.
    """
    total = F.aggregate("probs", F.lit(0.0), lambda acc, x: acc + x)
    problem = F.concat_ws(
        ", ",
        F.when(F.size("probs") != n_classes, F.lit(f"length != {n_classes}")),
        F.when((F.array_min("probs") < 0) | (F.array_max("probs") > 1), F.lit("a prob outside [0, 1]")),
        F.when(F.abs(total - 1.0) > PROB_SUM_TOLERANCE, F.lit("sum != 1")),
        F.when(F.abs(F.col("confidence") - F.array_max("probs")) > 1e-9, F.lit("confidence != max prob")),
    )
    return F.when(problem != "", problem)


def validation_view(labels: DataFrame, n_classes: int, published: DataFrame | None = None,
                    gold: DataFrame | None = None) -> DataFrame:
    """The candidate labels plus the derived columns the suite checks."""
    view = labels
    if published is not None:
        view = view.join(published.select("id", F.col("label").alias("_published_label")), "id", "left")
    if gold is not None:
        view = view.join(gold.select("id", F.col("label").alias("_gold_label")), "id", "left")
    extra = []
    if published is not None:
        extra.append(F.when(F.col("_published_label").isNull(), F.lit(None).cast("string"))
                     .when(F.col("_published_label") != F.col("label"), F.lit("changed"))
                     .otherwise(F.lit("same")).alias("label_change"))
    if gold is not None:
        extra.append(F.when(F.col("_gold_label").isNotNull() & (F.col("label") >= 0),
                            (F.col("label") == F.col("_gold_label")).cast("double")).alias("gold_correct"))
    return view.select(
        "id",
        "label",
        "confidence",
        probs_problem(n_classes).alias("probs_problem"),
        F.when(F.col("label") >= 0, F.col("label_name")).alias("labeled_class"),
        *extra,
        *[F.col(c) for c in labels.columns if c.startswith("_") and c in ("_run_id", "_source_version")],
    )


def build_suite(name: str, classes: tuple[str, ...], thresholds: ExpectationConfig,
                published: PublishedStats | None = None, with_gold: bool = False) -> gx.ExpectationSuite:
    """The candidate-labels suite for a dataset with ``classes`` and ``thresholds``.

    With ``published`` (the last published labeling), the drift expectations are
    added; a first run has none and says so in its log. With ``with_gold`` and a
    ``min_gold_accuracy``, the accuracy floor is added.
    """
    E = gx.expectations
    k = len(classes)
    suite = gx.ExpectationSuite(name=name)

    def add(expectation: gx.expectations.Expectation, check: str, threshold: object) -> None:
        expectation.meta = {"check": check, "threshold": threshold}
        suite.add_expectation(expectation)

    add(E.ExpectTableRowCountToBeBetween(min_value=1), "rows_present", ">= 1")
    add(E.ExpectColumnValuesToNotBeNull(column="id"), "id_not_null", "no nulls")
    add(E.ExpectColumnValuesToBeUnique(column="id"), "id_unique", "unique")
    add(E.ExpectColumnValuesToBeInSet(column="label", value_set=list(range(-1, k))), "label_in_classes",
        f"in [-1, {k - 1}]")
    add(E.ExpectColumnValuesToNotBeNull(column="label"), "label_not_null", "no nulls")
    add(E.ExpectColumnValuesToBeNull(column="probs_problem"), "probs_valid",
        f"len == {k}, each in [0, 1], sum 1 +/- {PROB_SUM_TOLERANCE}, confidence == max prob")
    add(E.ExpectColumnValuesToNotBeNull(column="labeled_class", mostly=thresholds.min_coverage),
        "coverage", thresholds.min_coverage)
    for cls, (low, high) in thresholds.class_share.items():
        add(E.ExpectColumnValuesToBeInSet(column="labeled_class", value_set=[cls], mostly=low),
            f"class_share_min[{cls}]", low)
        add(E.ExpectColumnValuesToNotBeInSet(column="labeled_class", value_set=[cls],
                                             mostly=round(1.0 - high, 12)),
            f"class_share_max[{cls}]", high)
    if published is not None:
        add_drift(suite, add, classes, thresholds, published)
    if with_gold and thresholds.min_gold_accuracy is not None:
        add(E.ExpectColumnMeanToBeBetween(column="gold_correct", min_value=thresholds.min_gold_accuracy),
            "gold_accuracy", f">= {thresholds.min_gold_accuracy}")
    return suite


KL_FLOOR = 1e-6
"""Weight given to a class the published labeling never used, so KL stays finite and a class
appearing from nowhere reads as large drift, not as an error."""


def add_drift(suite: gx.ExpectationSuite, add: Any, classes: tuple[str, ...], thresholds: ExpectationConfig,
              published: PublishedStats) -> None:
    E = gx.expectations
    weights = [max(published.class_shares.get(c, 0.0), KL_FLOOR) for c in classes]
    total = sum(weights)
    partition = {"values": list(classes), "weights": [w / total for w in weights]}
    add(E.ExpectColumnKLDivergenceToBeLessThan(column="labeled_class", partition_object=partition,
                                               threshold=thresholds.max_kl_divergence),
        "drift_kl", f"< {thresholds.max_kl_divergence} vs v{published.version}")
    add(E.ExpectColumnValuesToNotBeInSet(column="label_change", value_set=["changed"],
                                         mostly=round(1.0 - thresholds.max_label_change_share, 12)),
        "drift_label_changes", f"<= {thresholds.max_label_change_share} vs v{published.version}")
    floor = max(published.mean_confidence - thresholds.max_confidence_drop, 0.0)
    add(E.ExpectColumnMeanToBeBetween(column="confidence", min_value=round(floor, 6)),
        "drift_mean_confidence", f">= {floor:.4f} (v{published.version}: {published.mean_confidence:.4f} "
        f"- {thresholds.max_confidence_drop})")


def observed_value(check: str, result: dict) -> object:
    """A human-readable observed value for one expectation result."""
    if "observed_value" in result:
        return result["observed_value"]
    if check == "coverage":
        return round(1 - (result.get("unexpected_percent") or 0.0) / 100, 6)
    if check.startswith("class_share_min"):
        return round(1 - (result.get("unexpected_percent_nonmissing") or 0.0) / 100, 6)
    if check.startswith("class_share_max") or check == "drift_label_changes":
        return round((result.get("unexpected_percent_nonmissing") or 0.0) / 100, 6)
    sample = result.get("partial_unexpected_list", [])[:5]
    return {"unexpected_count": result.get("unexpected_count", 0), "sample": sample}
