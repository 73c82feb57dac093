"""What an incremental run must recompute: the LF diff and the row diff against the votes on record.

The votes table's newest commit describes the state it holds: which LF
versions voted (``lf_versions``) over which source version
(``source_version``). A run compares that with the current LF pack and the
current source table:

- LFs that are new or whose version changed are recomputed over every row;
- LFs no longer in the pack have their votes dropped;
- rows that are new, or whose ``_content_hash`` (text and every other column an
  LF can read) changed, get every current LF; deleted rows lose their votes;
- unchanged LFs on unchanged rows are never recomputed.

When the previous state cannot be trusted (no votes yet, ``--mode full``, the
class list changed, the old source version was vacuumed, an older table
layout, content hashes of another form) the plan says ``full`` and why.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.core.lineage import RunContext
from jobs.lake.table_files import partition_columns
from jobs.lake.tables import TableRef, latest_commit
from lf_library.core import LFPack

log = logging.getLogger(__name__)

ROW_STATUS = "_row_status"
"""Column of :attr:`RecomputePlan.rows`: ``new``, ``changed``, ``deleted`` or ``same``."""


@dataclass
class RecomputePlan:
    """The diff of one run against the votes on record, and what it implies."""

    mode: str
    """``full`` (every LF on every row) or ``incremental``."""
    reason: str
    lf_changes: dict[str, str] = field(default_factory=dict)
    """LF name -> ``new``, ``changed <old>-><new>`` or ``removed``; unchanged LFs are not listed."""
    row_changes: dict[str, int] = field(default_factory=dict)
    """Row counts by status (new, changed, deleted, same); empty when the source version is the same."""
    previous_votes_version: int | None = None
    previous_source_version: int | None = None
    rows: DataFrame | None = None
    """``(id, _row_status)`` over old and current rows, when the source changed."""

    @property
    def recomputed_lfs(self) -> list[str]:
        return sorted(n for n, change in self.lf_changes.items() if change != "removed")

    @property
    def removed_lfs(self) -> list[str]:
        return sorted(n for n, change in self.lf_changes.items() if change == "removed")

    @property
    def dirty_rows(self) -> int:
        return self.row_changes.get("new", 0) + self.row_changes.get("changed", 0)

    @property
    def rows_changed(self) -> bool:
        return any(self.row_changes.get(s, 0) for s in ("new", "changed", "deleted"))

    def describe(self, pack: LFPack, total_rows: int) -> str:
        """One log line: what is recomputed (LFs x rows) and why."""
        if self.mode == "full":
            return f"full recompute ({self.reason}): {len(pack)} LFs x {total_rows} rows"
        parts = []
        if self.recomputed_lfs:
            parts.append(
                f"{len(self.recomputed_lfs)} new/changed LFs x {total_rows} rows "
                f"({', '.join(f'{n}: {self.lf_changes[n]}' for n in self.recomputed_lfs)})"
            )
        unchanged = len(pack) - len(self.recomputed_lfs)
        if self.dirty_rows and unchanged:
            parts.append(
                f"{unchanged} unchanged LFs x {self.dirty_rows} new/changed rows "
                f"({self.row_changes.get('new', 0)} new, {self.row_changes.get('changed', 0)} changed)"
            )
        if self.removed_lfs:
            parts.append(f"votes of removed LFs dropped ({', '.join(self.removed_lfs)})")
        if self.row_changes.get("deleted"):
            parts.append(f"votes of {self.row_changes['deleted']} deleted rows dropped")
        if not parts:
            return "incremental: nothing changed since the votes on record; no LF recomputed"
        return "incremental: " + "; ".join(parts)

    def record(self, pack: LFPack, total_rows: int) -> dict[str, Any]:
        """JSON-able summary for the runs table's ``recomputed`` column."""
        unchanged = len(pack) - len(self.recomputed_lfs)
        computed = (
            len(pack) * total_rows
            if self.mode == "full"
            else len(self.recomputed_lfs) * total_rows + unchanged * self.dirty_rows
        )
        return {
            "mode": self.mode,
            "reason": self.reason,
            "lfs": self.recomputed_lfs if self.mode != "full" else "all",
            "removed_lfs": self.removed_lfs,
            "dirty_rows": self.dirty_rows if self.mode != "full" else total_rows,
            "lf_row_pairs": computed,
            "lf_row_pairs_full": len(pack) * total_rows,
            "previous_votes_version": self.previous_votes_version,
        }


def full(reason: str) -> RecomputePlan:
    return RecomputePlan(mode="full", reason=reason)


def plan_recompute(
    spark: SparkSession, run: RunContext, pack: LFPack, votes: TableRef, source: TableRef, source_version: int
) -> RecomputePlan:
    """Diff ``pack`` and ``source@source_version`` against the votes on record."""
    if run.mode == "full":
        return full("--mode full")
    if not votes.exists():
        return full("no votes on record yet")
    if partition_columns(spark, votes) != ["lf"]:
        return full("the votes table predates the per-LF layout")
    votes_version, meta = latest_commit(spark, votes)
    if "lf_versions" not in meta or "source_version" not in meta:
        return full(f"votes@v{votes_version} carries no LF state in its commit")
    if list(meta.get("classes") or []) != list(pack.classes):
        return full(f"classes changed from {meta.get('classes')} to {list(pack.classes)}")
    old: dict[str, str] = meta["lf_versions"]
    current = pack.versions
    lf_changes = {
        name: ("new" if name not in old else f"changed {old[name]}->{version}")
        for name, version in current.items()
        if old.get(name) != version
    }
    lf_changes.update({name: "removed" for name in old if name not in current})
    plan = RecomputePlan(
        mode="incremental",
        reason="diff against the votes on record",
        lf_changes=lf_changes,
        previous_votes_version=votes_version,
        previous_source_version=int(meta["source_version"]),
    )
    if plan.previous_source_version == source_version:
        return plan
    try:
        old_rows = source.read(spark, plan.previous_source_version).select(
            "id", F.col("_content_hash").alias("_old_hash")
        )
        _ = old_rows.schema  # resolve now: a vacuumed version fails here, not mid-write
    except Exception as exc:  # noqa: BLE001 - any failure to read the old snapshot means "recompute all"
        return full(f"{source.name}@v{plan.previous_source_version} is no longer readable ({type(exc).__name__})")
    new_rows = source.read(spark, source_version).select("id", F.col("_content_hash").alias("_new_hash"))
    old_form, new_form = old_rows.schema["_old_hash"].dataType, new_rows.schema["_new_hash"].dataType
    if old_form != new_form:  # e.g. SHA-256 text before docs/decisions/0014: no hash compares
        return full(
            f"{source.name}@v{plan.previous_source_version}'s content hashes are {old_form.simpleString()}, "
            f"v{source_version}'s {new_form.simpleString()}: rows hashed another way cannot be compared"
        )
    status = (
        F.when(F.col("_old_hash").isNull(), "new")
        .when(F.col("_new_hash").isNull(), "deleted")
        .when(F.col("_old_hash") != F.col("_new_hash"), "changed")
        .otherwise("same")
    )
    plan.rows = old_rows.join(new_rows, "id", "full_outer").select("id", status.alias(ROW_STATUS))
    plan.row_changes = {r[ROW_STATUS]: int(r["count"]) for r in plan.rows.groupBy(ROW_STATUS).count().collect()}
    return plan
