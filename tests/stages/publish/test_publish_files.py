"""Publishing by commit (jobs/stages/publish/commit_files.py): many publishes, read back by every engine
at every version.

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

from jobs.lake.tables import TableRef, latest_commit
from jobs.stages.publish.commit_files import _link, can_commit, commit_staged_files, staged_files
from jobs.stages.publish.stage import LABEL_COLUMNS, written_rows
from tests.conftest import DATA_ROOT


def _stage(spark, staging: TableRef, comments: pd.DataFrame, run_id: str, label: int) -> int:
    """A run's candidate labels (every comment labeled ``label``), written as the fit writes them."""
    rows = spark.createDataFrame(comments[["COMMENT_ID"]].rename(columns={"COMMENT_ID": "id"})).select(
        "id",
        F.lit(label).alias("label"),
        F.lit(f"class{label}").alias("label_name"),
        F.array(F.lit(1.0 - label), F.lit(float(label))).alias("probs"),
        F.lit(1.0).alias("confidence"),
        *[
            F.lit(None).cast(t).alias(c)
            for c, t in (("label_model_label", "int"), ("end_model_label", "int"), ("end_model_confidence", "double"))
        ],
        F.lit("src").alias("_source_table"),
        F.lit(0).cast("long").alias("_source_version"),
        F.lit("set").alias("_lf_set_version"),
        F.lit("{}").alias("_lf_versions"),
        F.lit("lfs").alias("_label_source"),
        F.lit("mv@1").alias("_label_model"),
        F.lit(None).cast("string").alias("_end_model"),
        F.current_timestamp().alias("_labeled_at"),
        F.lit("test").alias("_code_version"),
        F.lit(run_id).alias("_run_id"),
        F.lit(None).cast("string").alias("_dag_id"),
    )
    (
        rows.repartition(3)
        .write.format("delta")
        .mode("overwrite")
        .partitionBy("_run_id")
        .option("replaceWhere", f"_run_id = '{run_id}'")
        .option("userMetadata", json.dumps({"run_id": run_id}))
        .save(str(staging.path))
    )
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
        files = staged_files(staging, version, run_id)
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
        assert con.execute(f"SELECT count(DISTINCT id), min(_run_id), max(_run_id) FROM v{version}").fetchall() == [
            (len(comments), run_id, run_id)
        ]
    # Data skipping on id works from the staged statistics.
    one = comments["COMMENT_ID"].iloc[0]
    assert spark.read.format("delta").load(str(labels.path)).where(F.col("id") == one).count() == 1


def test_an_older_labels_table_learns_its_statistics_columns_at_the_next_publish(tmp_path: Path) -> None:
    """Staging keeps min/max for some columns only. A labels table created before it said so read
    ``WHERE label_name = 'SPAM'`` as no row in delta-rs (and DuckDB over it); its next publish fixes it."""
    import pyarrow as pa
    import pyarrow.dataset as ds
    from deltalake import write_deltalake
    from deltalake.transaction import AddAction, create_table_with_add_actions

    staging = TableRef("d", "staging_labels", tmp_path / "d" / "staging_labels")
    labels = TableRef("d", "labels", tmp_path / "d" / "labels")

    def stage(run_id: str) -> int:
        rows = pa.table(
            {
                "id": [f"{run_id}-{i}" for i in range(90)],
                "label_name": ["SPAM" if i % 3 == 0 else "HAM" for i in range(90)],
                "_run_id": [run_id] * 90,
            }
        )
        write_deltalake(
            str(staging.path),
            rows,
            mode="append",
            partition_by=["_run_id"],
            configuration={"delta.dataSkippingStatsColumns": "id"},
        )
        return DeltaTable(str(staging.path)).version()

    def spam_rows() -> int:
        return (
            DeltaTable(str(labels.path)).to_pyarrow_dataset().to_table(filter=ds.field("label_name") == "SPAM").num_rows
        )

    files = staged_files(staging, stage("r1"), "r1")
    for f in files:
        _link(staging.path / unquote(f.path), labels.path / unquote(f.path))
    create_table_with_add_actions(  # how publish created labels tables before: no data-skipping property
        str(labels.path),
        DeltaTable(str(staging.path)).schema(),
        [AddAction(unquote(f.path), f.size, f.partition_values, f.modification_time, True, f.stats) for f in files],
        partition_by=["_run_id"],
    )
    assert spam_rows() == 0  # the defect: every file pruned

    for run_id in ("r2", "r3"):
        commit_staged_files(
            labels,
            staging,
            staged_files(staging, stage(run_id), run_id),
            json.dumps({"run_id": run_id}),
            ("id", "label_name", "_run_id"),
        )
        assert DeltaTable(str(labels.path)).metadata().configuration == {"delta.dataSkippingStatsColumns": "id"}
        assert spam_rows() == 30
