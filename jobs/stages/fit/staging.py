"""Write a run's candidate labels as pattern lookups: Arrow on the executors, one Delta commit.

Why not ``DataFrame.write``: when the label model is fitted on the driver, every
candidate row is its vote pattern's prediction plus the run's lineage, so all
columns but ``id`` take one of a few hundred values. Spark's Parquet writer
still pays per value and per column (encoding, dictionary lookup, statistics).
Here each task takes its rows' pattern index (``_pattern``), looks the staged
columns up in the per-pattern table with Arrow's ``take`` on dictionary-encoded
columns (so each constant is written as a dictionary index, never hashed per
row) and writes one Parquet file with pyarrow (measured in docs/decisions/0005).

The files are committed to the staging table by delta-rs, in one transaction
that replaces the run's ``_run_id`` partition (what Spark's ``replaceWhere``
did), with the min/max statistics of the table's ``delta.dataSkippingStatsColumns``
computed while writing, and the same ``userMetadata``. Validation, publish
(:mod:`jobs.stages.publish.commit_files`) and Spark readers see a staging commit like any
other. A task that fails leaves at most an uncommitted file, which no version
references (``VACUUM`` removes it).

The rows reach the tasks in one of two ways. Usually Spark hands each task its
rows (:func:`write_run_partition`). After an LF edit the rows are the stored
row patterns' Parquet files plus the edit's code differences, and each task
reads one such file with pyarrow (:func:`write_run_partition_from_files`),
cheaper than Spark's conversion of the rows to Arrow for Python workers.

Only for tables on a filesystem the executors share with the driver (local
mode, or a cluster's shared volume); :func:`applies` says when, and the fit
falls back to Spark's writer otherwise.
"""

from __future__ import annotations

import json
import logging
import math
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyspark.sql import DataFrame, SparkSession

from jobs.lake.table_files import file_slices
from jobs.lake.tables import TableRef
from jobs.stages.publish.commit_files import PARTITION, local_path

if TYPE_CHECKING:
    import pyarrow as pa

log = logging.getLogger(__name__)

PATTERN = "_pattern"
"""The row's index into the per-pattern table (0-based, dense)."""

ROW_GROUP_ROWS = 1 << 20
"""Rows per Parquet row group: about what Spark's writer puts in one (128 MB of these narrow rows)."""


_ESCAPED = set("\"#%'*/:=?\\\x7f{[]^") | {chr(c) for c in range(1, 32)}


@dataclass(frozen=True)
class WrittenFile:
    """One file a task wrote. Not :class:`jobs.stages.publish.commit_files.StagedFile`: that one's path is
    URL-encoded as read from the Delta log, this one is the path on disk (what delta-rs's
    ``AddAction`` takes)."""

    path: str
    """Relative to the table root, as on disk (``%3A`` in a run id is the directory's own name)."""
    size: int
    rows: int
    stats: str
    modification_time: int


def partition_dir(value: str) -> str:
    """``_run_id=<value>`` with the characters Spark escapes in partition directory names
    (``:`` in Airflow's run ids, ``/``...) written as ``%XX``, as Spark's writer names them."""
    return f"{PARTITION}=" + "".join(f"%{ord(c):02X}" if c in _ESCAPED else c for c in value)


def applies(ref: TableRef) -> bool:
    """Whether the executors can write the table's files directly: a filesystem path, and a table
    (if it exists) on the plain protocol the fit creates it with (writer version <= 2, no table
    features). Column mapping, deletion vectors or constraints someone enabled on the staging
    table are left to Spark's writer, which knows how to honour them."""
    if local_path(ref.path) is None:
        return False
    if not ref.exists():
        return True
    from deltalake import DeltaTable

    protocol = DeltaTable(str(ref.path)).protocol()
    return protocol.min_writer_version <= 2 and not protocol.writer_features


def _arrow_patterns(patterns: Any) -> Any:
    """The per-pattern table in ``_pattern`` order, strings as plain (not large) UTF-8 and
    dictionary-encoded: ``take`` on a dictionary column copies indices, not strings."""
    import pyarrow as pa
    import pyarrow.compute as pc

    patterns = patterns.sort_by(PATTERN)
    index = patterns.column(PATTERN).to_numpy()
    if len(index) and (index[0] != 0 or index[-1] != len(index) - 1):
        raise ValueError(f"the per-pattern table's {PATTERN} must be 0..{len(index) - 1}")
    columns, fields = [], []
    for field, column in zip(patterns.schema, patterns.columns, strict=True):
        if field.name == PATTERN:
            continue
        if pa.types.is_large_string(field.type) or pa.types.is_string(field.type):
            column = pc.dictionary_encode(column.cast(pa.string()).combine_chunks())
        elif pa.types.is_large_list(field.type):
            column = column.cast(pa.list_(field.type.value_type))
        columns.append(column)
        fields.append(field.name)
    return pa.table(columns, names=fields)


