"""The checks ``labellake bench week`` makes after every night, with DuckDB over delta-rs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.bench.week_scenario import (
    MALFORMED_LINES,
    PACKS,
    Night,
    base_pack,
    edit_target,
    indexed,
    pack_for,
    removed_lf_name,
)
from jobs.core.settings import Settings
from jobs.lake.runs import run_record
from jobs.lake.tables import table
from lf_library.packs import load_pack


class Checks:
    def __init__(self) -> None:
        self.failures: list[str] = []

    def equal(self, day: int, what: str, got: Any, want: Any) -> None:
        if got != want:
            self.failures.append(f"night {day}: {what}: got {got!r}, want {want!r}")


def duck(settings: Settings, dataset: str, versions: dict[str, int | None] | None = None) -> Any:
    import duckdb
    from deltalake import DeltaTable

    con = duckdb.connect()
    for role in ("source", "labels", "votes", "quarantine", "lf_registry"):
        ref = table(settings, dataset, role)
        if ref.exists():
            version = (versions or {}).get(role)
            dt = DeltaTable(str(ref.path)) if version is None else DeltaTable(str(ref.path), version=version)
            con.register(role, dt.to_pyarrow_dataset())
    return con


def _check_labels_cover_live_ids(con: Any, day: int, live: int, checks: Checks) -> None:
    """One label per live source id, and none for an id the source no longer has."""
    n, distinct = con.execute("SELECT count(*), count(DISTINCT id) FROM labels").fetchone()
    checks.equal(day, "labels rows", n, live)
    checks.equal(day, "distinct label ids", distinct, live)
    missing, extra = con.execute("""
        SELECT (SELECT count(*) FROM source s ANTI JOIN labels l USING (id)),
               (SELECT count(*) FROM labels l ANTI JOIN source s USING (id))""").fetchone()
    checks.equal(day, "live ids without a label", missing, 0)
    checks.equal(day, "labels of ids not in the source", extra, 0)


def _check_lineage(con: Any, night: Night, run_id: str, record: dict, source_version: int, checks: Checks) -> None:
    """The run's status and trigger, and every label row's lineage naming the labeling run."""
    day = night.day
    checks.equal(day, "run status", record.get("status"), "published")
    checks.equal(day, "run trigger", record.get("trigger"), "schedule")
    pack = load_pack(f"jobs.bench.week_scenario:{pack_for(day)}")
    # A quiet night publishes nothing: the previous night's labels stay current, lineage and all.
    labeled_by = f"night-{day - 1}" if not night.source_changes and day not in PACKS else run_id
    current_from = None if labeled_by == run_id else labeled_by
    checks.equal(day, "run whose labels are current", record.get("labels_current_from"), current_from)
    stale = con.execute(
        "SELECT count(*) FROM labels WHERE _run_id <> ? OR _lf_set_version <> ? OR _source_version <> ?",
        [labeled_by, pack.set_version, source_version],
    ).fetchone()[0]
    checks.equal(day, "label rows whose lineage is not the labeling run's", stale, 0)


def _check_lf_changes(con: Any, day: int, live: int, record: dict, checks: Checks) -> Any:
    """The LF changes and recomputed pairs on the run record, and the registry's versions; returns
    the LF x row pairs recomputed."""
    changed = {k: v.split(" ")[0] for k, v in json.loads(record.get("lf_changes") or "{}").items()}
    edited, removed = edit_target(base_pack()).name, removed_lf_name(base_pack())
    if day > 1:
        want = {4: {edited: "changed"}, 6: {removed: "removed"}}.get(day, {})
        checks.equal(day, "LF changes on the run", changed, want)
    pairs = json.loads(record.get("recomputed") or "{}").get("lf_row_pairs")
    if day == 4:
        checks.equal(day, "LF x row pairs recomputed", pairs, live)
    if day in (6, 7):
        checks.equal(day, "LF x row pairs recomputed", pairs, 0)
    registry = dict(con.execute("SELECT lf, count(*) FROM lf_registry GROUP BY lf").fetchall())
    if day >= 4:
        checks.equal(day, "registry versions of the edited LF", registry.get(edited), 2)
    if day >= 6:
        last = con.execute("SELECT max(last_run) FROM lf_registry WHERE lf = ?", [removed]).fetchone()[0]
        checks.equal(day, "last run of the removed LF", last, "night-5")
    return pairs


def _check_deletions(
    con: Any, inc: Settings, name: str, record: dict, deleted_ids: Path, scaled: DataFrame, checks: Checks
) -> int:
    """Night 3: deleted ids are gone now, present in the previous version; the record counts them."""
    day, row_changes = 3, json.loads(record.get("source_changes") or "{}")
    deleted = f"read_parquet('{deleted_ids}/*.parquet')"
    deleted_n = con.execute(f"SELECT count(*) FROM {deleted}").fetchone()[0]
    still = con.execute(f"SELECT count(*) FROM labels JOIN {deleted} USING (id)").fetchone()[0]
    checks.equal(day, "deleted ids still labeled", still, 0)
    before = duck(inc, name, {"labels": int(record["labels_version"]) - 1})
    earlier = before.execute(f"SELECT count(*) FROM labels JOIN {deleted} USING (id)").fetchone()[0]
    checks.equal(day, "deleted ids in the previous labels version (time travel)", earlier, deleted_n)
    checks.equal(day, "deleted rows on the run record", row_changes.get("deleted"), deleted_n)
    edited_n = indexed(scaled).where(F.col("_i") % 100 == 7).count()
    checks.equal(day, "edited rows on the run record", row_changes.get("changed"), edited_n)
    return int(deleted_n)


def _check_partner_file(con: Any, run_id: str, record: dict, partner_rows: int, checks: Checks) -> dict:
    """Night 5: the malformed file's bad lines quarantined verbatim with reasons, its good rows labeled."""
    day, row_changes = 5, json.loads(record.get("source_changes") or "{}")
    reasons = dict(
        con.execute("SELECT _reason, count(*) FROM quarantine WHERE _run_id = ? GROUP BY 1", [run_id]).fetchall()
    )
    want = {"malformed record": len(MALFORMED_LINES), "null or empty text": 1}
    checks.equal(day, "quarantined rows by reason", reasons, want)
    kept = con.execute(
        "SELECT count(*) FROM quarantine WHERE _run_id = ? AND _reason = 'malformed record' "
        "AND _corrupt_record IS NOT NULL",
        [run_id],
    ).fetchone()[0]
    checks.equal(day, "malformed lines kept verbatim", kept, len(MALFORMED_LINES))
    labeled = con.execute("SELECT count(*) FROM labels WHERE id LIKE 'partner-%'").fetchone()[0]
    checks.equal(day, "good rows of the malformed file labeled", labeled, partner_rows)
    checks.equal(day, "new rows on the run record", row_changes.get("new"), partner_rows)
    return reasons


