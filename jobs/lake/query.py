"""Read-only SQL over the lakehouse without Spark: DuckDB over Delta tables read by delta-rs.

Analysts should not need a Spark cluster to count labels. ``labellake query``
and the notebook helpers here open each Delta table the SQL names with
``deltalake`` (at a version or a timestamp when asked), hand DuckDB a lazy
Arrow dataset over its files (so filters and column choices are pushed into
the Parquet scan, and no DuckDB extension is downloaded), and stream the
result in record batches.

Table names are the catalog names (``youtube_spam_labels``, ``runs``), also
reachable as ``labellake.<name>`` as in Spark's catalog (``jobs/lake/catalog.py``).
Only ``SELECT`` statements run, with DuckDB's file and network access turned
off and its configuration locked, so a query can neither write nor read
anything but the registered tables.

Notebook use::

    from jobs.lake.query import read_table, query
    labels = read_table("youtube_spam_labels", version=3)          # pandas
    counts = query("SELECT label_name, count(*) n FROM youtube_spam_labels GROUP BY 1")
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from jobs.core.errors import LabellakeError
from jobs.core.settings import Settings
from jobs.lake.tables import TableRef, existing_tables

if TYPE_CHECKING:
    import duckdb
    import pandas as pd
    import pyarrow as pa

CATALOG = "labellake"
FORMATS = ("table", "csv", "json", "parquet")
BATCH_ROWS = 100_000
DEFAULT_TIMEOUT_S = 300.0
DEFAULT_MEMORY_LIMIT = "4GB"


class QueryError(LabellakeError):
    """A query that cannot run: unknown table, missing version, or a statement that is not a read."""


AsOf = int | datetime | str | None
"""A Delta version (int), or a timestamp (datetime or ISO string): the table as it was then."""


def parse_as_of(value: str | None) -> AsOf:
    """``"3"`` -> version 3; ``"2026-11-28T10:00:00"`` (ISO, UTC if no zone) -> that instant."""
    if value is None or value == "":
        return None
    if re.fullmatch(r"\d+", value.strip()):
        return int(value)
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise QueryError(f"--as-of {value!r} is neither a table version nor an ISO timestamp") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def catalog(settings: Settings) -> dict[str, TableRef]:
    """Every table of the lakehouse by its catalog name."""
    return {ref.name: ref for ref in existing_tables(settings)}


def open_delta(ref: TableRef, as_of: AsOf = None) -> Any:
    """The ``deltalake.DeltaTable`` of ``ref``, loaded at ``as_of`` (a version or a timestamp)."""
    from deltalake import DeltaTable

    dt = DeltaTable(str(ref.path))
    instant = parse_as_of(as_of) if isinstance(as_of, str) else as_of
    if instant is None:
        return dt
    if isinstance(instant, datetime):
        first = min(dt.history(), key=lambda c: c["version"])
        created = datetime.fromtimestamp(first["timestamp"] / 1000, tz=UTC)
        if instant < created:
            raise QueryError(
                f"{ref.name} did not exist at {instant.isoformat()}: its first commit (version "
                f"{first['version']}) is at {created.isoformat()}"
            )
    try:
        dt.load_as_version(instant)
    except Exception as exc:  # delta-rs raises several types for "no such version / too early"
        raise QueryError(
            f"{ref.name} has no state at {as_of!r} (versions 0..{DeltaTable(str(ref.path)).version()}): {exc}"
        ) from exc
    return dt


def read_table(
    name: str,
    version: int | None = None,
    as_of: AsOf = None,
    columns: list[str] | None = None,
    settings: Settings | None = None,
    arrow: bool = False,
) -> pd.DataFrame | pa.Table:
    """A table (by catalog name) at the newest version, a ``version`` or a timestamp ``as_of``,
    as pandas (or Arrow with ``arrow=True``). The notebook entry point."""
    settings = settings or Settings.from_env()
    tables = catalog(settings)
    if name not in tables:
        raise QueryError(_unknown(name, tables))
    data = open_delta(tables[name], version if version is not None else as_of).to_pyarrow_table(columns=columns)
    return data if arrow else data.to_pandas()


def connect(
    sql: str, settings: Settings, as_of: AsOf = None, memory_limit: str = DEFAULT_MEMORY_LIMIT
) -> duckdb.DuckDBPyConnection:
    """A locked-down DuckDB connection with every table ``sql`` names registered (at ``as_of``)."""
    import duckdb

    tables = catalog(settings)
    named = _tables_named(sql, tables)
    con = duckdb.connect(":memory:")
    con.execute(f"CREATE SCHEMA {CATALOG}")
    for name in named:
        con.register(name, open_delta(tables[name], as_of).to_pyarrow_dataset())
        con.execute(f'CREATE VIEW {CATALOG}."{name}" AS SELECT * FROM "{name}"')
    con.execute("SET memory_limit = ?", [memory_limit])
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")
    _check_read_only(con, sql, tables)
    return con


def query(sql: str, settings: Settings | None = None, as_of: AsOf = None) -> pd.DataFrame:
    """Run a read-only query and return the result as pandas (for results that fit in memory)."""
    settings = settings or Settings.from_env()
    return _run(connect(sql, settings, as_of), sql, lambda relation: relation.df(), settings)


def stream(
    sql: str,
    settings: Settings,
    as_of: AsOf = None,
    batch_rows: int = BATCH_ROWS,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    memory_limit: str = DEFAULT_MEMORY_LIMIT,
) -> pa.RecordBatchReader:
    """The result as a stream of Arrow record batches: never the whole result in memory.

    The query is interrupted after ``timeout_s`` seconds (reading included) and DuckDB may use
    at most ``memory_limit`` (spilling beyond it, or failing): a runaway query ends by itself."""
    check_limits(timeout_s, memory_limit)
    import threading

    import pyarrow as pa

    con = connect(sql, settings, as_of, memory_limit)
    timer = threading.Timer(timeout_s, con.interrupt)
    timer.daemon = True
    timer.start()
    try:
        reader = _run(con, sql, lambda relation: relation.to_arrow_reader(batch_rows), settings, timeout_s)
    except BaseException:
        timer.cancel()
        raise

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            while True:
                try:
                    batch = _run(con, sql, lambda _: reader.read_next_batch(), settings, timeout_s, relation=False)
                except StopIteration:
                    return
                yield batch
        finally:
            timer.cancel()

    return pa.RecordBatchReader.from_batches(reader.schema, batches())


def _run(
    con: duckdb.DuckDBPyConnection,
    sql: str,
    fetch: Any,
    settings: Settings,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    relation: bool = True,
) -> Any:
    """Execute and fetch, turning DuckDB's errors (unknown table, refused file access, interrupted
    at the timeout) into one-line QueryErrors that keep every line of DuckDB's message."""
    import duckdb

    try:
        return fetch(con.sql(sql) if relation else None)
    except (duckdb.Error, OSError) as exc:  # pyarrow re-raises DuckDB's errors mid-stream as ArrowInvalid
        message = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
        if isinstance(exc, duckdb.InterruptException) or "INTERRUPT" in message.upper():
            raise QueryError(f"query stopped at the {timeout_s:g} s timeout (--timeout)") from exc
        hint = ""
        if isinstance(exc, duckdb.CatalogException):
            hint = f"; tables: {sorted(catalog(settings)) or '(none yet: run a pipeline first)'}"
        elif isinstance(exc, duckdb.PermissionException):
            hint = " (labellake query reads only the lakehouse tables)"
        raise QueryError(f"{message}{hint}") from exc


