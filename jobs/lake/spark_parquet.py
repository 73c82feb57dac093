"""Tables written as plain Parquet by Spark and committed by delta-rs.

Spark's Delta writer gathers each statistics column's min/max/null count with an expression
evaluated on every row (strings truncated to 32 characters, so a long file path gains nothing
from it) and then spends driver work on the commit. Spark's plain Parquet writer already keeps
those figures in every file's footer. So large writes of tables on local or shared disk go:

- Spark writes the files into a scratch directory of the table (``_labellake_write-<uuid>``,
  hidden from Spark and Delta, which skip names that start with ``_``; one left by a killed
  write is removed by the next);
- the files move into the table's directories, their statistics read from their footers
  (:func:`jobs.lake.executor_writes.footer_stats`);
- delta-rs commits them in one transaction, with the ``userMetadata`` a Spark write records.

A write killed before the commit leaves files no version references (``VACUUM`` removes them).
Used by an LF edit's votes (:mod:`jobs.stages.apply.votes_files`) and by the ingest's source
table (:func:`overwrite_table`); docs/decisions/0017 and 0018.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import uuid
from pathlib import Path

from pyspark.sql import DataFrame

from jobs.lake.executor_writes import WrittenFile, footer_stats, plain_writer_protocol
from jobs.lake.tables import TableRef, local_path

log = logging.getLogger(__name__)

SCRATCH_PREFIX = "_labellake_write-"
STATS_PROPERTY = "delta.dataSkippingStatsColumns"
_KEPT_PROPERTIES = {"delta.enableDeletionVectors": "false"}
"""The properties a table this module creates carries besides its statistics columns (the ones
Spark's session gives every new table: no deletion vectors, so delta-rs reads it)."""


def spark_parquet_files(
    frame: DataFrame, root: Path, stats_columns: tuple[str, ...], partition_by: str | None = None
) -> list[WrittenFile]:
    """``frame`` written by Spark's Parquet writer (partitioned by ``partition_by``) and moved into
    the table at ``root``: each file's add-action fields, statistics of ``stats_columns`` from
    its footer. Nothing is committed."""
    root.mkdir(parents=True, exist_ok=True)
    for stale in root.glob(f"{SCRATCH_PREFIX}*"):  # a killed write's: never committed
        shutil.rmtree(stale, ignore_errors=True)
    scratch = root / f"{SCRATCH_PREFIX}{uuid.uuid4().hex}"
    try:
        writer = frame.write.partitionBy(partition_by) if partition_by else frame.write
        writer.parquet(str(scratch))
        written = sorted(scratch.rglob("*.parquet"))
        return [_moved_into_table(root, scratch, path, stats_columns) for path in written]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _moved_into_table(root: Path, scratch: Path, written: Path, stats_columns: tuple[str, ...]) -> WrittenFile:
    """Move a file Spark wrote under ``scratch`` to the same relative place in the table."""
    relative = written.relative_to(scratch).as_posix()
    target = root / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(written, target)
    info = target.stat()
    rows, stats = footer_stats(target, stats_columns)
    return WrittenFile(relative, info.st_size, rows, stats, int(info.st_mtime * 1000))


def _fields(schema_json: str) -> list[tuple[str, str]]:
    return [(f["name"], json.dumps(f["type"], sort_keys=True)) for f in json.loads(schema_json)["fields"]]


def _nullable_schema(frame: DataFrame) -> str:
    """``frame``'s schema with every column nullable, as Spark's Delta writer records a new table's."""
    schema = json.loads(frame.schema.json())
    return json.dumps({**schema, "fields": [{**f, "nullable": True} for f in schema["fields"]]})


def overwrites_directly(ref: TableRef, frame: DataFrame, stats_columns: tuple[str, ...]) -> str | None:
    """None when :func:`overwrite_table` may write ``frame`` to ``ref``, else why not: the table must
    be on a filesystem path and, if it exists, unpartitioned, on the plain protocol, with
    ``frame``'s schema and no property but its statistics columns (``stats_columns``, each one a
    footer keeps figures for: no INT96 timestamp) and no deletion vectors. Other statistics
    columns are replaced by these: every file the table keeps is rewritten."""
    if local_path(ref.path) is None:
        return "not on a filesystem path"
    if any(frame.schema[c].dataType.typeName() == "timestamp" for c in stats_columns):
        return "Spark's Parquet files keep no statistics of a timestamp (INT96)"
    if not ref.exists():
        return None
    if not plain_writer_protocol(ref):
        return "the table uses writer features"
    from deltalake import DeltaTable

    metadata = DeltaTable(str(ref.path)).metadata()
    if metadata.partition_columns:
        return "the table is partitioned"
    others = {k: v for k, v in metadata.configuration.items() if v is not None and k != STATS_PROPERTY}
    if others not in ({}, _KEPT_PROPERTIES):
        return f"the table has properties {sorted(others)}"
    schema = DeltaTable(str(ref.path)).schema().to_json()
    if _fields(schema) != _fields(frame.schema.json()):
        return "the schema changes"
    if not all(f["nullable"] for f in json.loads(schema)["fields"]):
        return "the table has NOT NULL columns (Spark's writer checks them)"
    return None


def overwrite_table(frame: DataFrame, ref: TableRef, user_metadata: str, stats_columns: tuple[str, ...]) -> int:
    """Replace every row of ``ref`` with ``frame`` in one delta-rs commit (creating the table, with
    ``stats_columns`` as its statistics columns); returns the new version. Check
    :func:`overwrites_directly` first."""
    from deltalake import DeltaTable, Schema
    from deltalake.transaction import (
        AddAction,
        CommitProperties,
        PostCommitHookProperties,
        RemoveAction,
        create_table_with_add_actions,
    )

    root = local_path(ref.path)
    assert root is not None, "overwrites_directly() first"
    files = spark_parquet_files(frame, root, stats_columns)
    actions = [AddAction(f.path, f.size, {}, f.modification_time, True, f.stats) for f in files]
    commit = CommitProperties(custom_metadata={"userMetadata": user_metadata})
    hooks = PostCommitHookProperties(create_checkpoint=True, cleanup_expired_logs=False)
    if ref.exists():
        table = DeltaTable(str(root))
        if table.metadata().configuration.get(STATS_PROPERTY) != ",".join(stats_columns):
            # Every file is replaced below; the old files' statistics cover what the table named.
            table.alter.set_table_properties({STATS_PROPERTY: ",".join(stats_columns)})
            table = DeltaTable(str(root))
        table.create_write_transaction(
            list[AddAction | RemoveAction](actions),
            mode="overwrite",
            schema=table.schema(),
            partition_by=None,
            commit_properties=commit,
            post_commithook_properties=hooks,
        )
    else:
        create_table_with_add_actions(
            str(root),
            Schema.from_json(_nullable_schema(frame)),
            actions,
            configuration={STATS_PROPERTY: ",".join(stats_columns), **_KEPT_PROPERTIES},
            commit_properties=commit,
            post_commithook_properties=hooks,
        )
    version = int(DeltaTable(str(root)).version())
    log.info(
        "%s: %d rows in %d files -> v%d (Spark's Parquet, delta-rs's commit)",
        ref.name,
        sum(f.rows for f in files),
        len(files),
        version,
    )
    return version
