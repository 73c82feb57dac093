"""An LF edit's votes written as Parquet and committed by delta-rs (jobs/stages/apply/votes_files.py)
equal Spark's Delta ``replaceWhere`` write, on real youtube LF votes (WRENCH): the same rows, the
same per-file statistics, the other LFs' files untouched, no scratch left behind."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable
from pyspark.sql import functions as F

from jobs.lake.spark_parquet import SCRATCH_PREFIX
from jobs.lake.tables import TableRef
from jobs.stages.apply.votes_files import overwrite_votes, write_lf_partitions, writes_directly
from tests.conftest import DATA_ROOT

SCHEMA = "id string, lf string, vote int, lf_version string"
EDITED = ["lf_01", "lf_04"]
REMOVED = "lf_07"


def _long_votes(edit: bool) -> list[tuple[str, str, int, str]]:
    """The WRENCH youtube train votes, long and sparse; ``edit``: the EDITED LFs flip every third
    vote and vote on every eleventh row they abstained on, under a new version."""
    data = json.loads((DATA_ROOT / "wrench" / "youtube" / "train.json").read_text())
    rows = []
    for i, (key, item) in enumerate(data.items()):
        for j, vote in enumerate(item["weak_labels"]):
            lf = f"lf_{j:02d}"
            if edit and lf in EDITED:
                vote = 1 - vote if vote >= 0 and i % 3 == 0 else (0 if vote < 0 and i % 11 == 0 else vote)
            if vote >= 0:
                rows.append((f"yt{key}", lf, int(vote), "v2" if edit and lf in EDITED else "v1"))
    return rows


def _adds(path: Path) -> dict[str, list[tuple]]:
    """Per LF: each file's (rows, min/max/nulls of id, vote, lf_version), sorted."""
    found: dict[str, list[tuple]] = {}
    for add in pa.table(DeltaTable(str(path)).get_add_actions(flatten=True)).to_pylist():
        stats = tuple(
            add.get(f"{kind}.{c}") for c in ("id", "vote", "lf_version") for kind in ("min", "max", "null_count")
        )
        found.setdefault(add["partition.lf"], []).append((add["num_records"], *stats))
    return {lf: sorted(files) for lf, files in found.items()}


def test_edited_votes_equal_sparks_delta_write(spark, tmp_path: Path) -> None:
    before = spark.createDataFrame(_long_votes(edit=False), SCHEMA)
    by_spark, by_files = tmp_path / "by_spark", tmp_path / "by_files"
    before.repartition("lf").write.format("delta").partitionBy("lf").save(str(by_spark))
    shutil.copytree(by_spark, by_files)
    (by_files / f"{SCRATCH_PREFIX}killed" / "lf=lf_01").mkdir(parents=True)  # a killed write's leftovers
    edited = spark.createDataFrame([r for r in _long_votes(edit=True) if r[1] in EDITED], SCHEMA).repartition(3)
    replaced = [*EDITED, REMOVED]

    (
        edited.write.format("delta")
        .mode("overwrite")
        .partitionBy("lf")
        .option("replaceWhere", "lf IN ('lf_01', 'lf_04', 'lf_07')")
        .save(str(by_spark))
    )
    ref = TableRef("yt", "votes", by_files)
    assert writes_directly(ref)
    version = write_lf_partitions(edited, ref, replaced, json.dumps({"run_id": "edit"}))

    assert version == 1 == DeltaTable(str(by_spark)).version()
    a, b = (spark.read.format("delta").load(str(p)) for p in (by_spark, by_files))
    assert a.count() == b.count() > 1000 and a.exceptAll(b).count() == 0 == b.exceptAll(a).count()
    assert b.where(F.col("lf") == REMOVED).count() == 0 and b.where(F.col("lf") == "lf_01").count() > 50
    # Each edited LF's files carry the statistics Spark's writer records; other LFs keep their files.
    spark_adds, file_adds = _adds(by_spark), _adds(by_files)
    assert spark_adds == file_adds and REMOVED not in file_adds
    history = DeltaTable(str(by_files)).history(1)[0]
    assert json.loads(history["userMetadata"]) == {"run_id": "edit"}
    assert not list(by_files.glob(f"{SCRATCH_PREFIX}*"))


def test_full_votes_equal_sparks_delta_write_and_take_edits(spark, tmp_path: Path) -> None:
    """A full run's votes, by delta-rs (created, then replaced), equal Spark's Delta write file for
    file; the table is one an LF edit then writes directly."""
    by_spark, by_files = tmp_path / "by_spark", tmp_path / "by_files"
    ref = TableRef("yt", "votes", by_files)
    for edit in (False, True):
        votes = spark.createDataFrame(_long_votes(edit=edit), SCHEMA).repartition(4)
        writer = votes.repartition("lf").write.format("delta").mode("overwrite").partitionBy("lf")
        writer.option("overwriteSchema", "true").save(str(by_spark))
        assert overwrite_votes(votes, ref, json.dumps({"run_id": f"full-{edit}"}))
    a, b = (spark.read.format("delta").load(str(p)) for p in (by_spark, by_files))
    assert a.count() == b.count() > 1000 and a.exceptAll(b).count() == 0 == b.exceptAll(a).count()
    assert _adds(by_spark) == _adds(by_files) and DeltaTable(str(by_files)).version() == 1
    assert writes_directly(ref)
    assert not overwrite_votes(votes.withColumn("extra", F.lit(1)), ref, "{}")  # a schema change: Spark's writer


@pytest.mark.parametrize(
    "option",
    [
        ("delta.appendOnly", "true"),
        ("delta.dataSkippingNumIndexedCols", "1"),
        ("delta.enableDeletionVectors", "true"),
    ],
)
def test_tables_a_plain_write_would_misrecord_go_through_spark(spark, tmp_path: Path, option) -> None:
    votes = spark.createDataFrame([("a", "lf_01", 1, "v1")], SCHEMA)
    votes.write.format("delta").partitionBy("lf").option(*option).save(str(tmp_path / "t"))
    assert not writes_directly(TableRef("yt", "votes", tmp_path / "t"))
    votes.write.format("delta").save(str(tmp_path / "unpartitioned"))
    assert not writes_directly(TableRef("yt", "votes", tmp_path / "unpartitioned"))
    assert not writes_directly(TableRef("yt", "votes", tmp_path / "missing"))
    assert not writes_directly(TableRef("yt", "votes", "s3a://bucket/votes"))


def test_footer_statistics_leave_out_what_a_file_does_not_bound(tmp_path: Path) -> None:
    """Min and max over the row groups that have values; a column of nulls only has its null count;
    a column a row group keeps no statistics for is left out (unknown to Delta, never wrong)."""
    import pyarrow.parquet as pq

    from jobs.lake.executor_writes import footer_stats

    path = tmp_path / "f.parquet"
    table = pa.table(
        {
            "id": ["b", "a", None, "c"],
            "vote": pa.array([None, None, None, None], pa.int32()),
            "lf_version": ["v1", "v1", "v2", "v2"],
        }
    )
    pq.write_table(table, path, row_group_size=2, write_statistics=["id", "vote"])
    rows, stats = footer_stats(path, ("id", "vote", "lf_version"))
    assert rows == 4 and json.loads(stats) == {
        "numRecords": 4,
        "minValues": {"id": "a"},
        "maxValues": {"id": "c"},
        "nullCount": {"id": 1, "vote": 4},
    }
