"""Staging written as pattern lookups (jobs/stages/fit/staging.py), against Spark's own writer, on real comments.

The same fit, once through ``DataFrame.write`` and once through the Arrow
writer, must stage the same rows; the Arrow files must be a partition Spark
would have named, carry exact statistics, be replaced (not duplicated) when
the run is retried, and read back through delta-rs and DuckDB with filters.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import unquote

import duckdb
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable
from pyspark.sql import functions as F

from jobs.core.lineage import RunContext
from jobs.lake.tables import TableRef, table
from jobs.pipeline import run_pipeline, run_stage
from jobs.stages.fit import staging as staging_files
from tests.conftest import DAWID_SKENE_RUN, shares_first_run

SPARK_RUN = "scheduled__2026-11-30T00:00:00+00:00"
ARROW_RUN = DAWID_SKENE_RUN[1].run_id  # the shared Dawid-Skene lakehouse's first run, staged by Arrow


def _adds(staging: Path, version: int) -> list[dict]:
    lines = (staging / "_delta_log" / f"{version:020d}.json").read_text().splitlines()
    return [json.loads(line)["add"] for line in lines if "add" in json.loads(line)]


@shares_first_run("dawid_skene")
@pytest.mark.slow
def test_pattern_lookup_staging_equals_sparks_write(spark, lake_after_run, monkeypatch) -> None:
    """The shared Dawid-Skene lakehouse's run staged its labels as pattern lookups (Arrow); a full
    rerun with Spark's writer must stage the same rows."""
    yt, _ = lake_after_run(*DAWID_SKENE_RUN)
    staging = table(yt, "youtube_spam", "staging_labels")
    arrow_version = DeltaTable(str(staging.path)).version()
    with monkeypatch.context() as patched:
        patched.setattr(staging_files, "applies", lambda ref: False)
        run_pipeline(RunContext(SPARK_RUN, "youtube_spam", mode="full"), yt, spark)

    frame = spark.read.format("delta").load(str(staging.path))
    # A full run ingests again: the Spark run reads source v1, the Arrow run v0; all else is equal.
    columns = [c for c in frame.columns if c not in ("_run_id", "_labeled_at", "_source_version")]
    by_spark = frame.where(F.col("_run_id") == SPARK_RUN).select(columns)
    by_arrow = frame.where(F.col("_run_id") == ARROW_RUN).select(columns)
    ids = spark.read.format("delta").load(str(table(yt, "youtube_spam", "source").path)).select("id").distinct().count()
    assert by_spark.count() == by_arrow.count() == ids > 1900
    assert by_spark.exceptAll(by_arrow).count() == 0 and by_arrow.exceptAll(by_spark).count() == 0
    assert by_arrow.where(F.col("label") >= 0).count() > 0.5 * ids  # real labels, not an empty match
    stamped = frame.where(F.col("_run_id") == ARROW_RUN).select("_labeled_at", "_source_version").distinct().collect()
    assert len(stamped) == 1 and stamped[0][0] is not None and stamped[0][1] == 0

    # Both runs' partitions are named as Spark names them (':' escaped).
    directories = {p.name for p in staging.path.iterdir() if p.name.startswith("_run_id=")}
    assert {"_run_id=" + r.replace(":", "%3A") for r in (SPARK_RUN, ARROW_RUN)} <= directories

    # The Arrow commit's statistics are each file's exact row count and id/label/confidence bounds.
    adds = _adds(staging.path, arrow_version)
    assert adds and sum(json.loads(a["stats"])["numRecords"] for a in adds) == ids
    for add in adds:
        stats = json.loads(add["stats"])
        data = pq.read_table(staging.path / unquote(add["path"]), columns=["id", "label", "confidence"])
        assert data.num_rows == stats["numRecords"] and add["partitionValues"] == {"_run_id": ARROW_RUN}
        for column in ("id", "label", "confidence"):
            bounds = pc.min_max(data.column(column))
            assert (stats["minValues"][column], stats["maxValues"][column]) == (
                bounds["min"].as_py(),
                bounds["max"].as_py(),
            )

    # A retried fit replaces the run's partition; the other run's candidates stay.
    run_stage("fit_label_model", RunContext(ARROW_RUN, "youtube_spam", mode="full"), yt, spark)  # refits
    again = spark.read.format("delta").load(str(staging.path))
    assert again.where(F.col("_run_id") == ARROW_RUN).count() == ids
    assert again.where(F.col("_run_id") == SPARK_RUN).count() == ids

    # The Arrow run's published labels (version 0: its files) answer filters through delta-rs and DuckDB.
    labels = table(yt, "youtube_spam", "labels")
    spam = by_arrow.where(F.col("label_name") == "SPAM").count()
    assert spam > 0
    dataset = DeltaTable(str(labels.path), version=0).to_pyarrow_dataset()
    assert dataset.to_table(filter=pc.field("label_name") == "SPAM").num_rows == spam
    con = duckdb.connect()
    con.register("labels", dataset)
    assert (
        con.execute("SELECT count(*) FROM labels WHERE label_name = 'SPAM' AND _run_id = ?", [ARROW_RUN]).fetchone()[0]
        == spam
    )


