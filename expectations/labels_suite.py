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

Each expectation carries ``meta`` (what it checks, the threshold) so a failure
can be reported as "class_share_max[SPAM]: observed 0.97 > 0.95".
"""

from __future__ import annotations

import great_expectations as gx
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.datasets import ExpectationConfig

PROB_SUM_TOLERANCE = 1e-6


def validation_view(labels: DataFrame) -> DataFrame:
    """The candidate labels plus the derived columns the suite checks."""
    return labels.select(
        "id",
        "label",
        "confidence",
        F.size("probs").alias("probs_length"),
        F.array_min("probs").alias("probs_min"),
        F.array_max("probs").alias("probs_max"),
        F.aggregate("probs", F.lit(0.0), lambda acc, x: acc + x).alias("probs_sum"),
        F.abs(F.col("confidence") - F.array_max("probs")).alias("confidence_gap"),
        F.when(F.col("label") >= 0, F.col("label_name")).alias("labeled_class"),
        *[F.col(c) for c in labels.columns if c.startswith("_") and c in ("_run_id", "_source_version")],
    )


def build_suite(name: str, classes: tuple[str, ...], thresholds: ExpectationConfig) -> gx.ExpectationSuite:
    """The candidate-labels suite for a dataset with ``classes`` and ``thresholds``."""
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
    add(E.ExpectColumnValuesToBeBetween(column="probs_length", min_value=k, max_value=k), "probs_length",
        f"== {k}")
    add(E.ExpectColumnValuesToBeBetween(column="probs_min", min_value=0.0, max_value=1.0), "probs_min",
        "in [0, 1]")
    add(E.ExpectColumnValuesToBeBetween(column="probs_max", min_value=0.0, max_value=1.0), "probs_max",
        "in [0, 1]")
    add(E.ExpectColumnValuesToBeBetween(column="probs_sum", min_value=1 - PROB_SUM_TOLERANCE,
                                        max_value=1 + PROB_SUM_TOLERANCE), "probs_sum",
        f"1 +/- {PROB_SUM_TOLERANCE}")
    add(E.ExpectColumnValuesToBeBetween(column="confidence_gap", min_value=0.0, max_value=1e-9),
        "confidence_is_max_prob", "|confidence - max(probs)| <= 1e-9")
    add(E.ExpectColumnValuesToNotBeNull(column="labeled_class", mostly=thresholds.min_coverage),
        "coverage", thresholds.min_coverage)
    for cls, (low, high) in thresholds.class_share.items():
        add(E.ExpectColumnValuesToBeInSet(column="labeled_class", value_set=[cls], mostly=low),
            f"class_share_min[{cls}]", low)
        add(E.ExpectColumnValuesToNotBeInSet(column="labeled_class", value_set=[cls],
                                             mostly=round(1.0 - high, 12)),
            f"class_share_max[{cls}]", high)
    return suite


def observed_value(check: str, result: dict) -> object:
    """A human-readable observed value for one expectation result."""
    if "observed_value" in result:
        return result["observed_value"]
    if check == "coverage":
        return round(1 - (result.get("unexpected_percent") or 0.0) / 100, 6)
    if check.startswith("class_share_min"):
        return round(1 - (result.get("unexpected_percent_nonmissing") or 0.0) / 100, 6)
    if check.startswith("class_share_max"):
        return round((result.get("unexpected_percent_nonmissing") or 0.0) / 100, 6)
    sample = result.get("partial_unexpected_list", [])[:5]
    return {"unexpected_count": result.get("unexpected_count", 0), "sample": sample}