def check_output_path(output: Path, settings: Settings, force: bool = False) -> Path:
    """``output`` when it is safe to write: never inside the lakehouse (symlinks followed: a query
    must not overwrite a Delta log or data file), never over an existing file unless ``force``."""
    resolved = output.expanduser().resolve()
    home = Path(settings.home).expanduser().resolve()
    if resolved == home or home in resolved.parents:
        raise QueryError(f"--output {output} is inside the lakehouse {home}; write query results elsewhere")
    if resolved.exists() and not force:
        raise QueryError(f"--output {output} exists; pass --force to overwrite it")
    if not resolved.parent.is_dir():
        raise QueryError(f"--output {output}: no folder {resolved.parent}")
    if resolved.is_dir():
        raise QueryError(f"--output {output} is a folder; name a file")
    return resolved


MEMORY_LIMIT = re.compile(r"\s*\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KIB|MIB|GIB|TIB)\s*", re.IGNORECASE)


def check_limits(timeout_s: float, memory_limit: str) -> None:
    """A timeout above 0 and a memory limit DuckDB reads (``4GB``, ``512MB``), checked before any read."""
    if not math.isfinite(timeout_s) or timeout_s <= 0:
        raise QueryError(f"--timeout {timeout_s:g}: must be a number of seconds above 0")
    if not MEMORY_LIMIT.fullmatch(memory_limit):
        raise QueryError(f"--memory-limit {memory_limit!r}: must be a size such as 4GB or 512MB")


def _nested(kind: pa.DataType) -> bool:
    import pyarrow.types as pat

    return bool(pat.is_nested(kind))


