"""What a Delta table version's log says about its files: row counts and plain Parquet files,
read with delta-rs so a stage need not start a Spark job for them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from jobs.lake.tables import TableRef, delta_rs_location, local_path


def table_rows(spark: Any, ref: TableRef, version: int) -> int:
    """Rows of version ``version`` of ``ref``: summed from its files' statistics in the Delta log
    with delta-rs (milliseconds), else counted by Spark (a job: about 0.2 s warm, seconds cold)."""
    location = delta_rs_location(ref.path)
    if location is not None:
        import pyarrow as pa
        from deltalake import DeltaTable

        try:
            snapshot = DeltaTable(location, version=version)
            records = pa.table(snapshot.get_add_actions(flatten=True))
            counts = records.column("num_records").to_pylist() if "num_records" in records.column_names else [None]
            if "deletionVectors" in (snapshot.protocol().reader_features or []):
                counts = [None]  # a file's numRecords includes the rows its deletion vector removes
        except Exception:  # noqa: BLE001 - what delta-rs cannot read, Spark may
            counts = [None]
        if all(n is not None for n in counts):
            return sum(int(n or 0) for n in counts)
    return int(ref.read(spark, version).count())


def file_slices(spark: Any, files: int) -> int:
    """Spark tasks for work over ``files`` table files read by Python itself: one per core, not one
    per file, so each task's fixed cost (its Python function and broadcast) is paid once per core."""
    return max(1, min(files, int(spark.sparkContext.defaultParallelism)))


def table_schema(spark: Any, ref: TableRef) -> Any:
    """The newest version's schema as a Spark ``StructType``: from the Delta log by delta-rs
    (milliseconds), else from Spark's reader (a snapshot of the table: tenths of a second)."""
    location = delta_rs_location(ref.path)
    if location is not None:
        from deltalake import DeltaTable

        try:
            return _spark_schema(DeltaTable(location))
        except Exception:  # noqa: BLE001 - what delta-rs cannot read, Spark may
            pass
    return ref.read(spark).schema


def partition_columns(spark: Any, ref: TableRef) -> list[str]:
    """The newest version's partition columns: from the Delta log by delta-rs (milliseconds), else
    from Spark's ``DESCRIBE DETAIL`` (a snapshot of the table: about 0.1 s)."""
    location = delta_rs_location(ref.path)
    if location is not None:
        from deltalake import DeltaTable

        try:
            return list(DeltaTable(location).metadata().partition_columns)
        except Exception:  # noqa: BLE001 - what delta-rs cannot read, Spark may
            pass
    from delta.tables import DeltaTable as SparkDeltaTable

    return list(SparkDeltaTable.forPath(spark, str(ref.path)).detail().first()["partitionColumns"])


def _spark_schema(snapshot: Any) -> Any:
    """A delta-rs table's schema as a Spark ``StructType`` (the Delta log's schema JSON is Spark's)."""
    from pyspark.sql.types import StructType

    return StructType.fromJson(json.loads(snapshot.schema().to_json()))


def _plain_snapshot(ref: TableRef, version: int, partitions: list[str]) -> Any | None:
    """Version ``version`` of ``ref`` as delta-rs opens it, when its files hold exactly its rows:
    on local disk, the plain protocol (no deletion vectors, column mapping or other reader
    features), partitioned by ``partitions`` (none: unpartitioned). None otherwise, or when the
    version cannot be read (vacuumed): Spark reads it and reports that."""
    path = local_path(ref.path)
    if path is None:
        return None
    from deltalake import DeltaTable

    try:
        snapshot = DeltaTable(str(path), version=version)
        protocol = snapshot.protocol()
        if protocol.min_reader_version > 1 or protocol.reader_features:
            return None
        return snapshot if list(snapshot.metadata().partition_columns) == partitions else None
    except Exception:  # noqa: BLE001 - a vacuumed or unreadable version: Spark reports it
        return None


def plain_parquet_files(ref: TableRef, version: int) -> list[str] | None:
    """The Parquet files of version ``version`` of an unpartitioned table on local disk, when they
    hold exactly its rows (:func:`_plain_snapshot`), so each file read as Parquet is its share of
    the table. None otherwise (remote store, table features, a version delta-rs cannot read):
    read the table with Spark."""
    snapshot = _plain_snapshot(ref, version, [])
    if snapshot is None:
        return None
    try:
        files = [local_path(uri) for uri in snapshot.file_uris()]
    except Exception:  # noqa: BLE001 - Spark reports what delta-rs cannot list
        return None
    return None if any(f is None for f in files) else [str(f) for f in files]


