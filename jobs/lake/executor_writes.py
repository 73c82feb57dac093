"""Parquet files added to a Delta table by a delta-rs commit instead of Spark's Delta writer.

For a table on a filesystem the executors share with the driver (local mode, or a cluster's
shared volume) and on the plain protocol: the files are written by pyarrow in Spark tasks
(:class:`ParquetFile`, which gathers their statistics) or by Spark's plain Parquet writer
(statistics from their footers: :func:`footer_stats`); the driver commits them in one delta-rs
transaction that replaces the named partitions, as Spark's ``replaceWhere`` would. Spark's
Delta writer spends most of a second of driver work on each commit (snapshot, checksum,
conflict checks, post-commit hooks), which is most of a small write (docs/decisions/0017).
A write that fails leaves at most files no version references (``VACUUM`` removes them).
"""

from __future__ import annotations

import json
import logging
import math
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jobs.lake.tables import TableRef, local_path

if TYPE_CHECKING:
    import pyarrow as pa

log = logging.getLogger(__name__)

ROW_GROUP_ROWS = 1 << 20
"""Rows per Parquet row group: about what Spark's writer puts in one (128 MB of narrow rows)."""

WRITTEN_FILE_SCHEMA = "path string, size long, rows long, stats string, modification_time long"
"""A :class:`WrittenFile` as the row a task returns (``mapInArrow``'s schema)."""

_ESCAPED = set("\"#%'*/:=?\\\x7f{[]^") | {chr(c) for c in range(1, 32)}


@dataclass(frozen=True)
class WrittenFile:
    """One file a task wrote: its path relative to the table root as on disk (``%3A`` in a
    partition value is the directory's own name; what delta-rs's ``AddAction`` takes), its size,
    rows, ``add.stats`` JSON and modification time (ms)."""

    path: str
    size: int
    rows: int
    stats: str
    modification_time: int

    @classmethod
    def of(cls, record: Any) -> WrittenFile:
        """From a task's returned row (a ``Row`` or a mapping)."""
        return cls(
            str(record["path"]),
            int(record["size"]),
            int(record["rows"]),
            str(record["stats"]),
            int(record["modification_time"]),
        )

    def record(self) -> dict[str, Any]:
        return asdict(self)


def partition_dir(column: str, value: str) -> str:
    """``<column>=<value>`` with the characters Spark escapes in partition directory names
    (``:`` in Airflow's run ids, ``/``...) written as ``%XX``, as Spark's writer names them."""
    return f"{column}=" + "".join(f"%{ord(c):02X}" if c in _ESCAPED else c for c in value)


def plain_writer_protocol(ref: TableRef) -> bool:
    """Whether pyarrow files may be added to ``ref`` as they are: a filesystem path, and a table
    (if it exists) on writer version <= 2 without table features. Column mapping, deletion
    vectors, constraints or change data feed someone enabled are left to Spark's writer, which
    honours them."""
    if local_path(ref.path) is None:
        return False
    if not ref.exists():
        return True
    from deltalake import DeltaTable

    protocol = DeltaTable(str(ref.path)).protocol()
    return protocol.min_writer_version <= 2 and not protocol.writer_features


def _min_max(values: Any) -> tuple[Any, Any]:
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_dictionary(values.type):
        values = values.dictionary_decode()
    if values.null_count == len(values):
        return None, None
    found = pc.min_max(values)
    return found["min"].as_py(), found["max"].as_py()


def stats_json(rows: int, bounds: dict[str, list[Any]]) -> str:
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


def footer_stats(path: Path, columns: tuple[str, ...]) -> tuple[int, str]:
    """A Parquet file's rows and Delta ``add.stats`` JSON from its row groups' statistics: min,
    max and null count of ``columns`` (a column some row group keeps no statistics for is left
    out: Delta then reads it as unknown, never as wrong)."""
    import pyarrow.parquet as pq

    footer = pq.read_metadata(path)
    names = footer.schema.names
    bounds: dict[str, list[Any]] = {}
    for name in columns:
        found = [footer.row_group(g).column(names.index(name)).statistics for g in range(footer.num_row_groups)]
        if not found or any(s is None or not s.has_null_count for s in found):
            continue
        if any(not s.has_min_max and s.num_values for s in found):
            continue  # values without bounds: unknown
        bounded = [s for s in found if s.has_min_max]  # the others hold only nulls
        low = min(s.min for s in bounded) if bounded else None
        high = max(s.max for s in bounded) if bounded else None
        bounds[name] = [low, high, sum(s.null_count for s in found)]
    return footer.num_rows, stats_json(footer.num_rows, bounds)


