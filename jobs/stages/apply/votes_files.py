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

Only for a votes table on local or shared disk that is what the apply stage creates:
partitioned by ``lf``, the votes schema, the plain protocol and no table property that
changes what a write must record (statistics columns, append-only). Anything else goes
through Spark's Delta writer.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import uuid
from pathlib import Path
from urllib.parse import unquote

from pyspark.sql import DataFrame

from jobs.lake.executor_writes import WrittenFile, commit_partitions, footer_stats, plain_writer_protocol
from jobs.lake.tables import TableRef, local_path

log = logging.getLogger(__name__)

LF = "lf"
DATA_COLUMNS = ("id", "vote", "lf_version")
"""The votes' columns in their files (``lf`` is the partition); Delta's default statistics
cover all of them (the first 32 columns)."""
SCRATCH_PREFIX = "_labellake_write-"
"""A write's scratch directory in the table root: hidden from Spark and Delta, which skip
names that start with ``_``; one left by a killed write is removed by the next."""
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
    for stale in root.glob(f"{SCRATCH_PREFIX}*"):  # a killed write's: never committed
        shutil.rmtree(stale, ignore_errors=True)
    scratch = root / f"{SCRATCH_PREFIX}{uuid.uuid4().hex}"
    try:
        votes.select("id", LF, "vote", "lf_version").write.partitionBy(LF).parquet(str(scratch))
        files = [_moved_into_table(root, scratch, written) for written in sorted(scratch.glob(f"{LF}=*/*.parquet"))]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    partition_of = {f.path: _partition_value(f.path) for f in files}
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


def _moved_into_table(root: Path, scratch: Path, written: Path) -> WrittenFile:
    """Move a file Spark wrote under ``scratch`` to the same partition directory of the table;
    its add action's fields, statistics from its footer."""
    relative = written.relative_to(scratch).as_posix()
    target = root / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(written, target)
    info = target.stat()
    rows, stats = footer_stats(target, DATA_COLUMNS)
    return WrittenFile(relative, info.st_size, rows, stats, int(info.st_mtime * 1000))


def _partition_value(path: str) -> str:
    """The LF a file's directory names, with Spark's ``%XX`` escapes undone."""
    return unquote(path.split("/", 1)[0][len(LF) + 1 :])
