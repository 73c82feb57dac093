"""The runs table: one row per run of any dataset, updated by each stage.

Each stage MERGEs the columns it knows into the run's row (keyed by run id),
so a retried stage rewrites its own values instead of adding rows, and an
analyst sees in one place what a run read, produced, validated and published.
"""

from __future__ import annotations

import json
from typing import Any

from delta.tables import DeltaTable
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import LongType, StringType, StructField, StructType, TimestampType

from jobs.lineage import RunContext, code_version, utc_now
from jobs.settings import Settings
from jobs.tables import runs_table

RUNS_SCHEMA = StructType([
    StructField("run_id", StringType(), False),
    StructField("dataset", StringType(), False),
    StructField("trigger", StringType(), True),
    StructField("dag_id", StringType(), True),
    StructField("mode", StringType(), True),
    StructField("status", StringType(), True),
    StructField("stage", StringType(), True),
    StructField("started_at", TimestampType(), True),
    StructField("updated_at", TimestampType(), True),
    StructField("input_rows", LongType(), True),
    StructField("accepted_rows", LongType(), True),
    StructField("quarantined_rows", LongType(), True),
    StructField("source_table", StringType(), True),
    StructField("source_version", LongType(), True),
    StructField("source_changes", StringType(), True),
    StructField("lf_set_version", StringType(), True),
    StructField("lf_changes", StringType(), True),
    StructField("recomputed", StringType(), True),
    StructField("votes", LongType(), True),
    StructField("votes_version", LongType(), True),
    StructField("patterns", LongType(), True),
    StructField("label_model", StringType(), True),
    StructField("labeled_rows", LongType(), True),
    StructField("source_validation", StringType(), True),
    StructField("votes_validation", StringType(), True),
    StructField("validation", StringType(), True),
    StructField("warnings", StringType(), True),
    StructField("thresholds", StringType(), True),
    StructField("data_docs", StringType(), True),
    StructField("labels_version", LongType(), True),
    StructField("published_rows", LongType(), True),
    StructField("stage_seconds", StringType(), True),
    StructField("finished_at", TimestampType(), True),
    StructField("code_version", StringType(), True),
    StructField("error", StringType(), True),
])
"""``source_changes``, ``lf_changes``, ``recomputed``, ``validation`` and ``stage_seconds``
are JSON: what the incremental diff found, what was recomputed (LFs x rows) and
why, each expectation's outcome, and each stage's wall time."""
JSON_COLUMNS = ("source_changes", "lf_changes", "recomputed", "validation", "stage_seconds", "source_validation",
                "votes_validation", "warnings", "thresholds", "data_docs")
_COLUMNS = {f.name for f in RUNS_SCHEMA.fields}


def record_run(spark: SparkSession, settings: Settings, run: RunContext, **fields: Any) -> None:
    """Upsert ``fields`` into the row of ``run`` (created on first call)."""
    unknown = set(fields) - _COLUMNS
    if unknown:
        raise ValueError(f"runs table has no columns {sorted(unknown)}")
    now = utc_now()
    values: dict[str, Any] = {
        "run_id": run.run_id, "dataset": run.dataset, "trigger": run.trigger, "dag_id": run.dag_id,
        "mode": run.mode, "code_version": code_version(), "updated_at": now, **fields,
    }
    for column in JSON_COLUMNS:
        if isinstance(values.get(column), (list, dict)):
            values[column] = json.dumps(values[column], default=str, sort_keys=True)
    row = {name: values.get(name) for name in _COLUMNS}
    row["started_at"] = now
    update = spark.createDataFrame([tuple(row[f.name] for f in RUNS_SCHEMA.fields)], RUNS_SCHEMA)
    ref = runs_table(settings)
    if not ref.exists():
        update.write.format("delta").mode("append").save(str(ref.path))
        return
    set_columns = {name: f"u.{name}" for name in values if name != "run_id"}
    (DeltaTable.forPath(spark, str(ref.path)).alias("r")
     .merge(update.alias("u"), "r.run_id = u.run_id")
     .withSchemaEvolution()  # a runs table from an older labellake gains the new columns
     .whenMatchedUpdate(set=set_columns)
     .whenNotMatchedInsertAll()
     .execute())


def run_record(spark: SparkSession, settings: Settings, run_id: str) -> dict[str, Any] | None:
    """The runs-table row of ``run_id`` as a dict, or None."""
    ref = runs_table(settings)
    if not ref.exists():
        return None
    row = spark.read.format("delta").load(str(ref.path)).where(F.col("run_id") == run_id).first()
    return row.asDict() if row else None
