"""Publishing by commit (jobs/publish_files.py): many publishes, read back by every engine at every version.

The commits are delta-rs transactions over files Spark wrote. Spark, delta-rs
and DuckDB must all read each version exactly as staged (run ids with spaces
and colons included), and a publish retried after its files were linked must
not duplicate anything.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import unquote

import duckdb
import pandas as pd
from deltalake import DeltaTable
from pyspark.sql import functions as F

from jobs.publish import LABEL_COLUMNS, written_rows
from jobs.publish_files import _link, can_commit, commit_staged_files, staged_files
from jobs.tables import TableRef, latest_commit
from tests.conftest import DATA_ROOT


def _stage(spark, staging: TableRef, comments: pd.DataFrame, run_id: str, label: int) -> int:
    """A run's candidate labels (every comment labeled ``label``), written as the fit writes them."""
    rows = (spark.createDataFrame(comments[["COMMENT_ID"]].rename(columns={"COMMENT_ID": "id"}))
            .select("id", F.lit(label).alias("label"), F.lit(f"class{label}").alias("label_name"),
                    F.array(F.lit(1.0 - label), F.lit(float(label))).alias("probs"), F.lit(1.0).alias("confidence"),
                    *[F.lit(None).cast(t).alias(c) for c, t in (("label_model_label", "int"), ("end_model_label", "int"),
                                                                  ("end_model_confidence", "double"))],
                    F.lit("src").alias("_source_table"), F.lit(0).cast("long").alias("_source_version"),
                    F.lit("set").alias("_lf_set_version"), F.lit("{}").alias("_lf_versions"),
                    F.lit("lfs").alias("_label_source"), F.lit("mv@1").alias("_label_model"),
                    F.lit(None).cast("string").alias("_end_model"), F.current_timestamp().alias("_labeled_at"),
                    F.lit("test").alias("_code_version"), F.lit(run_id).alias("_run_id"),
                    F.lit(None).cast("string").alias("_dag_id")))
    (rows.repartition(3).write.format("delta").mode("overwrite").partitionBy("_run_id")
     .option("replaceWhere", f"_run_id = '{run_id}'").option("userMetadata", json.dumps({"run_id": run_id}))
     .save(str(staging.path)))
    return DeltaTable(str(staging.path)).version()


def test_twelve_publishes_read_back_at_every_version(spark, tmp_path: Path) -> None:
    comments = pd.read_csv(sorted((DATA_ROOT / "youtube_spam").glob("*.csv"))[0], dtype=str)
    comments = comments.drop_duplicates("COMMENT_ID")
    staging = TableRef("t", "staging_labels", tmp_path / "staging_labels")
    labels = TableRef("t", "labels", tmp_path / "labels")
    runs = [f"run {i}: 2026-11-29T10:{i:02d}" for i in range(12)]  # spaces and colons: escaped paths
    for i, run_id in enumerate(runs):
        version = _stage(spark, staging, comments, run_id, i % 2)
        assert can_commit(labels, staging, LABEL_COLUMNS) is None
        files = staged_files(staging.path, version, run_id)
        meta = json.dumps({"run_id": run_id, "rows": sum(f.rows for f in files)})
        if i == 3:  # a publish that linked its files, then died before committing, is retried
            for f in files:
                _link(staging.path / unquote(f.path), labels.path / unquote(f.path))
        assert commit_staged_files(labels, staging, files, meta, LABEL_COLUMNS) == i

    dt = DeltaTable(str(labels.path))
    assert dt.version() == 11 and dt.metadata().partition_columns == ["_run_id"]
    assert list(dt.schema().to_arrow().names) == list(LABEL_COLUMNS)
    assert latest_commit(spark, labels) == (11, {"run_id": runs[11], "rows": len(comments)})
    assert written_rows(spark, labels.path) == len(comments)
    con = duckdb.connect()  # via delta-rs's Arrow dataset, as `labellake query` reads
    for version, run_id in enumerate(runs):
        frame = spark.read.format("delta").option("versionAsOf", version).load(str(labels.path))
        got = frame.groupBy("_run_id", "label").count().collect()
        assert [(r["_run_id"], r["label"], r["count"]) for r in got] == [(run_id, version % 2, len(comments))]
        arrow = DeltaTable(str(labels.path), version=version).to_pyarrow_dataset()
        con.register(f"v{version}", arrow)
        assert con.execute(f"SELECT count(DISTINCT id), min(_run_id), max(_run_id) FROM v{version}").fetchall() == [(
            len(comments), run_id, run_id)]
    # Data skipping on id works from the staged statistics.
    one = comments["COMMENT_ID"].iloc[0]
    assert spark.read.format("delta").load(str(labels.path)).where(F.col("id") == one).count() == 1
