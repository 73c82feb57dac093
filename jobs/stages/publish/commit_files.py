"""Publish by commit: the validated staging files become the new labels version, unrewritten.

Write-audit-publish done literally: the fit writes a run's candidate labels once,
as the staging table's ``_run_id=<run>`` partition; validation reads those
files; publishing then *commits the same files* to the labels table (one Delta
transaction that removes the previous version's files and adds these). Nothing
is re-encoded, so what analysts read is byte for byte what Great Expectations
passed, and a 10M-row publish costs a metadata commit instead of a 10M-row
rewrite (docs/decisions/0007).

How, without reaching into Delta's JVM internals:

- the labels table is partitioned by ``_run_id`` like staging, so a staging
  file (which, being partitioned, holds every column but ``_run_id``) is a
  valid labels file as it is, and every labels version holds exactly one
  run's partition;
- each file is hard-linked into the labels directory (copied if the two are
  on different filesystems; on an object store, copied by the server), under
  the same relative path. A link or copy is a second name, not a reference:
  vacuuming either table never breaks the other's history;
- the commit is delta-rs's ``create_write_transaction`` (overwrite), with the
  staging add actions' own statistics, so data skipping on ``id`` keeps working,
  and the lineage JSON as the commit's ``userMetadata``, where Spark, delta-rs
  and ``labellake history`` read it.

:func:`can_commit` says when this applies: both tables on local disk or in one bucket, and a labels table
that does not exist yet (the first publish creates it with the files) or is
already partitioned by ``_run_id`` with staging's columns. Otherwise (a
schema change, tables on two stores, a labels table of an older labellake) the
publish stage rewrites the rows through Spark, which also moves an older
unpartitioned labels table to this layout.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from jobs.lake.tables import TableRef, local_path

log = logging.getLogger(__name__)

PARTITION = "_run_id"


@dataclass(frozen=True)
class StagedFile:
    """One add action of a run's staging commit."""

    path: str
    """Relative to the table root, URL-encoded as in the Delta log."""
    size: int
    modification_time: int
    partition_values: dict[str, str | None]
    stats: str

    @property
    def rows(self) -> int:
        return int(json.loads(self.stats or "{}").get("numRecords", -1))


def _columns(schema_json: str) -> dict[str, str]:
    return {f["name"]: json.dumps(f["type"], sort_keys=True) for f in json.loads(schema_json)["fields"]}


def can_commit(labels_ref: TableRef, staging_ref: TableRef, columns: tuple[str, ...]) -> str | None:
    """None when the staging files can be committed to the labels table (``columns``, in order, when
    it does not exist yet) as they are, else why not."""
    from deltalake import DeltaTable

    labels_local, staging_local = local_path(labels_ref.path) is not None, local_path(staging_ref.path) is not None
    if labels_local != staging_local:
        return "the labels and staging tables are on different stores"
    if not labels_local and not (_bucket(labels_ref.uri) and _bucket(labels_ref.uri) == _bucket(staging_ref.uri)):
        return "the labels and staging tables are not in one bucket (no server-side copy)"
    staging = DeltaTable(str(staging_ref.path))
    if not labels_ref.exists():  # (a publish killed before its first commit leaves an empty log behind)
        names = {f.name for f in staging.schema().fields}
        return None if names == set(columns) else "the staging columns are not the labels columns"
    labels = DeltaTable(str(labels_ref.path))
    if labels.metadata().partition_columns != [PARTITION]:
        return f"the labels table is not partitioned by {PARTITION} (an older layout)"
    if _columns(labels.schema().to_json()) != _columns(staging.schema().to_json()):
        return "the staging columns differ from the labels columns"
    return None


def _bucket(uri: str) -> str | None:
    return uri.split("://", 1)[1].split("/", 1)[0] if uri.startswith("s3a://") else None


def _log_lines(staging: TableRef, version: int) -> list[str]:
    """The JSON lines of commit ``version`` of ``staging``'s Delta log, on disk or on the store."""
    name = f"_delta_log/{version:020d}.json"
    if isinstance(staging.path, Path):
        return (staging.path / name).read_text(encoding="utf-8").splitlines()
    from jobs.lake.object_store import read_object

    found = read_object(f"{staging.uri}/{name}")
    if found is None:
        raise FileNotFoundError(f"{staging.uri}/{name}")
    return found.data.decode("utf-8").splitlines()


