"""The runs table: one row per run, dataset and attempt, updated by each stage.

Each stage MERGEs the columns it knows into the run's row (keyed by run id and
dataset: one Airflow DAG run relabels several datasets under one run id), so a
retried stage rewrites its own values instead of adding rows, and an analyst
sees in one place what a run read, produced, validated and published. A run id
started again from ingest (a cleared DAG run, ``labellake run --run-id`` reused)
is a new ``attempt`` row: what an earlier attempt did is history, never rewritten.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pyspark.sql import SparkSession
from pyspark.sql.types import LongType, StringType, StructField, StructType, TimestampType

from jobs.core.lineage import RunContext, code_version, utc_now
from jobs.core.settings import Settings
from jobs.lake.tables import TableRef, runs_table

if TYPE_CHECKING:
    import pyarrow as pa

RUNS_SCHEMA = StructType(
    [
        StructField("run_id", StringType(), False),
        StructField("dataset", StringType(), False),
        StructField("attempt", LongType(), True),
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
        StructField("lf_errors", StringType(), True),
        StructField("patterns", LongType(), True),
        StructField("label_model", StringType(), True),
        StructField("labeled_rows", LongType(), True),
        StructField("end_model", StringType(), True),
        StructField("gold_set_version", LongType(), True),
        StructField("source_validation", StringType(), True),
        StructField("votes_validation", StringType(), True),
        StructField("validation", StringType(), True),
        StructField("warnings", StringType(), True),
        StructField("thresholds", StringType(), True),
        StructField("data_docs", StringType(), True),
        StructField("labels_version", LongType(), True),
        StructField("labels_current_from", StringType(), True),
        StructField("published_rows", LongType(), True),
        StructField("review_queue", StringType(), True),
        StructField("stage_seconds", StringType(), True),
        StructField("finished_at", TimestampType(), True),
        StructField("code_version", StringType(), True),
        StructField("error", StringType(), True),
    ]
)
"""``source_changes``, ``lf_changes``, ``recomputed``, ``validation`` and ``stage_seconds``
are JSON: what the incremental diff found, what was recomputed (LFs x rows) and
why, each expectation's outcome, and each stage's wall time."""
JSON_COLUMNS = (
    "review_queue",
    "lf_errors",
    "source_changes",
    "lf_changes",
    "recomputed",
    "validation",
    "stage_seconds",
    "source_validation",
    "votes_validation",
    "warnings",
    "thresholds",
    "data_docs",
)
_COLUMNS = {f.name for f in RUNS_SCHEMA.fields}


_MERGE_ATTEMPTS = 8


def _arrow_schema() -> pa.Schema:
    """The runs schema for delta-rs: Spark's TimestampType is a UTC instant (Delta ``timestamp``)."""
    import pyarrow as pa

    kinds = {StringType: pa.string(), LongType: pa.int64(), TimestampType: pa.timestamp("us", tz="UTC")}
    return pa.schema([pa.field(f.name, kinds[type(f.dataType)], f.nullable) for f in RUNS_SCHEMA.fields])


def record_run(spark: SparkSession | None, settings: Settings, run: RunContext, **fields: Any) -> None:
    """Upsert ``fields`` into the row of ``run`` (created on first call).

    Written with delta-rs, not Spark: the runs table is tiny and every stage
    updates it, and a one-row Spark MERGE costs seconds of job scheduling
    (docs/decisions/0007), where delta-rs takes milliseconds. The
    table stays a plain Delta table that Spark, DuckDB and delta-rs all read.
    Concurrent runs of other datasets may commit in between: a conflicting
    commit is retried on the new snapshot (the MERGE is keyed by run id, so
    a retry is idempotent). ``spark`` is unused; it stays for the callers.
    """
    import pyarrow as pa

    unknown = set(fields) - _COLUMNS
    if unknown:
        raise ValueError(f"runs table has no columns {sorted(unknown)}")
    now = utc_now()
    known = fields.pop("attempt", None) or _ATTEMPTS.get(_attempt_key(settings, run))
    attempt = known or latest_attempt(settings, run.run_id, run.dataset) or 1
    values: dict[str, Any] = {
        "run_id": run.run_id,
        "dataset": run.dataset,
        "attempt": attempt,
        "trigger": run.trigger,
        "dag_id": run.dag_id,
        "mode": run.mode,
        "code_version": code_version(),
        "updated_at": now,
        **fields,
    }
    for column in JSON_COLUMNS:
        if isinstance(values.get(column), (list, dict)):
            values[column] = json.dumps(values[column], default=str, sort_keys=True)
    row = {name: values.get(name) for name in _COLUMNS} | {"started_at": now}
    update = pa.Table.from_pylist([row], schema=_arrow_schema())
    updated = [name for name in values if name not in ("run_id", "dataset")]
    _merge_run_row(runs_table(settings), update, updated)


