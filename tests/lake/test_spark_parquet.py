"""A whole table overwritten by Spark's Parquet files and a delta-rs commit (jobs/lake/spark_parquet.py)
equals Spark's Delta overwrite, on the real SMS texts shaped as source rows: the same rows for
Spark, delta-rs and DuckDB, statistics for the statistics columns, history and time travel; a
table whose layout a plain write would misrecord is refused with the reason."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from deltalake import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.lake.spark_parquet import SCRATCH_PREFIX, STATS_PROPERTY, Layout, overwrite_table, overwrites_directly
from jobs.lake.tables import TableRef
from tests.conftest import DATA_ROOT

STATS = ("id", "_source_file", "_run_id")
LAYOUT = Layout(STATS)
FILE = "file:/data/drops/2026-12-07/a-long-export-name-past-32-chars.tsv"


def _source(spark: SparkSession, run_id: str, every: int = 1) -> DataFrame:
    """The SMS collection's texts as source rows of run ``run_id`` (every ``every``-th line)."""
    lines = (DATA_ROOT / "sms_spam" / "SMSSpamCollection").read_text(encoding="utf-8").splitlines()
    rows = [(f"sms:{i}", line.split("\t", 1)[1]) for i, line in enumerate(lines) if i % every == 0]
    at = datetime(2026, 12, 7, 6, 45, 3, 279000, tzinfo=UTC)
    return (
        spark.createDataFrame(rows, "id string, text string")
        .repartition(3)
        .select(
            "id",
            "text",
            F.lit(FILE).alias("_source_file"),
            F.xxhash64("text").alias("_content_hash"),
            F.lit(run_id).alias("_run_id"),
            F.lit(at).cast("timestamp").alias("_ingested_at"),
        )
    )


def _stats(path: Path) -> list[tuple]:
    adds = pa.table(DeltaTable(str(path)).get_add_actions(flatten=True)).to_pylist()
    keys = [f"{kind}.{column}" for column in ("id", "_run_id") for kind in ("min", "max", "null_count")]
    return sorted(tuple(add.get(key) for key in keys) for add in adds)


def test_overwrite_equals_sparks_delta_overwrite(spark, tmp_path: Path) -> None:
    by_spark, by_files = tmp_path / "by_spark", tmp_path / "by_files"
    ref = TableRef("sms", "source", by_files)
    for run, every in (("r1", 1), ("r2", 2)):  # a first write creates the table; the second replaces it
        rows = _source(spark, run, every)
        options = {STATS_PROPERTY: ",".join(STATS), "overwriteSchema": "true", "userMetadata": run}
        rows.write.format("delta").mode("overwrite").options(**options).save(str(by_spark))
        assert overwrites_directly(ref, rows, LAYOUT) is None
        (by_files / f"{SCRATCH_PREFIX}killed").mkdir(parents=True, exist_ok=True)  # a killed write's leftovers
        assert overwrite_table(rows, ref, json.dumps({"run_id": run}), LAYOUT) == (0 if run == "r1" else 1)

    a, b = (spark.read.format("delta").load(str(p)) for p in (by_spark, by_files))
    assert a.count() == b.count() == 2787 and a.exceptAll(b).count() == 0 == b.exceptAll(a).count()
    assert _stats(by_spark) == _stats(by_files)
    # The footers keep the whole file name, where Spark's statistics cut it at 32 characters.
    added = pa.table(DeltaTable(str(by_files)).get_add_actions(flatten=True)).to_pylist()
    assert {f["min._source_file"] for f in added} == {FILE}
    table = DeltaTable(str(by_files))
    assert table.metadata().configuration[STATS_PROPERTY] == "id,_source_file,_run_id"
    assert json.loads(table.history(1)[0]["userMetadata"]) == {"run_id": "r2"}
    assert table.to_pyarrow_table().num_rows == 2787
    scanned = table.to_pyarrow_dataset()  # how `labellake query` reads a table in DuckDB
    assert scanned.count_rows() == 2787
    assert duckdb.sql("SELECT count(*) FROM scanned WHERE _run_id = 'r2' AND id >= 'sms:'").fetchall() == [(2787,)]
    first = spark.read.format("delta").option("versionAsOf", 0).load(str(by_files))
    assert first.count() == 5574 and first.where(F.col("_run_id") != "r1").count() == 0
    assert not list(by_files.glob(f"{SCRATCH_PREFIX}*"))


def test_an_older_tables_statistics_columns_are_replaced(spark, tmp_path: Path) -> None:
    """A source table from before (statistics named on ``_ingested_at`` too) is taken over: its
    files are all replaced, and the property names the columns the new files have figures for."""
    rows = _source(spark, "r1", 50)
    old = {STATS_PROPERTY: "id,_source_file,_run_id,_ingested_at"}
    rows.write.format("delta").options(**old).save(str(tmp_path / "t"))
    ref = TableRef("sms", "source", tmp_path / "t")
    assert overwrites_directly(ref, rows, LAYOUT) is None
    overwrite_table(rows, ref, "{}", LAYOUT)
    assert DeltaTable(str(tmp_path / "t")).metadata().configuration[STATS_PROPERTY] == "id,_source_file,_run_id"
    assert spark.read.format("delta").load(str(tmp_path / "t")).where(F.col("_run_id") == "r1").count() == 112


@pytest.mark.parametrize(
    "layout, reason",
    [
        ({"delta.appendOnly": "true"}, "properties"),
        ({"delta.enableChangeDataFeed": "true"}, "writer features"),
        ("partitioned", "partitioned"),
        ("other schema", "schema"),
    ],
)
def test_layouts_a_plain_overwrite_would_misrecord_are_refused(spark, tmp_path: Path, layout, reason: str) -> None:
    rows = _source(spark, "r1", 500)
    writer = rows.write.format("delta")
    if layout == "partitioned":
        writer = writer.partitionBy("_run_id")
    elif layout == "other schema":
        writer = rows.withColumn("extra", F.lit(1)).write.format("delta")
    else:
        writer = writer.options(**layout)
    writer.save(str(tmp_path / "t"))
    assert reason in (overwrites_directly(TableRef("sms", "source", tmp_path / "t"), rows, LAYOUT) or "")


def test_object_stores_timestamp_and_missing_statistics_are_refused(spark) -> None:
    rows = _source(spark, "r1", 500)
    assert overwrites_directly(TableRef("sms", "source", "s3a://bucket/source"), rows, LAYOUT)
    assert "timestamp" in (
        overwrites_directly(TableRef("sms", "source", "/x"), rows, Layout((*STATS, "_ingested_at"))) or ""
    )
    assert "no statistics column" in (
        overwrites_directly(TableRef("sms", "source", "/x"), rows, Layout(("nope",))) or ""
    )
