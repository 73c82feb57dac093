"""An exact unique-values expectation for Spark that counts distinct values per hash bucket.

GX's ``ExpectColumnProportionOfUniqueValuesToBeBetween`` observes
``countDistinct(column)`` / non-null rows. On Spark, ``countDistinct`` of a
column that is all distinct is a hash aggregate grouped by every value: each
task builds a map with one entry per row (its "partial" aggregate shrinks
nothing), the shuffle carries every value, and the reduce side builds the same
maps again: the largest cost of validating a candidate labeling.

Counting per bucket gives the same number with less work. Rows are grouped by
``pmod(xxhash64(value), buckets)``: equal values hash alike, so every repeat of
a value lands in one bucket, and the distinct count is the sum over buckets of
``size(array_distinct(collect_list(value)))``. The map side only appends to a
list per bucket; one hash set per bucket is built once, after the shuffle. The
count is exact: a hash collision puts two values in one bucket, where
``array_distinct`` still tells them apart (measured in docs/decisions/0006).
The buckets first count the values' 64-bit hashes (longs, cheaper than
strings); only when fewer hashes than values are distinct are the values
themselves counted.

:class:`ExpectColumnProportionOfUniqueValuesByHashBucketsToBeBetween` is GX's
expectation (same arguments, same observed value, same Data Docs rendering)
over that metric. Importing this module registers both with GX.
"""

from __future__ import annotations

from typing import Any

from great_expectations.core.metric_domain_types import MetricDomainTypes
from great_expectations.execution_engine import ExecutionEngine, SparkDFExecutionEngine
from great_expectations.expectations.core.expect_column_proportion_of_unique_values_to_be_between import (
    ExpectColumnProportionOfUniqueValuesToBeBetween,
)
from great_expectations.expectations.metrics.column_aggregate_metric_provider import ColumnAggregateMetricProvider
from great_expectations.expectations.metrics.metric_provider import metric_value

UNIQUE_PROPORTION_METRIC = "column.unique_proportion.hash_buckets"

HASH_BUCKETS = 4096
"""Buckets the values are grouped by. Few enough that each task keeps a small map of lists,
many enough that each bucket's list stays short (2,400 values at 10M rows)."""


def unique_proportion(distinct: int, non_null: int) -> float:
    """Distinct non-null values over non-null values, 0 when there are none (GX's definition)."""
    return distinct / non_null if non_null else 0.0


class ColumnUniqueProportionByHashBuckets(ColumnAggregateMetricProvider):
    """``column.unique_proportion`` computed as distinct counts per hash bucket (see the module).
    Spark only: labellake validates Spark frames."""

    metric_name = UNIQUE_PROPORTION_METRIC

    @metric_value(engine=SparkDFExecutionEngine)
    def _spark(
        cls,
        execution_engine: SparkDFExecutionEngine,
        metric_domain_kwargs: dict,
        metric_value_kwargs: dict,
        metrics: dict,
        runtime_configuration: dict,
    ) -> float:
        from pyspark.sql import functions as F

        frame, _, accessor = execution_engine.get_compute_domain(metric_domain_kwargs, MetricDomainTypes.COLUMN)
        value = F.col(accessor["column"])
        # First the values' 64-bit hashes: longs shuffle and dedupe cheaper than strings, and equal
        # values hash alike, so as many distinct hashes as values means every value is distinct.
        hashes, values = _distinct_and_values(frame, F.when(value.isNotNull(), F.xxhash64(value)))
        if hashes == values:
            return unique_proportion(values, values)
        # Repeats (or, about once in 10^5 tables of 10M values, a hash collision): count the values.
        distinct, values = _distinct_and_values(frame, value)
        return unique_proportion(distinct, values)


def _distinct_and_values(frame: Any, value: Any) -> tuple[int, int]:
    """(distinct non-null values, non-null values) of the column expression ``value``, by hash bucket."""
    from pyspark.sql import functions as F

    # count() and collect_list() both skip nulls, so nulls are neither values nor repeats.
    per_bucket = frame.groupBy(F.pmod(F.xxhash64(value), F.lit(HASH_BUCKETS)).alias("_bucket")).agg(
        F.count(value).alias("values"), F.size(F.array_distinct(F.collect_list(value))).alias("distinct")
    )
    totals = per_bucket.agg(F.sum("values").alias("values"), F.sum("distinct").alias("distinct")).first()
    return int(totals["distinct"] or 0), int(totals["values"] or 0)


def values_fingerprint(frame: Any, column: str) -> dict[str, int]:
    """The multiset of ``column``'s non-null values in three numbers
    (:mod:`expectations.fingerprint`). One aggregate with no shuffle. Two multisets with equal
    fingerprints are equal but for a 64-bit hash coincidence, so values found unique once are
    unique again (docs/decisions/0006)."""
    from pyspark.sql import functions as F

    from expectations.fingerprint import combined_fingerprint, fingerprint_aggregates

    return combined_fingerprint([frame.agg(*fingerprint_aggregates(F.col(column))).first()])


class ExpectColumnProportionOfUniqueValuesByHashBucketsToBeBetween(ExpectColumnProportionOfUniqueValuesToBeBetween):
    """GX's unique-proportion expectation, observed through :class:`ColumnUniqueProportionByHashBuckets`.

    Same arguments, observed value and rendering as the parent; only the metric differs, so a
    suite reads the same in Data Docs and the runs table either way.
    """

    metric_dependencies = (UNIQUE_PROPORTION_METRIC,)

    def _validate(
        self, metrics: dict, runtime_configuration: dict | None = None, execution_engine: ExecutionEngine | None = None
    ) -> Any:
        return self._validate_metric_value_between(
            metric_name=UNIQUE_PROPORTION_METRIC,
            metrics=metrics,
            runtime_configuration=runtime_configuration,
            execution_engine=execution_engine,
        )