def _merge_run_row(ref: TableRef, update: pa.Table, updated: list[str]) -> None:
    """MERGE the one-row ``update`` into the runs table by run, dataset and attempt (setting the
    ``updated`` columns of an existing row), retrying a commit another run's commit beat."""
    from deltalake import DeltaTable, write_deltalake
    from deltalake.exceptions import CommitFailedError

    for try_no in range(_MERGE_ATTEMPTS):
        try:
            if not ref.exists():
                write_deltalake(str(ref.path), update, mode="append")
                return
            runs = DeltaTable(str(ref.path))
            # Rows written before attempts were counted (no column, or null) are attempt 1.
            same_attempt = "coalesce(r.attempt, 1)" if _has_attempts(runs) else "1"
            (
                runs.merge(
                    source=update,
                    predicate=f"r.run_id = u.run_id AND r.dataset = u.dataset AND {same_attempt} = u.attempt",
                    source_alias="u",
                    target_alias="r",
                    merge_schema=True,
                )  # a runs table from an older labellake gains the new columns
                .when_matched_update(updates={name: f"u.`{name}`" for name in updated})
                .when_not_matched_insert_all()
                .execute()
            )
            return
        except CommitFailedError:
            if try_no == _MERGE_ATTEMPTS - 1:
                raise
            time.sleep(0.05 * (try_no + 1))


def _has_attempts(runs: Any) -> bool:
    """Runs tables written before attempts were counted have no ``attempt`` column until the next merge."""
    return "attempt" in runs.schema().to_arrow().names


def latest_attempt(settings: Settings, run_id: str, dataset: str) -> int | None:
    """The newest attempt number of ``run_id`` on ``dataset``, None before its first record."""
    from deltalake import DeltaTable

    ref = runs_table(settings)
    if not ref.exists():
        return None
    runs = DeltaTable(str(ref.path))
    has_attempts = _has_attempts(runs)
    found = runs.to_pyarrow_table(
        columns=["attempt"] if has_attempts else ["run_id"],
        filters=[("run_id", "=", run_id), ("dataset", "=", dataset)],
    )
    if not found.num_rows:
        return None
    return max((a or 1) for a in found.column("attempt").to_pylist()) if has_attempts else 1


def begin_attempt(settings: Settings, run: RunContext) -> int:
    """Record ``run`` as started (before its ingest does anything): attempt 1, or the next one
    when the id ran before, so a rerun adds a row instead of rewriting the earlier attempt's."""
    previous = latest_attempt(settings, run.run_id, run.dataset)
    attempt = 1 if previous is None else previous + 1
    record_run(None, settings, run, attempt=attempt, status="running", stage="ingest", error=None)
    if _attempt_key(settings, run) in _REMEMBERED:
        _ATTEMPTS[_attempt_key(settings, run)] = attempt
    return attempt


_REMEMBERED: set[tuple[str, str, str]] = set()
_ATTEMPTS: dict[tuple[str, str, str], int] = {}


def _attempt_key(settings: Settings, run: RunContext) -> tuple[str, str, str]:
    return str(settings.home), run.run_id, run.dataset


@contextmanager
def attempt_remembered(settings: Settings, run: RunContext) -> Iterator[None]:
    """Inside, the runs-table records of ``run`` reuse the attempt :func:`begin_attempt` started
    instead of looking it up each time (a read per record). Only for a caller that holds the
    dataset's lock throughout (``run_pipeline``): no other process can start an attempt meanwhile."""
    key = _attempt_key(settings, run)
    _REMEMBERED.add(key)
    try:
        yield
    finally:
        _REMEMBERED.discard(key)
        _ATTEMPTS.pop(key, None)


def run_record(
    spark: SparkSession | None, settings: Settings, run_id: str, dataset: str | None = None
) -> dict[str, Any] | None:
    """The runs-table row of ``run_id`` (for ``dataset``) as a dict, or None.

    Read with delta-rs: no Spark job. Without ``dataset``, the run must have
    relabeled a single dataset (a DAG run over several has a row per dataset).
    """
    from deltalake import DeltaTable

    ref = runs_table(settings)
    if not ref.exists():
        return None
    filters = [("run_id", "=", run_id)] + ([("dataset", "=", dataset)] if dataset else [])
    rows = DeltaTable(str(ref.path)).to_pyarrow_table(filters=filters).to_pylist()
    if not rows:
        return None
    newest: dict[str, dict[str, Any]] = {}  # the latest attempt per dataset
    for row in rows:
        seen = newest.get(row["dataset"])
        if seen is None or (row.get("attempt") or 1) > (seen.get("attempt") or 1):
            newest[row["dataset"]] = row
    if len(newest) > 1:
        raise ValueError(f"run {run_id!r} relabeled {sorted(newest)}: name the dataset")
    (row,) = newest.values()
    return {k: (v.replace(tzinfo=None) if isinstance(v, datetime) else v) for k, v in row.items()}


def recent_runs(settings: Settings, dataset: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
    """The newest ``limit`` runs (of ``dataset``), newest first: id, dataset, status, stage, error."""
    from deltalake import DeltaTable

    ref = runs_table(settings)
    if not ref.exists():
        return []
    columns = ["run_id", "dataset", "attempt", "status", "stage", "updated_at", "error"]
    filters = [("dataset", "=", dataset)] if dataset else None
    rows = DeltaTable(str(ref.path)).to_pyarrow_table(columns=columns, filters=filters).to_pylist()
    rows.sort(key=lambda r: (r["updated_at"] is not None, r["updated_at"]), reverse=True)
    return rows[:limit]
