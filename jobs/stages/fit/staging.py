"""Write a run's candidate labels as pattern lookups: Arrow on the executors, one Delta commit.

Why not ``DataFrame.write``: when the label model is fitted on the driver, every
candidate row is its vote pattern's prediction plus the run's lineage, so all
columns but ``id`` take one of a few hundred values. Spark's Parquet writer
still pays per value and per column (encoding, dictionary lookup, statistics).
Here each task takes its rows' pattern index (``_pattern``), looks the staged
columns up in the per-pattern table with Arrow's ``take`` on dictionary-encoded
columns (so each constant is written as a dictionary index, never hashed per
row) and writes one Parquet file with pyarrow (measured in docs/decisions/0005).

The files are committed to the staging table by delta-rs
(:mod:`jobs.lake.executor_writes`), in one transaction
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

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from pyspark.sql import DataFrame, SparkSession

from jobs.lake.executor_writes import (
    WRITTEN_FILE_SCHEMA,
    ParquetFile,
    WrittenFile,
    commit_partitions,
    partition_dir,
    plain_writer_protocol,
)
from jobs.lake.table_files import file_slices
from jobs.lake.tables import TableRef, local_path
from jobs.stages.publish.commit_files import PARTITION

if TYPE_CHECKING:
    import pyarrow as pa

log = logging.getLogger(__name__)

PATTERN = "_pattern"
"""The row's index into the per-pattern table (0-based, dense)."""


def applies(ref: TableRef) -> bool:
    """Whether the executors can write the table's files directly: a filesystem path, and a table
    (if it exists) on the plain protocol the fit creates it with (writer version <= 2, no table
    features). Column mapping, deletion vectors or constraints someone enabled on the staging
    table are left to Spark's writer, which knows how to honour them."""
    return plain_writer_protocol(ref)


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


def _write_file(
    root: str, directory: str, indexed: Iterable[Any], lookup: Any, columns: list[str], stats_columns: list[str]
) -> dict[str, Any] | None:
    """Write the rows of ``indexed`` (Arrow tables or batches of ``id``, ``_pattern``) with the
    staged ``columns`` looked up in ``lookup`` as one Parquet file under ``directory``; its
    :class:`WrittenFile` as a record, or None when there were no rows."""
    import pyarrow as pa

    out = ParquetFile(root, directory, stats_columns)
    for batch in indexed:
        if not batch.num_rows:
            continue
        taken = lookup.take(batch.column(PATTERN))
        out.write(
            pa.table(
                [batch.column("id").cast(pa.string()) if c == "id" else taken.column(c) for c in columns],
                names=columns,
            )
        )
    written = out.close()
    return written.record() if written is not None else None


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
    directory = partition_dir(PARTITION, run_id)
    shipped = spark.sparkContext.broadcast(lookup)

    def write(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        import pyarrow as pa

        written = _write_file(root, directory, batches, shipped.value, columns, stats_columns)
        if written is not None:
            yield pa.RecordBatch.from_pylist([written])

    started = time.monotonic()
    try:
        files = [WrittenFile.of(r) for r in rows.select("id", PATTERN).mapInArrow(write, WRITTEN_FILE_SCHEMA).collect()]
    finally:
        shipped.unpersist()
    return _commit(staging_ref, run_id, directory, files, user_metadata, started)


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
    directory = partition_dir(PARTITION, run_id)
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
    files = [WrittenFile.of(r) for r in written]
    return _commit(staging_ref, run_id, directory, files, user_metadata, started)


def _commit(
    staging_ref: TableRef,
    run_id: str,
    directory: str,
    files: list[WrittenFile],
    user_metadata: str,
    started: float,
) -> int:
    """Replace the run's partition of the staging table with ``files``, in one delta-rs commit."""
    try:
        version = commit_partitions(
            staging_ref, PARTITION, [run_id], files, {f.path: run_id for f in files}, user_metadata
        )
    except Exception as exc:
        # Nothing was committed: the run's previous candidates stay, the new files are unreferenced.
        raise RuntimeError(
            f"{staging_ref.name}: committing run {run_id}'s {len(files)} staged files ({directory}) failed: {exc}"
        ) from exc
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