def _min_max(values: Any) -> tuple[Any, Any]:
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_dictionary(values.type):
        values = values.dictionary_decode()
    if values.null_count == len(values):
        return None, None
    found = pc.min_max(values)
    return found["min"].as_py(), found["max"].as_py()


def _stats(rows: int, bounds: dict[str, list[Any]]) -> str:
    """Delta ``add.stats`` JSON: numRecords and, per statistics column, min/max/nullCount
    (min/max left out when a file holds no usable value, as Spark's writer does)."""
    low, high, nulls = {}, {}, {}
    for name, (lo, hi, n_null) in bounds.items():
        nulls[name] = n_null
        if (
            lo is None
            or (isinstance(lo, float) and not math.isfinite(lo))
            or (isinstance(hi, float) and not math.isfinite(hi))
        ):
            continue
        low[name], high[name] = lo, hi
    return json.dumps({"numRecords": rows, "minValues": low, "maxValues": high, "nullCount": nulls})


def _merge(bounds: dict[str, list[Any]], name: str, batch_column: Any) -> None:
    lo, hi = _min_max(batch_column)
    entry = bounds.setdefault(name, [None, None, 0])
    entry[2] += batch_column.null_count
    if lo is not None:
        entry[0] = lo if entry[0] is None else min(entry[0], lo)
        entry[1] = hi if entry[1] is None else max(entry[1], hi)


