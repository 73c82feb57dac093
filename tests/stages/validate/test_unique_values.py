"""The bucketed unique-values expectation observes exactly what GX's countDistinct one does."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from pyspark.sql import functions as F

from tests.conftest import DATA_ROOT


def _comment_ids() -> pd.DataFrame:
    """The real YouTube comment ids of all five videos (text ids, a few repeated across files)."""
    frames = [pd.read_csv(path, usecols=["COMMENT_ID"]) for path in sorted((DATA_ROOT / "youtube_spam").glob("*.csv"))]
    return pd.concat(frames, ignore_index=True).rename(columns={"COMMENT_ID": "id"})


def _suite(min_value: float):
    import great_expectations as gx

    from expectations.unique_values import ExpectColumnProportionOfUniqueValuesByHashBucketsToBeBetween

    suite = gx.ExpectationSuite(name="t_ids")
    bucketed = ExpectColumnProportionOfUniqueValuesByHashBucketsToBeBetween(column="id", min_value=min_value)
    bucketed.meta = {"check": "bucketed", "threshold": min_value}
    stock = gx.expectations.ExpectColumnProportionOfUniqueValuesToBeBetween(column="id", min_value=min_value)
    stock.meta = {"check": "stock", "threshold": min_value}
    suite.add_expectation(bucketed)
    suite.add_expectation(stock)
    return suite


@pytest.mark.parametrize("variant", ["real", "repeats_and_nulls"])
def test_bucketed_unique_proportion_equals_gx_count_distinct(spark, tmp_path: Path, variant: str) -> None:
    """Same observed value and verdict as GX's own expectation, through a Checkpoint with Data Docs."""
    from expectations.gx_runner import run_suite
    from expectations.labels_suite import observed_value

    ids = _comment_ids()
    if variant == "repeats_and_nulls":
        # 200 ids twice, one three times, and nulls (neither values nor repeats).
        ids = pd.concat([ids, ids.iloc[:200], ids.iloc[[7, 7]], pd.DataFrame({"id": [None] * 30})], ignore_index=True)
    frame = spark.createDataFrame(ids, "id string")
    non_null = frame.where(F.col("id").isNotNull())
    expected = non_null.select(F.count_distinct("id")).first()[0] / non_null.count()
    run = run_suite(
        tmp_path / "home", "t", lambda: _suite(min_value=1.0), frame, "run-1", lambda _: "error", observed_value
    )
    checks = {o["check"]: o for o in run.outcomes}
    assert checks["bucketed"]["observed"] == pytest.approx(expected, abs=1e-6)
    assert checks["bucketed"]["observed"] == checks["stock"]["observed"]
    assert checks["bucketed"]["success"] == checks["stock"]["success"] == (expected == 1.0)
    assert run.docs_page and Path(run.docs_page.removeprefix("file://")).exists()
    # The project file was written once for the datasource's four changes, with all of them.
    config = (tmp_path / "home" / "_gx" / "t" / "gx" / "great_expectations.yml").read_text()
    assert "labellake_t_t_ids" in config and "t_ids" in config
    if variant == "repeats_and_nulls":
        assert not checks["bucketed"]["success"]


def test_values_sharing_a_bucket_are_not_merged(spark) -> None:
    """More distinct values than buckets: collisions in a bucket must still count as distinct."""
    from great_expectations.execution_engine import SparkDFExecutionEngine

    from expectations import unique_values

    n = unique_values.HASH_BUCKETS * 3
    frame = spark.range(n).select(F.format_string("id-%d", "id").alias("id"))
    engine = SparkDFExecutionEngine(spark=spark, persist=False)
    engine.load_batch_data("b", frame)
    observed = unique_values.ColumnUniqueProportionByHashBuckets._spark(
        unique_values.ColumnUniqueProportionByHashBuckets, engine, {"column": "id", "batch_id": "b"}, {}, {}, {}
    )
    assert observed == 1.0
    doubled = frame.unionByName(frame.limit(n // 2))
    engine.load_batch_data("c", doubled)
    observed = unique_values.ColumnUniqueProportionByHashBuckets._spark(
        unique_values.ColumnUniqueProportionByHashBuckets, engine, {"column": "id", "batch_id": "c"}, {}, {}, {}
    )
    assert observed == pytest.approx(n / (n + n // 2))


def test_equal_id_multisets_share_a_fingerprint_and_others_do_not(spark) -> None:
    """The fingerprint ignores order and nulls, and tells a repeated id from the one it replaced."""
    from expectations.unique_values import values_fingerprint

    ids = _comment_ids().drop_duplicates()
    frame = spark.createDataFrame(ids, "id string")
    shuffled = spark.createDataFrame(
        pd.concat([ids.sample(frac=1.0, random_state=1), pd.DataFrame({"id": [None] * 3})]), "id string"
    )
    repeated = spark.createDataFrame(pd.concat([ids.iloc[1:], ids.iloc[[5]]]), "id string")
    fingerprint = values_fingerprint(frame, "id")
    assert fingerprint["values"] == len(ids)
    assert values_fingerprint(shuffled, "id") == fingerprint
    assert values_fingerprint(repeated, "id") != fingerprint


def test_labels_carry_id_uniqueness_only_from_the_same_ids_the_ingest_found_unique() -> None:
    """Validation counts the candidate ids unless their fingerprint equals the one the source
    version's ingest recorded (unique ids); another multiset, or none recorded, is counted."""
    from typing import Any, cast

    from jobs.stages.validate import ids_check

    ids = {"values": 3, "hash_sum_low": 7, "hash_sum_high": 1}
    none: Any = None
    assert ids_check(none, none, ids, None, (4, dict(ids))).validated_in == "source v4 (unique at ingest)"
    for other in ({**ids, "values": 4}, {**ids, "hash_sum_high": 2}, None):
        assert ids_check(none, none, ids, None, (4, cast(dict, other))).validated_in is None
    assert ids_check(none, none, ids, None, None).validated_in is None