def staged_files(staging: TableRef, staging_version: int, run_id: str) -> list[StagedFile]:
    """The files commit ``staging_version`` of the staging table added for ``run_id``,
    checked to be still live (a later rewrite of the partition would have removed them)."""
    import pyarrow as pa
    from deltalake import DeltaTable

    files = []
    for line in _log_lines(staging, staging_version):
        add = json.loads(line).get("add")
        if add and (add.get("partitionValues") or {}).get(PARTITION) == run_id:
            files.append(
                StagedFile(
                    add["path"],
                    int(add["size"]),
                    int(add["modificationTime"]),
                    dict(add.get("partitionValues") or {}),
                    add.get("stats") or "",
                )
            )
    live = {unquote(str(p)) for p in pa.table(DeltaTable(staging.uri).get_add_actions()).column("path").to_pylist()}
    gone = [f.path for f in files if unquote(f.path) not in live]
    if gone:
        raise FileNotFoundError(
            f"staging commit v{staging_version} of run {run_id}: {len(gone)} files no longer "
            f"live in {staging.uri} (first: {gone[0]})"
        )
    return files


def _link(source: Path, target: Path) -> None:
    """``target`` becomes a second name of ``source`` (a copy across filesystems); idempotent for retries."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        if target.stat().st_size == source.stat().st_size:
            return  # an earlier attempt of this publish linked it before failing to commit
        raise FileExistsError(f"{target} exists with another size; refusing to overwrite a labels file")
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def skipping_properties(ref: TableRef) -> dict[str, str]:
    """The table's data-skipping properties (which columns its files carry statistics for)."""
    from deltalake import DeltaTable

    configured = DeltaTable(str(ref.path)).metadata().configuration
    return {k: v for k, v in configured.items() if k.startswith("delta.dataSkipping") and v is not None}


def commit_staged_files(
    labels_ref: TableRef, staging_ref: TableRef, files: list[StagedFile], user_metadata: str, columns: tuple[str, ...]
) -> int:
    """Link ``files`` into the labels table and commit them as its new version, replacing every
    current file (creating the table, with ``columns`` in this order, on the first publish);
    returns the new version. The labels table also takes staging's data-skipping properties
    (:func:`skipping_properties`), which say which columns the committed files have statistics for."""
    from deltalake import DeltaTable, Schema
    from deltalake.transaction import (
        AddAction,
        CommitProperties,
        PostCommitHookProperties,
        RemoveAction,
        create_table_with_add_actions,
    )

    for f in files:
        if isinstance(labels_ref.path, Path):
            _link(staging_ref.local / unquote(f.path), labels_ref.local / unquote(f.path))
        else:  # a server-side copy: the bytes stay in the store
            from jobs.lake.object_store import copy_object

            copy_object(f"{staging_ref.uri}/{unquote(f.path)}", f"{labels_ref.uri}/{unquote(f.path)}")
    # delta-rs encodes the path it writes to the log, so it takes the decoded one.
    actions = [
        AddAction(unquote(f.path), f.size, f.partition_values, f.modification_time, True, f.stats) for f in files
    ]
    commit = CommitProperties(custom_metadata={"userMetadata": user_metadata})
    # The staging files carry min/max only for the columns staging's properties name, and readers
    # must be told so: delta-rs's pyarrow dataset turns a column missing from the statistics into
    # the guarantee "column >= null", and then prunes every file from a filter on it
    # (``WHERE label_name = 'HAM'`` in ``labellake query`` found no row).
    stats_properties = skipping_properties(staging_ref)
    # No log clean-up from here: how long labels history stays is the table's retention setting, for Spark.
    hooks = PostCommitHookProperties(create_checkpoint=True, cleanup_expired_logs=False)
    if labels_ref.exists():
        labels = DeltaTable(str(labels_ref.path))
        configured = labels.metadata().configuration
        if any(configured.get(k) != v for k, v in stats_properties.items()):
            labels.alter.set_table_properties(stats_properties)  # a labels table from before this setting
            labels = DeltaTable(str(labels_ref.path))
        labels.create_write_transaction(
            list[AddAction | RemoveAction](actions),
            mode="overwrite",
            schema=labels.schema(),
            partition_by=[PARTITION],
            commit_properties=commit,
            post_commithook_properties=hooks,
        )
        return int(DeltaTable(str(labels_ref.path)).version())
    fields = {f.name: f for f in DeltaTable(str(staging_ref.path)).schema().fields}
    create_table_with_add_actions(
        str(labels_ref.path),
        Schema([fields[c] for c in columns]),
        actions,
        partition_by=[PARTITION],
        configuration=stats_properties or None,
        commit_properties=commit,
        post_commithook_properties=hooks,
    )
    return int(DeltaTable(str(labels_ref.path)).version())