def check_night(
    spark: SparkSession,
    inc: Settings,
    name: str,
    night: Night,
    run_id: str,
    live: int,
    scaled: DataFrame,
    rows: int,
    deleted_ids: Path | None,
    partner_rows: int,
    checks: Checks,
) -> dict[str, Any]:
    """Every check of one night; the night's figures."""
    from deltalake import DeltaTable

    day = night.day
    con = duck(inc, name)
    _check_labels_cover_live_ids(con, day, live, checks)
    record = run_record(spark, inc, run_id, name) or {}
    source_version = DeltaTable(str(table(inc, name, "source").path)).version()
    _check_lineage(con, night, run_id, record, source_version, checks)
    pairs = _check_lf_changes(con, day, live, record, checks)
    row_changes = json.loads(record.get("source_changes") or "{}")
    figures: dict[str, Any] = {
        "live_rows": live,
        "row_changes": row_changes,
        "lf_changes": json.loads(record.get("lf_changes") or "{}"),
        "lf_row_pairs": pairs,
        "source_version": source_version,
    }
    if day == 2:
        checks.equal(day, "new rows on the run record", row_changes.get("new"), rows - int(rows * 0.9))
    if day == 3 and deleted_ids is not None:
        figures["deleted"] = _check_deletions(con, inc, name, record, deleted_ids, scaled, checks)
    if day == 5:
        figures["quarantined"] = _check_partner_file(con, run_id, record, partner_rows, checks)
    return figures