@dataclass(frozen=True)
class ValueRange:
    """What a partition's file statistics say about one integer column: its rows, the least and
    greatest value (None when every value is null) and how many are null."""

    rows: int
    least: int | None
    greatest: int | None
    nulls: int


def partition_value_ranges(ref: TableRef, version: int, partition: str, column: str) -> dict[str, ValueRange] | None:
    """Per value of the partition column ``partition``, ``column``'s range over the partition's files
    in version ``version``, from the Delta log (delta-rs, no Spark job). A partition with no file
    is absent. None when the log cannot say it exactly: delta-rs cannot read the table, deletion
    vectors (a file's statistics then count rows it no longer has), or a file without statistics
    on ``column``; the caller then reads the rows."""
    location = delta_rs_location(ref.path)
    if location is None:
        return None
    import pyarrow as pa
    from deltalake import DeltaTable

    try:
        snapshot = DeltaTable(location, version=version)
        if "deletionVectors" in (snapshot.protocol().reader_features or []):
            return None
        files = pa.table(snapshot.get_add_actions(flatten=True)).to_pylist()
    except Exception:  # noqa: BLE001 - what delta-rs cannot read, Spark may
        return None
    ranges: dict[str, ValueRange] = {}
    for f in files:
        rows, nulls = f.get("num_records"), f.get(f"null_count.{column}")
        least, greatest = f.get(f"min.{column}"), f.get(f"max.{column}")
        if rows is None or nulls is None or (nulls < rows and (least is None or greatest is None)):
            return None
        key = f.get(f"partition.{partition}")
        if key is None:
            return None
        seen = ranges.get(str(key))
        ranges[str(key)] = (
            ValueRange(rows, least, greatest, nulls) if seen is None else _widened(seen, rows, least, greatest, nulls)
        )
    return ranges


def _widened(seen: ValueRange, rows: int, least: Any, greatest: Any, nulls: int) -> ValueRange:
    def pick(a: int | None, b: int | None, choose: Any) -> int | None:
        return b if a is None else a if b is None else choose(a, b)

    return ValueRange(
        seen.rows + rows, pick(seen.least, least, min), pick(seen.greatest, greatest, max), seen.nulls + nulls
    )


def partition_parquet_files(
    ref: TableRef, version: int, partition: str, values: list[str]
) -> dict[str, list[str]] | None:
    """Per value in ``values`` of the table's one partition column ``partition``, the Parquet files
    of version ``version`` holding its rows (none: the value has no rows), on local disk and the
    plain protocol, as :func:`plain_parquet_files`. None otherwise: read the table with Spark.

    Why: Spark's Delta reader replays the log of a version that is not the newest (a few Spark
    jobs, about a second warm) each time a query reads it, where delta-rs lists the files in
    milliseconds (docs/decisions/0014)."""
    snapshot = _plain_snapshot(ref, version, [partition])
    return None if snapshot is None else _listed(snapshot, partition, values)


def _listed(snapshot: Any, partition: str, values: list[str]) -> dict[str, list[str]] | None:
    """:func:`partition_parquet_files` of an open plain snapshot."""
    try:
        listed = {
            v: [local_path(u) for u in snapshot.file_uris(file_pruning_predicate=[(partition, "=", v)])] for v in values
        }
    except Exception:  # noqa: BLE001 - Spark reports what delta-rs cannot list
        return None
    if any(f is None or not f.exists() for files in listed.values() for f in files):
        return None  # a remote file, or one VACUUM removed: Spark reports it
    return {v: [str(f) for f in files] for v, files in listed.items()}


def partition_frame(spark: Any, ref: TableRef, version: int, partition: str, value: str) -> Any | None:
    """The rows of one partition of version ``version`` as Spark reads the Parquet files delta-rs
    lists for it, with the table's schema and the partition column as a constant (the columns in
    the table's order); None when :func:`partition_parquet_files` cannot list them or there are
    none: read the table with Spark. Saves the Delta reader's log replay (a few small jobs)."""
    snapshot = _plain_snapshot(ref, version, [partition])
    listed = None if snapshot is None else _listed(snapshot, partition, [value])
    if not listed or not listed[value]:
        return None
    from pyspark.sql import functions as F
    from pyspark.sql.types import StructType

    schema = _spark_schema(snapshot)
    in_files = StructType([f for f in schema.fields if f.name != partition])
    rows = spark.read.schema(in_files).parquet(*listed[value])
    constant = F.lit(value).cast(schema[partition].dataType).alias(partition)
    quoted = {f.name: "`" + f.name.replace("`", "``") + "`" for f in schema.fields}
    return rows.select(*[constant if f.name == partition else F.col(quoted[f.name]) for f in schema.fields])