def test_tables_with_table_features_are_left_to_sparks_writer(spark, tmp_path: Path) -> None:
    plain = TableRef("t", "staging_labels", tmp_path / "plain")
    featured = TableRef("t", "staging_labels", tmp_path / "featured")
    assert staging_files.applies(plain)  # not created yet: the fit creates it on the plain protocol
    rows = spark.range(3).select(F.col("id").cast("string").alias("id"), F.lit("r").alias("_run_id"))
    rows.write.format("delta").partitionBy("_run_id").save(str(plain.path))
    (
        rows.write.format("delta")
        .partitionBy("_run_id")
        .option("delta.enableDeletionVectors", "true")
        .save(str(featured.path))
    )
    assert staging_files.applies(plain)
    assert not staging_files.applies(featured)
    assert not staging_files.applies(TableRef("t", "staging_labels", "s3a://bucket/staging_labels"))


def test_stored_row_files_update_codes_as_spark_does(spark, tmp_path: Path) -> None:
    """The Arrow reading of stored row patterns (jobs.patterns.incremental.StoredRowFiles) gives the
    codes Spark's updated rows give, and refuses rows whose pattern the fit did not predict."""
    import glob

    import pandas as pd
    import pyarrow as pa
    import pytest

    from jobs.lake.table_files import plain_parquet_files
    from jobs.patterns.incremental import StoredRowFiles
    from tests.conftest import DATA_ROOT

    ids = pd.concat(
        [pd.read_csv(p, usecols=["COMMENT_ID"]) for p in sorted(glob.glob(str(DATA_ROOT / "youtube_spam" / "*.csv")))]
    )["COMMENT_ID"].drop_duplicates()
    rows = spark.createDataFrame(pd.DataFrame({"id": ids.to_numpy()})).select(
        "id", (F.xxhash64("id") % 7).alias("_p0"), (F.xxhash64(F.concat("id", F.lit("x"))) % 5).alias("_p1")
    )
    ref = TableRef("t", "row_patterns", tmp_path / "row_patterns")
    rows.repartition(3).write.format("delta").save(str(ref.path))
    stored = spark.read.format("delta").load(str(ref.path))
    # An edit moves every 4th row's first code by +2 and every 6th row's second code by -1.
    change = (
        stored.select("id", F.monotonically_increasing_id().alias("n"))
        .select(
            "id",
            F.when(F.col("n") % 4 == 0, 2).otherwise(0).cast("long").alias("_d_p0"),
            F.when(F.col("n") % 6 == 0, -1).otherwise(0).cast("long").alias("_d_p1"),
        )
        .where("_d_p0 <> 0 OR _d_p1 <> 0")
    ).localCheckpoint()
    by_spark = (
        stored.join(change, "id", "left")
        .select("id", *[(F.col(c) + F.coalesce(F.col(f"_d{c}"), F.lit(0))).alias(c) for c in ("_p0", "_p1")])
        .toPandas()
        .sort_values("id")
        .reset_index(drop=True)
    )
    files = plain_parquet_files(ref, 0)
    assert files and len(files) == 3
    arrow = StoredRowFiles(tuple(files), ("_p0", "_p1"), change.toArrow())
    by_arrow = pa.concat_tables([arrow.rows(f) for f in files]).to_pandas().sort_values("id").reset_index(drop=True)
    pd.testing.assert_frame_equal(by_arrow, by_spark, check_dtype=False)
    assert (by_arrow[["_p0", "_p1"]] != stored.toPandas().sort_values("id").reset_index(drop=True)[["_p0", "_p1"]]).any(
        axis=None
    )  # the edit changed codes

    keys = by_spark[["_p0", "_p1"]].drop_duplicates().reset_index(drop=True)
    keys["_pattern"] = range(len(keys))
    indexed = pa.concat_tables([arrow.indexed_rows(f, pa.Table.from_pandas(keys), "_pattern") for f in files])
    expected = by_spark.merge(keys, on=["_p0", "_p1"])[["id", "_pattern"]].sort_values("id").reset_index(drop=True)
    pd.testing.assert_frame_equal(
        indexed.to_pandas().sort_values("id").reset_index(drop=True), expected, check_dtype=False
    )
    with pytest.raises(ValueError, match="did not predict"):
        for f in files:
            arrow.indexed_rows(f, pa.Table.from_pandas(keys.iloc[1:]), "_pattern")

    # Deletion vectors: a file no longer holds exactly its rows, so the table is left to Spark.
    featured = TableRef("t", "row_patterns", tmp_path / "featured")
    rows.write.format("delta").option("delta.enableDeletionVectors", "true").save(str(featured.path))
    assert plain_parquet_files(featured, 0) is None
    assert plain_parquet_files(TableRef("t", "row_patterns", "s3a://bucket/row_patterns"), 0) is None