def _write_file(
    root: str, directory: str, indexed: Iterable[Any], lookup: Any, columns: list[str], stats_columns: list[str]
) -> dict[str, Any] | None:
    """Write the rows of ``indexed`` (Arrow tables or batches of ``id``, ``_pattern``) with the
    staged ``columns`` looked up in ``lookup`` as one Parquet file under ``directory``; its
    :class:`WrittenFile` fields, or None when there were no rows."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    name = f"{directory}/part-{uuid.uuid4()}.c000.snappy.parquet"
    target = Path(root) / name
    writer = None
    written = 0
    bounds: dict[str, list[Any]] = {}
    pending: list[pa.Table] = []
    pending_rows = 0

    def flush() -> None:
        nonlocal writer, pending, pending_rows
        out = pa.concat_tables(pending)
        if writer is None:
            target.parent.mkdir(parents=True, exist_ok=True)
            # No Arrow schema in the footer: readers see plain Parquet strings, as in Spark's files.
            writer = pq.ParquetWriter(str(target), out.schema, compression="snappy", store_schema=False)
        writer.write_table(out, row_group_size=out.num_rows)
        pending, pending_rows = [], 0

    for batch in indexed:
        if not batch.num_rows:
            continue
        taken = lookup.take(batch.column(PATTERN))
        out = pa.table(
            [batch.column("id").cast(pa.string()) if c == "id" else taken.column(c) for c in columns], names=columns
        )
        for c in stats_columns:
            _merge(bounds, c, out.column(c).combine_chunks())
        # Spark's Arrow batches are 10,000 rows: written one by one they would be as many row groups.
        pending.append(out)
        pending_rows += out.num_rows
        written += out.num_rows
        if pending_rows >= ROW_GROUP_ROWS:
            flush()
    if pending:
        flush()
    if writer is None:
        return None
    writer.close()
    info = target.stat()
    return {
        "path": name,
        "size": info.st_size,
        "rows": written,
        "stats": _stats(written, bounds),
        "modification_time": int(info.st_mtime * 1000),
    }


def _prepared(staging_ref: TableRef, patterns: Any, columns: list[str]) -> tuple[str, Any]:
    table_path = local_path(staging_ref.path)
    assert table_path is not None, "staging_files.applies() first"
    lookup = _arrow_patterns(patterns)
    missing = [c for c in columns if c != "id" and c not in lookup.column_names]
    if missing:
        raise ValueError(f"{staging_ref.name}: the per-pattern table lacks {missing}")
    return str(table_path), lookup


def write_run_partition(
    spark: SparkSession,
    rows: DataFrame,
    patterns: Any,
    columns: list[str],
    staging_ref: TableRef,
    run_id: str,
    stats_columns: list[str],
    user_metadata: str,
) -> int:
    """Write ``rows`` (``id``, ``_pattern``) with the staged ``columns`` looked up in ``patterns``
    (an Arrow table keyed by ``_pattern``) as the ``_run_id = run_id`` partition of the staging
    table, replacing that partition in one commit; returns the new version. The table must exist
    (its schema is the files' schema)."""
    root, lookup = _prepared(staging_ref, patterns, columns)
    directory = partition_dir(run_id)
    shipped = spark.sparkContext.broadcast(lookup)

    def write(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        import pyarrow as pa

        written = _write_file(root, directory, batches, shipped.value, columns, stats_columns)
        if written is not None:
            yield pa.RecordBatch.from_pylist([written])

    started = time.monotonic()
    try:
        files = [
            WrittenFile(r["path"], int(r["size"]), int(r["rows"]), r["stats"], int(r["modification_time"]))
            for r in rows.select("id", PATTERN)
            .mapInArrow(write, "path string, size long, rows long, stats string, modification_time long")
            .collect()
        ]
    finally:
        shipped.unpersist()
    return _commit(staging_ref, root, run_id, directory, files, user_metadata, started)


def write_run_partition_from_files(
    spark: SparkSession,
    sources: list[str],
    indexed_rows: Callable[[str], Any],
    patterns: Any,
    columns: list[str],
    staging_ref: TableRef,
    run_id: str,
    stats_columns: list[str],
    user_metadata: str,
) -> int:
    """:func:`write_run_partition` for rows that Python can read itself: the sources (Parquet
    files) shared among one task per core (:func:`~jobs.lake.table_files.file_slices`),
    ``indexed_rows(source)`` giving its ``id`` and ``_pattern`` as an Arrow table, one staged
    file per source.

    Why: rows that come from Spark reach the Python workers through Spark's Arrow
    conversion, which costs more than pyarrow reading a table's Parquet files (the stored
    row patterns of an LF-edit rerun) itself (docs/decisions/0005). Spark still schedules
    the tasks, so a cluster's workers share the load.
    """
    root, lookup = _prepared(staging_ref, patterns, columns)
    directory = partition_dir(run_id)
    shipped = spark.sparkContext.broadcast((lookup, indexed_rows))

    def write(tasks: Iterable[str]) -> Iterator[dict[str, Any]]:
        table, rows_of = shipped.value
        for source in tasks:
            written = _write_file(root, directory, iter([rows_of(source)]), table, columns, stats_columns)
            if written is not None:
                yield written

    started = time.monotonic()
    try:
        written = (
            spark.sparkContext.parallelize(sources, file_slices(spark, len(sources))).mapPartitions(write).collect()
            if sources
            else []
        )
    finally:
        shipped.unpersist()
    files = [
        WrittenFile(r["path"], int(r["size"]), int(r["rows"]), r["stats"], int(r["modification_time"])) for r in written
    ]
    return _commit(staging_ref, root, run_id, directory, files, user_metadata, started)


def _commit(
    staging_ref: TableRef,
    root: str,
    run_id: str,
    directory: str,
    files: list[WrittenFile],
    user_metadata: str,
    started: float,
) -> int:
    """Replace the run's partition of the staging table with ``files``, in one delta-rs commit."""
    from deltalake import DeltaTable
    from deltalake.transaction import AddAction, CommitProperties, PostCommitHookProperties, RemoveAction

    staging = DeltaTable(root)
    actions: list[AddAction | RemoveAction] = [
        AddAction(f.path, f.size, {PARTITION: run_id}, f.modification_time, True, f.stats) for f in files
    ]
    try:
        staging.create_write_transaction(
            actions,
            mode="overwrite",
            schema=staging.schema(),
            partition_by=[PARTITION],
            partition_filters=[(PARTITION, "=", run_id)],
            commit_properties=CommitProperties(custom_metadata={"userMetadata": user_metadata}),
            post_commithook_properties=PostCommitHookProperties(create_checkpoint=True, cleanup_expired_logs=False),
        )
    except Exception as exc:
        # Nothing was committed: the run's previous candidates stay, the new files are unreferenced.
        raise RuntimeError(
            f"{staging_ref.name}: committing run {run_id}'s {len(files)} staged files ({directory}) failed: {exc}"
        ) from exc
    version = int(DeltaTable(root).version())
    log.info(
        "staging_files: %d rows in %d files -> %s@v%d (partition %s) in %.1f s",
        sum(f.rows for f in files),
        len(files),
        staging_ref.name,
        version,
        directory,
        time.monotonic() - started,
    )
    return version
