"""Commit metadata read without Spark: a log delta-rs cannot read is a clear error, not a crash."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobs.core.errors import StageOrderError
from jobs.lake.tables import TableRef, commit_at, commit_history, latest_commit


def test_an_unreadable_log_without_spark_names_the_table(tmp_path: Path) -> None:
    log = tmp_path / "votes" / "_delta_log"
    log.mkdir(parents=True)
    (log / "00000000000000000000.json").write_text("{not json\n")
    ref = TableRef("youtube_spam", "votes", tmp_path / "votes")
    for read in (lambda: latest_commit(None, ref), lambda: commit_at(None, ref, 0), lambda: commit_history(None, ref)):
        with pytest.raises(StageOrderError, match="youtube_spam_votes: delta-rs cannot read the Delta log"):
            read()


def test_row_counts_come_from_the_log_unless_deletion_vectors_hide_rows(spark, tmp_path: Path) -> None:
    """``table_rows`` sums the files' numRecords; a table whose deletion vectors removed rows is
    counted by Spark, as its files' numRecords still include them. Older versions, too."""
    from jobs.lake.table_files import table_rows

    plain, deleted = TableRef("t", "votes", tmp_path / "plain"), TableRef("t", "source", tmp_path / "deleted")
    rows = spark.range(1000).selectExpr("CAST(id AS STRING) AS id")
    rows.write.format("delta").save(str(plain.path))
    rows.limit(10).write.format("delta").mode("overwrite").save(str(plain.path))
    assert (table_rows(spark, plain, 0), table_rows(spark, plain, 1)) == (1000, 10)
    rows.write.format("delta").option("delta.enableDeletionVectors", "true").save(str(deleted.path))
    spark.sql(f"DELETE FROM delta.`{deleted.path}` WHERE id < '5'")  # '0'..'4' and every id that sorts below
    assert table_rows(spark, deleted, 1) == spark.read.format("delta").load(str(deleted.path)).count() < 1000
