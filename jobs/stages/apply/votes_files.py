"""An LF edit's votes written as plain Parquet by Spark, committed by delta-rs.

An LF-only edit replaces the edited LFs' partitions of the votes table (``lf IN (...)``). Its
new votes are few (abstains are not stored), so Spark's Delta writer spent more on its
driver-side commit (snapshot, checksum, conflict checks) than on the files: about a second
against the write's 0.1 s over the LF job (docs/decisions/0017). Here Spark's plain Parquet
writer writes them, partitioned by LF, into a scratch directory of the table; the files move
into the table's ``lf=<name>/`` directories, their statistics are read from their footers,
and delta-rs commits them in one transaction (:mod:`jobs.lake.executor_writes`) that
replaces those partitions, with the statistics a Spark write records (the votes suite
settles its checks from them). No Python runs in the tasks.

A full run (or one where rows changed) replaces the whole table the same way
(:func:`overwrite_votes`, :func:`jobs.lake.spark_parquet.overwrite_table`), creating it on the
first run. Only for a votes table on local or shared disk that is what the apply stage creates:
partitioned by ``lf``, the votes schema, the plain protocol and no table property that
changes what a write must record (statistics columns, append-only). Anything else goes
through Spark's Delta writer.
"""

from __future__ import annotations

import json
import logging

from pyspark.sql import DataFrame

from jobs.lake.executor_writes import commit_partitions, plain_writer_protocol
from jobs.lake.spark_parquet import Layout, overwrite_table, overwrites_directly, partition_value, spark_parquet_files
from jobs.lake.tables import TableRef, local_path

log = logging.getLogger(__name__)

LF = "lf"
DATA_COLUMNS = ("id", "vote", "lf_version")
"""The votes' columns in their files (``lf`` is the partition); Delta's default statistics
cover all of them (the first 32 columns)."""
WHOLE_TABLE = Layout(DATA_COLUMNS, LF, named_stats=False)
"""A whole votes table as the apply stage creates it: by LF, Delta's default statistics."""
_SPARK_TYPES = {"id": "string", "lf": "string", "vote": "integer", "lf_version": "string"}
_PROPERTIES_SPARK_HONOURS = ("delta.appendOnly", "delta.dataSkipping")


def writes_directly(ref: TableRef) -> bool:
    """Whether :func:`write_lf_partitions` may write ``ref`` (see the module)."""
    if local_path(ref.path) is None or not ref.exists() or not plain_writer_protocol(ref):
        return False
    from deltalake import DeltaTable

    table = DeltaTable(str(ref.path))
    metadata = table.metadata()
    if list(metadata.partition_columns) != [LF]:
        return False
    if any(key.startswith(_PROPERTIES_SPARK_HONOURS) for key in metadata.configuration):
        return False
    fields = json.loads(table.schema().to_json())["fields"]
    return {f["name"]: f["type"] for f in fields} == _SPARK_TYPES and all(f["nullable"] for f in fields)


def write_lf_partitions(votes: DataFrame, ref: TableRef, replaced: list[str], meta: str) -> int:
    """Replace the ``lf IN replaced`` partitions of ``ref`` with ``votes`` (``id, lf, vote,
    lf_version``, only of those LFs) in one commit; returns the new version. The caller holds
    the dataset's lock: no other write of the table runs meanwhile."""
    root = local_path(ref.path)
    assert root is not None, "writes_directly() first"
    files = spark_parquet_files(votes.select("id", LF, "vote", "lf_version"), root, DATA_COLUMNS, LF)
    partition_of = {f.path: partition_value(f.path, LF) for f in files}
    version = commit_partitions(ref, LF, replaced, files, partition_of, meta)
    log.info(
        "apply_lfs: %d votes replace %d LFs' partitions in %d files -> %s@v%d (Spark's Parquet, delta-rs's commit)",
        sum(f.rows for f in files),
        len(replaced),
        len(files),
        ref.name,
        version,
    )
    return version


def overwrite_votes(votes: DataFrame, ref: TableRef, meta: str) -> bool:
    """Replace the whole votes table with ``votes`` (a full run, or rows changed) through Spark's
    Parquet writer and one delta-rs commit, each LF's votes gathered into one task; False (nothing
    written) when the table's layout needs Spark's Delta writer."""
    why_not = overwrites_directly(ref, votes, WHOLE_TABLE)
    if why_not is not None:
        log.info("apply_lfs: the votes go through Spark's Delta writer: %s", why_not)
        return False
    overwrite_table(votes.repartition(LF), ref, meta, WHOLE_TABLE)
    return True
