"""The LF registry (jobs.stages.apply.registry.upsert_registry): every LF version applied, first and last run."""

from __future__ import annotations

from pathlib import Path

from pyspark.sql import functions as F

from jobs.bench.incremental_bench import edit_lf, edit_target
from jobs.core.datasets import get_dataset
from jobs.core.lineage import RunContext
from jobs.core.settings import Settings
from jobs.lake.tables import latest_commit, table
from jobs.stages.apply.registry import upsert_registry
from lf_library.core import LFPack
from lf_library.packs import load_pack
from tests.conftest import YOUTUBE, write_config


def test_registry_keeps_every_version_and_reads_in_spark(spark, tmp_path: Path, settings: Settings) -> None:
    import dataclasses

    yt = dataclasses.replace(settings, config_path=write_config(tmp_path / "datasets.toml", {"youtube_spam": YOUTUBE}))
    ds = get_dataset("youtube_spam", yt)
    pack = load_pack("youtube_spam")
    upsert_registry(yt, pack, ds, RunContext("night-1", ds.name))
    upsert_registry(yt, pack, ds, RunContext("night-2", ds.name))  # nothing changed: last_run moves
    target = edit_target(pack)
    new_version = edit_lf(target)
    edited = LFPack(pack.name, pack.classes, [new_version if lf is target else lf for lf in pack])
    upsert_registry(yt, edited, ds, RunContext("night-3", ds.name))  # one LF edited: a second version

    ref = table(yt, ds.name, "lf_registry")
    registry = spark.read.format("delta").load(str(ref.path))
    assert dict(registry.dtypes)["label_space"] == "array<string>" and dict(registry.dtypes)["label"] == "int"
    assert registry.count() == len(pack) + 1
    versions = registry.where(F.col("lf") == target.name).orderBy("first_run").collect()
    assert [(v["lf_version"], v["first_run"], v["last_run"]) for v in versions] == [
        (target.version, "night-1", "night-2"),
        (new_version.version, "night-3", "night-3"),
    ]
    others = registry.where(F.col("lf") != target.name).select("first_run", "last_run").distinct().collect()
    assert [(r["first_run"], r["last_run"]) for r in others] == [("night-1", "night-3")]
    row = registry.where(F.col("lf") == target.name).first()
    assert row["label_space"] == list(pack.classes) and row["dataset"] == ds.name and row["definition"]
    assert latest_commit(spark, ref)[1] == {"run_id": "night-3", "stage": "apply_lfs"}
    # Analysts filter it with DuckDB over delta-rs's Arrow dataset (string columns, not string_view).
    import duckdb
    from deltalake import DeltaTable

    con = duckdb.connect()
    con.register("lf_registry", DeltaTable(str(ref.path)).to_pyarrow_dataset())
    assert con.execute("SELECT max(last_run) FROM lf_registry WHERE lf = ?", [target.name]).fetchone()[0] == "night-3"
    # Time travel: the first night's registry is still there.
    assert spark.read.format("delta").option("versionAsOf", 0).load(str(ref.path)).count() == len(pack)


def test_per_run_rows_are_replaced_when_a_run_is_retried(spark, tmp_path: Path) -> None:
    """label_models and lf_analysis (jobs.lake.tables.replace_run_rows): a retried run replaces its own
    rows, other runs' rows stay, and Spark reads the table."""
    import pyarrow as pa

    from jobs.lake.tables import TableRef, replace_run_rows

    ref = TableRef("t", "lf_analysis", tmp_path / "lf_analysis")
    schema = pa.schema([("_run_id", pa.string()), ("lf", pa.string()), ("polarity", pa.list_(pa.int32()))])

    def rows(run, n):
        return pa.Table.from_pylist(
            [{"_run_id": run, "lf": f"lf{i}", "polarity": [i % 2]} for i in range(n)], schema=schema
        )

    replace_run_rows(ref, rows("scheduled__2026-11-29T00:00:00+00:00", 3), "scheduled__2026-11-29T00:00:00+00:00", "{}")
    replace_run_rows(ref, rows("night-2", 3), "night-2", '{"run_id": "night-2"}')
    replace_run_rows(ref, rows("night-2", 2), "night-2", '{"run_id": "night-2", "retry": 1}')
    frame = spark.read.format("delta").load(str(ref.path))
    counts = {r["_run_id"]: r["count"] for r in frame.groupBy("_run_id").count().collect()}
    assert counts == {"scheduled__2026-11-29T00:00:00+00:00": 3, "night-2": 2}
    assert dict(frame.dtypes)["polarity"] == "array<int>"
    assert latest_commit(spark, ref)[1] == {"run_id": "night-2", "retry": 1}
