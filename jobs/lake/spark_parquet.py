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
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

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


@dataclass(frozen=True)
class Layout:
    """How a table this module overwrites is laid out: the columns its files carry statistics for,
    the partition column (if any), and whether ``delta.dataSkippingStatsColumns`` names the
    statistics columns (else Delta's default applies: every data column, up to 32)."""

    stats_columns: tuple[str, ...]
    partition_by: str | None = None
    named_stats: bool = True

    def properties(self) -> dict[str, str]:
        named = {STATS_PROPERTY: ",".join(self.stats_columns)} if self.named_stats else {}
        return {**named, **_KEPT_PROPERTIES}


def overwrites_directly(ref: TableRef, frame: DataFrame, layout: Layout) -> str | None:
    """None when :func:`overwrite_table` may write ``frame`` to ``ref``, else why not: the table must
    be on a filesystem path and, if it exists, on the plain protocol, partitioned as ``layout``
    says, with ``frame``'s schema and no property but the layout's statistics columns and no
    deletion vectors; each statistics column must be one a footer keeps figures for (no INT96
    timestamp). Named statistics columns that differ are replaced: every file is rewritten."""
    if local_path(ref.path) is None:
        return "not on a filesystem path"
    missing = [c for c in layout.stats_columns if c not in frame.columns]
    if missing:
        return f"no statistics column {missing} in the rows"
    if any(frame.schema[c].dataType.typeName() == "timestamp" for c in layout.stats_columns):
        return "Spark's Parquet files keep no statistics of a timestamp (INT96)"
    if not layout.named_stats and set(layout.stats_columns) != set(frame.columns) - {layout.partition_by}:
        return "Delta's default statistics cover every data column"
    if not ref.exists():
        return None
    if not plain_writer_protocol(ref):
        return "the table uses writer features"
    from deltalake import DeltaTable

    table = DeltaTable(str(ref.path))
    metadata = table.metadata()
    if list(metadata.partition_columns) != ([layout.partition_by] if layout.partition_by else []):
        return f"the table is partitioned by {list(metadata.partition_columns)}"
    ignored = STATS_PROPERTY if layout.named_stats else None
    others = {k: v for k, v in metadata.configuration.items() if v is not None and k != ignored}
    if others not in ({}, _KEPT_PROPERTIES):
        return f"the table has properties {sorted(others)}"
    schema = table.schema().to_json()
    if _fields(schema) != _fields(frame.schema.json()):
        return "the schema changes"
    if not all(f["nullable"] for f in json.loads(schema)["fields"]):
        return "the table has NOT NULL columns (Spark's writer checks them)"
    return None


def partition_value(path: str, column: str) -> str:
    """The value a file's partition directory (``<column>=<value>/``) names, Spark's ``%XX`` escapes undone."""
    return unquote(path.split("/", 1)[0][len(column) + 1 :])


def overwrite_table(frame: DataFrame, ref: TableRef, user_metadata: str, layout: Layout) -> int:
    """Replace every row of ``ref`` with ``frame`` in one delta-rs commit (creating the table as
    ``layout`` says); returns the new version. Check :func:`overwrites_directly` first."""
    from deltalake import DeltaTable
    from deltalake.transaction import AddAction

    root = local_path(ref.path)
    assert root is not None, "overwrites_directly() first"
    column = layout.partition_by
    files = spark_parquet_files(frame, root, layout.stats_columns, column)
    actions = [
        AddAction(
            f.path,
            f.size,
            {column: partition_value(f.path, column)} if column else {},
            f.modification_time,
            True,
            f.stats,
        )
        for f in files
    ]
    try:
        _commit_overwrite(frame, ref, root, actions, user_metadata, layout)
    except Exception as exc:
        # Nothing was committed: the table stays at its version, the moved files are unreferenced.
        raise RuntimeError(f"{ref.name}: committing {len(files)} files Spark wrote to {root} failed: {exc}") from exc
    version = int(DeltaTable(str(root)).version())
    log.info(
        "%s: %d rows in %d files -> v%d (Spark's Parquet, delta-rs's commit)",
        ref.name,
        sum(f.rows for f in files),
        len(files),
        version,
    )
    return version


def _commit_overwrite(
    frame: DataFrame, ref: TableRef, root: Path, actions: list[Any], user_metadata: str, layout: Layout
) -> None:
    """Commit ``actions`` as every file of the table at ``root`` (created as ``layout`` says when new)."""
    from deltalake import DeltaTable, Schema
    from deltalake.transaction import (
        AddAction,
        CommitProperties,
        PostCommitHookProperties,
        RemoveAction,
        create_table_with_add_actions,
    )

    partitions = [layout.partition_by] if layout.partition_by else None
    commit = CommitProperties(custom_metadata={"userMetadata": user_metadata})
    hooks = PostCommitHookProperties(create_checkpoint=True, cleanup_expired_logs=False)
    if ref.exists():
        table = DeltaTable(str(root))
        named = layout.properties().get(STATS_PROPERTY)
        if named is not None and table.metadata().configuration.get(STATS_PROPERTY) != named:
            # Every file is replaced below; the old files' statistics cover what the table named.
            table.alter.set_table_properties({STATS_PROPERTY: named})
            table = DeltaTable(str(root))
        table.create_write_transaction(
            list[AddAction | RemoveAction](actions),
            mode="overwrite",
            schema=table.schema(),
            partition_by=partitions,
            commit_properties=commit,
            post_commithook_properties=hooks,
        )
    else:
        create_table_with_add_actions(
            str(root),
            Schema.from_json(_nullable_schema(frame)),
            actions,
            partition_by=partitions,
            configuration=layout.properties(),
            commit_properties=commit,
            post_commithook_properties=hooks,
        )
