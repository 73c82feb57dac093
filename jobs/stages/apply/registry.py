"""The LF registry: one row per LF of the dataset's pack, with its version, kind and the run that saw it."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from jobs.core.datasets import DatasetConfig
from jobs.core.lineage import RunContext
from jobs.core.settings import Settings
from jobs.lake.tables import commit_metadata, table
from lf_library.core import LFPack

if TYPE_CHECKING:
    import pyarrow as pa


def registry_rows(pack: LFPack, ds: DatasetConfig, run: RunContext) -> pa.Table:
    """One registry row per LF version of ``pack`` applied by ``run`` (an Arrow table)."""

    import pyarrow as pa

    rows = [
        {
            "lf": lf.name,
            "lf_version": lf.version,
            "kind": lf.kind,
            "label_name": lf.label,
            "label": None if lf.label is None else pack.label_index(lf),
            "dataset": ds.name,
            "pack": pack.name,
            "label_space": list(pack.classes),
            "definition": json.dumps(lf.params(), sort_keys=True),
            "description": lf.description,
            "owner": lf.owner,
            "first_run": run.run_id,
            "last_run": run.run_id,
        }
        for lf in pack
    ]
    return pa.Table.from_pylist(rows, schema=_registry_schema())


def _registry_schema() -> pa.Schema:
    import pyarrow as pa

    return pa.schema(
        [
            ("lf", pa.string()),
            ("lf_version", pa.string()),
            ("kind", pa.string()),
            ("label_name", pa.string()),
            ("label", pa.int32()),
            ("dataset", pa.string()),
            ("pack", pa.string()),
            ("label_space", pa.list_(pa.string())),
            ("definition", pa.string()),
            ("description", pa.string()),
            ("owner", pa.string()),
            ("first_run", pa.string()),
            ("last_run", pa.string()),
        ]
    )


def upsert_registry(settings: Settings, pack: LFPack, ds: DatasetConfig, run: RunContext) -> None:
    """Record every LF version applied: first run it appeared in, last run it was used.

    ``definition`` is what the version hashes (the parameters of a declarative LF,
    the normalized source of a Python LF), so an old version's votes can be
    explained long after its code changed.

    Written with delta-rs: a Spark MERGE of these few dozen rows is a dozen Spark jobs
    (docs/decisions/0007); reading the table, upserting in Python and overwriting it
    takes milliseconds. Not delta-rs's
    own MERGE: it writes ``string_view`` Parquet columns, which DuckDB's filters over
    the table's Arrow dataset then reject. The registry is small (one row per LF
    version) and has one writer per dataset (the dataset lock); overwriting keeps
    every earlier version readable by time travel.
    """
    import pyarrow as pa
    from deltalake import DeltaTable, write_deltalake
    from deltalake.transaction import CommitProperties

    ref = table(settings, ds.name, "lf_registry")
    updates = registry_rows(pack, ds, run)
    commit = CommitProperties(custom_metadata={"userMetadata": commit_metadata(run_id=run.run_id, stage="apply_lfs")})
    if not ref.exists():
        write_deltalake(str(ref.path), updates, mode="append", commit_properties=commit)
        return
    rows = {(r["lf"], r["lf_version"]): r for r in DeltaTable(str(ref.path)).to_pyarrow_table().to_pylist()}
    for update in updates.to_pylist():
        known = rows.get((update["lf"], update["lf_version"]))
        if known is None:
            rows[(update["lf"], update["lf_version"])] = update
        else:
            known["last_run"] = update["last_run"]
    # schema_mode: a registry written by an older labellake gains the current columns (null before).
    write_deltalake(
        str(ref.path),
        pa.Table.from_pylist(list(rows.values()), schema=_registry_schema()),
        mode="overwrite",
        schema_mode="overwrite",
        commit_properties=commit,
    )
