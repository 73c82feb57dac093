"""Retention: a dataset's tables keep a bounded history (``labellake vacuum``, and the DAGs after
each publish).

Every labels version holds a whole run, so without this the lakehouse grows by a full copy of
the labels per publish, and the staging table by one per run. The policy is the dataset's
``[retention]``: versions committed in the last ``days`` stay readable (time travel works), and
the ``min_versions`` newest ones whatever their age. Delta's VACUUM (delta-rs) deletes the files
only older versions need; runs' staging partitions (validated candidates, kept for inspection)
are deleted when their run is older than both bounds and is not the published one. The dataset
lock is held, so no run of the dataset writes meanwhile.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from jobs.core.dataset_sections import RetentionSettings
from jobs.core.datasets import DatasetConfig
from jobs.core.lineage import RunContext, new_run_id
from jobs.core.settings import Settings
from jobs.lake.dataset_lock import dataset_lock
from jobs.lake.tables import DATASET_ROLES, TableRef, commit_metadata, table

if TYPE_CHECKING:
    from deltalake import DeltaTable
    from deltalake.transaction import CommitProperties

HOUR_MS = 3_600_000


@dataclass(frozen=True)
class TableVacuum:
    """What vacuuming one table did (or, dry, would do)."""

    table: str
    versions: int
    oldest_readable: int
    """The oldest version still readable afterwards (older ones' files are gone)."""
    files_deleted: int
    staging_runs_dropped: tuple[str, ...] = ()


def kept_versions(history: list[tuple[int, int]], policy: RetentionSettings, now_ms: int) -> list[int]:
    """Versions ``(version, commit ms)`` the policy keeps readable: those newer than ``days``, and
    the ``min_versions`` newest."""
    newest_first = sorted(history, reverse=True)
    cutoff = now_ms - policy.days * 24 * HOUR_MS
    return sorted({v for v, ts in newest_first if ts >= cutoff} | {v for v, _ in newest_first[: policy.min_versions]})


def stale_staging_runs(
    run_commit_ms: dict[str, int], published_run: str | None, policy: RetentionSettings, now_ms: int
) -> list[str]:
    """Staging partitions to drop: runs older than ``days``, outside the ``min_versions`` newest,
    and not the published run (its files back the labels' reuse checks)."""
    newest = sorted(run_commit_ms, key=lambda r: run_commit_ms[r], reverse=True)
    cutoff = now_ms - policy.days * 24 * HOUR_MS
    keep = set(newest[: policy.min_versions]) | {published_run}
    return sorted(r for r in newest if r not in keep and run_commit_ms[r] < cutoff)


def vacuum_dataset(
    settings: Settings, ds: DatasetConfig, dry_run: bool = False, run: RunContext | None = None
) -> list[TableVacuum]:
    """Apply ``ds.retention`` to each of the dataset's tables, under the dataset lock."""
    run = run or RunContext(new_run_id("vacuum"), ds.name)
    with dataset_lock(settings, run):
        now_ms = int(time.time() * 1000)
        published = _published_run(table(settings, ds.name, "labels"))
        refs = [table(settings, ds.name, role) for role in DATASET_ROLES]
        return [_vacuum_table(ref, ds.retention, now_ms, published, dry_run) for ref in refs if ref.exists()]


def _published_run(labels: TableRef) -> str | None:
    from deltalake import DeltaTable

    if not labels.exists():
        return None
    runs = {p.get("_run_id") for p in DeltaTable(str(labels.path)).partitions()}
    return next(iter(runs)) if len(runs) == 1 else None


def _vacuum_table(
    ref: TableRef, policy: RetentionSettings, now_ms: int, published: str | None, dry_run: bool
) -> TableVacuum:
    from deltalake import DeltaTable

    dt = DeltaTable(str(ref.path))
    dropped: list[str] = []
    if ref.role == "staging_labels":
        dropped = stale_staging_runs(_run_commit_ms(dt), published, policy, now_ms)
        if dropped and not dry_run:
            listed = ", ".join("'" + r.replace("'", "''") + "'" for r in dropped)
            meta = commit_metadata(operation="retention", dropped_runs=dropped)
            dt.delete(f"_run_id IN ({listed})", commit_properties=_commit(meta))
            dt = DeltaTable(str(ref.path))
    history = [(int(h["version"]), int(h["timestamp"])) for h in dt.history()]
    keep = kept_versions(history, policy, now_ms)
    deleted = dt.vacuum(
        retention_hours=math.ceil(policy.days * 24),
        dry_run=dry_run,
        enforce_retention_duration=False,
        keep_versions=keep,
    )
    return TableVacuum(ref.name, len(history), min(keep), len(deleted), tuple(dropped))


def _run_commit_ms(dt: DeltaTable) -> dict[str, int]:
    """Each staged run's newest file time (ms): when its partition was (re)written."""
    import pyarrow as pa

    actions = pa.table(dt.get_add_actions(flatten=True)).to_pydict()
    runs: dict[str, int] = {}
    for run, modified in zip(actions["partition._run_id"], actions["modification_time"], strict=True):
        runs[run] = max(runs.get(run, 0), int(modified))
    return runs


def _commit(user_metadata: str) -> CommitProperties:
    from deltalake.transaction import CommitProperties

    return CommitProperties(custom_metadata={"userMetadata": user_metadata})


def format_vacuum(dataset: str, results: list[TableVacuum], dry_run: bool) -> str:
    """The vacuum's outcome as a small table, one line per table."""
    verb = "would delete" if dry_run else "deleted"
    lines = [f"vacuum {dataset}: {sum(r.files_deleted for r in results)} files {verb}"]
    for r in results:
        dropped = f", staging runs dropped: {len(r.staging_runs_dropped)}" if r.staging_runs_dropped else ""
        lines.append(
            f"  {r.table:<36} versions {r.versions:>4}  readable from v{r.oldest_readable:<4} "
            f"files {verb} {r.files_deleted}{dropped}"
        )
    return "\n".join(lines)