class ParquetFile:
    """One Parquet file of a table, written in row groups of about :data:`ROW_GROUP_ROWS`, with
    the min/max/null counts of ``stats_columns`` gathered on the way."""

    def __init__(self, root: str, directory: str, stats_columns: list[str]) -> None:
        self.name = f"{directory}/part-{uuid.uuid4()}.c000.snappy.parquet"
        self.target = Path(root) / self.name
        self.stats_columns = stats_columns
        self.bounds: dict[str, list[Any]] = {}
        self.rows = 0
        self._writer: Any = None
        self._pending: list[pa.Table] = []
        self._pending_rows = 0

    def write(self, table: pa.Table) -> None:
        """Add ``table``'s rows (Spark's Arrow batches are 10,000 rows: written one by one they
        would be as many row groups, so they are gathered first)."""
        if not table.num_rows:
            return
        for name in self.stats_columns:
            self._merge_bounds(name, table.column(name).combine_chunks())
        self._pending.append(table)
        self._pending_rows += table.num_rows
        self.rows += table.num_rows
        if self._pending_rows >= ROW_GROUP_ROWS:
            self._flush()

    def close(self) -> WrittenFile | None:
        """Finish the file; what its ``add`` action needs, or None when no row was written."""
        if self._pending:
            self._flush()
        if self._writer is None:
            return None
        self._writer.close()
        info = self.target.stat()
        return WrittenFile(
            self.name, info.st_size, self.rows, stats_json(self.rows, self.bounds), int(info.st_mtime * 1000)
        )

    def _flush(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        out = pa.concat_tables(self._pending)
        if self._writer is None:
            self.target.parent.mkdir(parents=True, exist_ok=True)
            # No Arrow schema in the footer: readers see plain Parquet strings, as in Spark's files.
            # Row-group statistics only for the statistics columns: the others' cost a third of
            # the write and no reader skips by them (docs/decisions/0018).
            self._writer = pq.ParquetWriter(
                str(self.target),
                out.schema,
                compression="snappy",
                store_schema=False,
                write_statistics=list(self.stats_columns) or False,
            )
        self._writer.write_table(out, row_group_size=out.num_rows)
        self._pending, self._pending_rows = [], 0

    def _merge_bounds(self, name: str, column: Any) -> None:
        lo, hi = _min_max(column)
        entry = self.bounds.setdefault(name, [None, None, 0])
        entry[2] += column.null_count
        if lo is not None:
            entry[0] = lo if entry[0] is None else min(entry[0], lo)
            entry[1] = hi if entry[1] is None else max(entry[1], hi)


def commit_partitions(
    ref: TableRef, column: str, replaced: list[str], files: list[WrittenFile], partition_of: dict[str, str], meta: str
) -> int:
    """Replace the ``column IN replaced`` partitions of ``ref`` with ``files`` (each in the
    partition ``partition_of[path]``) in one delta-rs commit with ``meta`` as its userMetadata;
    returns the new version. Nothing is committed on an error: the files stay unreferenced."""
    from deltalake import DeltaTable
    from deltalake.transaction import AddAction, CommitProperties, PostCommitHookProperties, RemoveAction

    root = local_path(ref.path)
    assert root is not None, "plain_writer_protocol() first"
    outside = {partition_of[f.path] for f in files} - set(replaced)
    if outside:
        raise ValueError(f"{ref.name}: files for partitions {sorted(outside)} outside the replaced {column} values")
    table = DeltaTable(str(root))
    actions: list[AddAction | RemoveAction] = [
        AddAction(f.path, f.size, {column: partition_of[f.path]}, f.modification_time, True, f.stats) for f in files
    ]
    table.create_write_transaction(
        actions,
        mode="overwrite",
        schema=table.schema(),
        partition_by=[column],
        partition_filters=[(column, "in", list(replaced))],
        commit_properties=CommitProperties(custom_metadata={"userMetadata": meta}),
        post_commithook_properties=PostCommitHookProperties(create_checkpoint=True, cleanup_expired_logs=False),
    )
    return int(DeltaTable(str(root)).version())