def csv_schema(schema: pa.Schema) -> pa.Schema:
    """``schema`` with its list, struct and map columns as strings: CSV has no nested cells."""
    import pyarrow as pa

    return pa.schema([pa.field(f.name, pa.string()) if _nested(f.type) else f for f in schema])


def csv_ready(batch: pa.RecordBatch) -> pa.RecordBatch:
    """``batch`` with each nested cell as JSON text (``[0.1, 0.9]``), the way spreadsheets and
    ``json.loads`` read it back; a null stays empty."""
    import pyarrow as pa

    columns = [
        pa.array([None if v is None else json.dumps(v, default=str) for v in column.to_pylist()], pa.string())
        if _nested(column.type)
        else column
        for column in batch.columns
    ]
    return pa.RecordBatch.from_arrays(columns, schema=csv_schema(batch.schema))


def write_result(
    reader: pa.RecordBatchReader, fmt: str, output: Path | None, max_rows: int = 50, out: IO[str] | None = None
) -> int:
    """Write the stream as ``fmt`` to ``output`` (or stdout), batch by batch; returns the rows written.

    ``table`` prints the first ``max_rows`` rows aligned for a terminal (and counts the rest);
    ``csv`` and ``json`` (JSON lines) stream to a file or stdout; ``parquet`` needs ``--output``.
    """
    out = out or sys.stdout  # looked up now: a default bound at import would miss a redirected stdout
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    if fmt not in FORMATS:
        raise QueryError(f"--format {fmt!r} is not one of {FORMATS}")
    rows = 0
    if fmt == "parquet":
        if output is None:
            raise QueryError("--format parquet needs --output FILE")
        with pq.ParquetWriter(str(output), reader.schema) as writer:
            for batch in reader:
                writer.write_batch(batch)
                rows += batch.num_rows
        return rows
    if fmt == "csv":
        sink = output.open("wb") if output else sys.stdout.buffer
        try:
            with pacsv.CSVWriter(sink, csv_schema(reader.schema)) as writer:
                for batch in reader:
                    writer.write_batch(csv_ready(batch))
                    rows += batch.num_rows
        finally:
            if output:
                sink.close()
        return rows
    if fmt == "json":
        handle = output.open("w") if output else out
        try:
            for batch in reader:
                for record in batch.to_pylist():
                    handle.write(json.dumps(record, default=str) + "\n")
                rows += batch.num_rows
        finally:
            if output:
                handle.close()
        return rows
    shown: list[dict[str, Any]] = []
    for batch in reader:
        if len(shown) < max_rows:
            shown.extend(batch.slice(0, max_rows - len(shown)).to_pylist())
        rows += batch.num_rows
    text = format_table(reader.schema.names, shown)
    if output:
        output.write_text(text + "\n")
    else:
        out.write(text + "\n")
        if rows > len(shown):
            out.write(f"({rows} rows, first {len(shown)} shown; --format csv|json|parquet --output FILE for all)\n")
    return rows


def format_table(columns: list[str], records: list[dict[str, Any]]) -> str:
    """Rows as an aligned text table (values cut at 60 characters)."""

    def cell(value: Any) -> str:
        text = "NULL" if value is None else str(value)
        return text if len(text) <= 60 else text[:57] + "..."

    cells = [[cell(r[c]) for c in columns] for r in records]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)), "  ".join("-" * w for w in widths)]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(lines)


def _tables_named(sql: str, tables: dict[str, TableRef]) -> list[str]:
    """Catalog tables whose names appear as words in ``sql`` (only those are opened)."""
    words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", sql))
    return [name for name in tables if name in words]


def _check_read_only(con: duckdb.DuckDBPyConnection, sql: str, tables: dict[str, TableRef]) -> None:
    """Refuse anything but SELECT, naming the statement type; parse errors name the known tables."""
    import duckdb

    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as exc:
        raise QueryError(f"cannot parse the query: {exc}") from exc
    if not statements:
        raise QueryError("empty query")
    for statement in statements:
        if statement.type != duckdb.StatementType.SELECT:
            kind = str(statement.type).split(".")[-1]
            raise QueryError(
                f"labellake query is read-only: {kind} statements are refused "
                "(only SELECT runs; tables are written by the pipeline's stages)"
            )
    if len(statements) > 1:
        raise QueryError("one SELECT statement per query")


def _unknown(name: str, tables: dict[str, TableRef]) -> str:
    return f"no table {name!r} in the lakehouse; tables: {sorted(tables) or '(none yet: run a pipeline first)'}"


def iter_rows(sql: str, settings: Settings, as_of: AsOf = None) -> Iterator[dict[str, Any]]:
    """Result rows one by one (scripts that want Python dicts without pandas)."""
    for batch in stream(sql, settings, as_of):
        yield from batch.to_pylist()
