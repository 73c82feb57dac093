"""An LF edit's old and new votes read from the files delta-rs lists equal Delta's time travel,
for partition values Spark writes escaped, and fall back to time travel when a file is gone.
So does one partition read with the table's schema (validate's read of a run's staged labels)."""

from __future__ import annotations

from pathlib import Path

from pyspark.sql import functions as F

from jobs.lake.table_files import partition_frame, partition_parquet_files
from jobs.lake.tables import TableRef
from jobs.patterns.incremental import votes_of
from jobs.stages.apply.votes import VOTES_SCHEMA

LFS = ["plain", "café", "a:b c"]


def _rows(frame) -> list[tuple]:
    return sorted(tuple(r) for r in frame.select("id", "lf", "vote", "lf_version").collect())


def test_listed_files_read_as_time_travel_does(spark, tmp_path: Path) -> None:
    votes = TableRef("ds", "votes", tmp_path / "votes")
    first = [(f"r{i}", lf, i % 2, "v1") for i in range(20) for lf in LFS if (i + len(lf)) % 3]
    spark.createDataFrame(first, VOTES_SCHEMA).write.format("delta").partitionBy("lf").save(str(votes.path))
    edited = [(f"r{i}", "café", 1, "v2") for i in range(0, 20, 4)]
    (
        spark.createDataFrame(edited, VOTES_SCHEMA)
        .write.format("delta")
        .mode("overwrite")
        .partitionBy("lf")
        .option("replaceWhere", "lf IN ('café')")
        .save(str(votes.path))
    )
    for version in (0, 1):
        listed = partition_parquet_files(votes, version, "lf", [*LFS, "silent"])
        assert listed is not None and listed["silent"] == [] and all(listed[lf] for lf in LFS)
        for lfs in (LFS, ["silent"]):
            expected = votes.read(spark, version).where(F.col("lf").isin(lfs))
            assert _rows(votes_of(spark, votes, version, lfs)) == _rows(expected), (version, lfs)
        for lf in LFS:
            frame = partition_frame(spark, votes, version, "lf", lf)
            expected = votes.read(spark, version).where(F.col("lf") == lf)
            assert frame is not None and frame.columns == expected.columns
            assert _rows(frame) == _rows(expected), (version, lf)
        assert partition_frame(spark, votes, version, "lf", "silent") is None  # no files: Spark reads it

    # A file VACUUM removed: the listing declines, and the read is Delta's (which reports it).
    listed = partition_parquet_files(votes, 0, "lf", ["café"])
    assert listed is not None
    Path(listed["café"][0]).unlink()
    assert partition_parquet_files(votes, 0, "lf", ["café"]) is None
    assert partition_frame(spark, votes, 0, "lf", "café") is None
    assert partition_parquet_files(votes, 1, "lf", ["café"]) is not None
