"""``labellake bench week``: seven nightly relabels over a changing source, checked after every night.

A nightly relabel must hold up night after night, not once. This replays a
week on N rows of a dataset's real text (scaled as in
:mod:`jobs.bench.scaled_source`, written as JSON files like a real drop):

==  =====================  ===================================================
day change                 what the night must get right
==  =====================  ===================================================
1   first load (90% rows)  everything computed once
2   rows appended (10%)    only the new rows computed
3   texts edited, rows     edited rows recomputed; deleted ids leave the
    deleted (1% each)      current labels but stay visible by time travel
4   one LF edited          only that LF recomputed, on every row
5   a malformed file       its bad lines quarantined with reasons (raw line
    arrives                kept); its good rows labeled
6   one LF removed         its votes dropped, nothing recomputed
7   nothing changed        nothing recomputed, refitted or republished
==  =====================  ===================================================

Each night runs incrementally (trigger ``schedule``) on one lakehouse, and a
full recompute of the same source and LF set runs on a second lakehouse, up to
its staged labels, the files a publish would commit (on a
night whose inputs equal the previous night's, that night's full result is
the previous one, so it is not rerun; night 1's incremental run, on an empty
lakehouse, is itself a full recompute, and the second lakehouse starts as a
copy of it). After every night it checks, with
DuckDB over delta-rs (no rows reach the driver):

- the labels table has exactly one row per live source id, and the live ids
  are the ones the scenario says (counted independently from the night's
  source frame);
- votes and labels equal the full recompute's;
- the runs row tells the night's story (status, trigger, row changes, LF
  changes, what was recomputed), the lineage columns name the night's run
  (on the quiet night: the previous night's, whose labels stay current), LF
  set and source version, and the LF registry keeps edited and removed
  LFs' versions with the run they were last used in;
- deleted ids are gone now and present in the previous labels version;
- nothing from the malformed file is lost.

Every failed check is listed in ``failures``; the test suite runs this at a
small N and requires none (``tests/bench/test_week_of_nights.py``).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.bench.incremental_bench import BASE_PACK_ENV, _same_results
from jobs.bench.lfs_bench import PeakMemory
from jobs.bench.scaled_source import build_scaled_source
from jobs.bench.week_scenario import (
    MALFORMED_FILE,
    MALFORMED_LINES,
    NIGHTS,
    PACKS,
    Night,
    base_pack,
    edit_target,
    indexed,
    night_source,
    pack_for,
    removed_lf_name,
    write_partner_file,
)
from jobs.core.datasets import get_dataset, write_datasets_toml
from jobs.core.lineage import RunContext
from jobs.core.settings import Settings, bench_dir
from jobs.lake.runs import run_record
from jobs.lake.tables import table
from jobs.pipeline import run_pipeline, run_stage
from jobs.spark.session import get_spark
from lf_library.packs import load_pack


# ----------------------------------------------------------------- the checks
class _Checks:
    def __init__(self) -> None:
        self.failures: list[str] = []

    def equal(self, day: int, what: str, got: Any, want: Any) -> None:
        if got != want:
            self.failures.append(f"night {day}: {what}: got {got!r}, want {want!r}")


def _duck(settings: Settings, dataset: str, versions: dict[str, int | None] | None = None) -> Any:
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


def _check_night(
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
    checks: _Checks,
) -> dict[str, Any]:
    from deltalake import DeltaTable

    day = night.day
    con = _duck(inc, name)
    n, distinct = con.execute("SELECT count(*), count(DISTINCT id) FROM labels").fetchone()
    checks.equal(day, "labels rows", n, live)
    checks.equal(day, "distinct label ids", distinct, live)
    missing, extra = con.execute("""
        SELECT (SELECT count(*) FROM source s ANTI JOIN labels l USING (id)),
               (SELECT count(*) FROM labels l ANTI JOIN source s USING (id))""").fetchone()
    checks.equal(day, "live ids without a label", missing, 0)
    checks.equal(day, "labels of ids not in the source", extra, 0)

    record = run_record(spark, inc, run_id, name) or {}
    checks.equal(day, "run status", record.get("status"), "published")
    checks.equal(day, "run trigger", record.get("trigger"), "schedule")
    source_version = DeltaTable(str(table(inc, name, "source").path)).version()
    pack = load_pack(f"jobs.bench.week_scenario:{pack_for(day)}")
    # A quiet night publishes nothing: the previous night's labels stay current, lineage and all.
    labeled_by = f"night-{day - 1}" if not night.source_changes and day not in PACKS else run_id
    checks.equal(
        day,
        "run whose labels are current",
        record.get("labels_current_from"),
        None if labeled_by == run_id else labeled_by,
    )
    stale = con.execute(
        "SELECT count(*) FROM labels WHERE _run_id <> ? OR _lf_set_version <> ? OR _source_version <> ?",
        [labeled_by, pack.set_version, source_version],
    ).fetchone()[0]
    checks.equal(day, "label rows whose lineage is not the labeling run's", stale, 0)

    lf_changes = json.loads(record.get("lf_changes") or "{}")
    recomputed = json.loads(record.get("recomputed") or "{}")
    row_changes = json.loads(record.get("source_changes") or "{}")
    changed = {k: v.split(" ")[0] for k, v in lf_changes.items()}
    edited = edit_target(base_pack()).name
    removed = removed_lf_name(base_pack())
    want_lf_changes = {4: {edited: "changed"}, 6: {removed: "removed"}}.get(day, {})
    if day > 1:
        checks.equal(day, "LF changes on the run", changed, want_lf_changes)
    pairs = recomputed.get("lf_row_pairs")
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

    figures: dict[str, Any] = {
        "live_rows": live,
        "row_changes": row_changes,
        "lf_changes": lf_changes,
        "lf_row_pairs": pairs,
        "source_version": source_version,
    }
    if day == 2:
        checks.equal(day, "new rows on the run record", row_changes.get("new"), rows - int(rows * 0.9))
    if day == 3 and deleted_ids is not None:
        deleted = f"read_parquet('{deleted_ids}/*.parquet')"
        deleted_n = con.execute(f"SELECT count(*) FROM {deleted}").fetchone()[0]
        checks.equal(
            day,
            "deleted ids still labeled",
            con.execute(f"SELECT count(*) FROM labels JOIN {deleted} USING (id)").fetchone()[0],
            0,
        )
        labels_version = int(record["labels_version"])
        before = _duck(inc, name, {"labels": labels_version - 1})
        checks.equal(
            day,
            "deleted ids in the previous labels version (time travel)",
            before.execute(f"SELECT count(*) FROM labels JOIN {deleted} USING (id)").fetchone()[0],
            deleted_n,
        )
        checks.equal(day, "deleted rows on the run record", row_changes.get("deleted"), deleted_n)
        edited_n = indexed(scaled).where(F.col("_i") % 100 == 7).count()
        checks.equal(day, "edited rows on the run record", row_changes.get("changed"), edited_n)
        figures["deleted"] = deleted_n
    if day == 5:
        reasons = dict(
            con.execute("SELECT _reason, count(*) FROM quarantine WHERE _run_id = ? GROUP BY 1", [run_id]).fetchall()
        )
        checks.equal(
            day,
            "quarantined rows by reason",
            reasons,
            {"malformed record": len(MALFORMED_LINES), "null or empty text": 1},
        )
        kept = con.execute(
            "SELECT count(*) FROM quarantine WHERE _run_id = ? AND _reason = 'malformed record' "
            "AND _corrupt_record IS NOT NULL",
            [run_id],
        ).fetchone()[0]
        checks.equal(day, "malformed lines kept verbatim", kept, len(MALFORMED_LINES))
        labeled = con.execute("SELECT count(*) FROM labels WHERE id LIKE 'partner-%'").fetchone()[0]
        checks.equal(day, "good rows of the malformed file labeled", labeled, partner_rows)
        checks.equal(day, "new rows on the run record", row_changes.get("new"), partner_rows)
        figures["quarantined"] = reasons
    return figures


# ----------------------------------------------------------------- the week
def _night_settings(
    settings: Settings, workdir: Path, name: str, dataset: dict[str, Any], day: int, home: str
) -> Settings:
    pack = f"jobs.bench.week_scenario:{pack_for(day)}"
    config = write_datasets_toml(workdir / f"{home}-day{day}.toml", {name: {**dataset, "lf_pack": pack}})
    return dataclasses.replace(settings, home=workdir / home, config_path=config)


def _full_recompute(run: RunContext, settings: Settings, spark: SparkSession) -> float:
    """The reference for a night: ingest, apply every LF and fit, in ``full`` mode; seconds taken.
    It stops at the staged labels (what a publish would commit): validating and publishing them
    adds nothing to the comparison."""
    started = time.monotonic()
    for stage in ("ingest", "apply_lfs", "fit_label_model"):
        run_stage(stage, run, settings, spark)
    return round(time.monotonic() - started, 2)


def run_week(
    dataset: str,
    rows: int,
    settings: Settings | None = None,
    workdir: Path | None = None,
    progress: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Replay the week; returns per-night figures and every failed check (``failures``)."""
    settings = settings or Settings.from_env()
    ds = get_dataset(dataset, settings)
    os.environ[BASE_PACK_ENV] = ds.lf_pack
    spark = get_spark("labellake-bench-week", settings)
    workdir = workdir or Path(tempfile.mkdtemp(prefix="labellake-week-", dir=bench_dir()))
    name = f"week_{dataset}"
    scaled = build_scaled_source(spark, ds, settings, rows, workdir / "scaled.parquet")
    base_dir, extra_dir = workdir / "source" / "base", workdir / "source" / "extra"
    extra_dir.mkdir(parents=True, exist_ok=True)
    week_ds = {
        "source_path": str(workdir / "source" / "*" / "*.json"),
        "format": "json",
        "id_column": "id",
        "text_column": "text",
        "classes": list(ds.classes),
        "label_model": ds.label_model,
        "expectations": {
            "min_coverage": ds.expectations.min_coverage,
            "class_share": {k: list(v) for k, v in ds.expectations.class_share.items()},
        },
    }
    checks = _Checks()
    figures: dict[str, Any] = {
        "dataset": dataset,
        "rows": rows,
        "lfs": len(base_pack()),
        "nights": [],
        "workdir": str(workdir),
    }
    partner_rows = 0
    previous_full: Settings | None = None
    previous_full_run: str | None = None
    with PeakMemory() as memory:
        for night in NIGHTS:
            day = night.day
            deleted_ids = None
            if night.source_changes and day != 5:
                night_source(scaled, rows, day).write.mode("overwrite").json(str(base_dir))
            if day == 3:
                deleted_ids = workdir / "deleted_ids.parquet"
                indexed(scaled).where(F.col("_i") % 100 == 3).select("id").write.mode("overwrite").parquet(
                    str(deleted_ids)
                )
            if day == 5:
                texts = [r["text"] for r in scaled.select("text").limit(40).collect()]  # 40 texts, not rows
                partner_rows = write_partner_file(extra_dir / MALFORMED_FILE, texts)
            live = night_source(scaled, rows, day).count() + partner_rows

            inc = _night_settings(settings, workdir, name, week_ds, day, "lakehouse")
            run_id = f"night-{day}"
            started = time.monotonic()
            run_pipeline(RunContext(run_id, name, trigger="schedule"), inc, spark)
            seconds = round(time.monotonic() - started, 2)
            full = _night_settings(settings, workdir, name, week_ds, day, "lakehouse-full")
            full_seconds = None
            if previous_full is None:  # night 1 ran on an empty lakehouse: it was a full recompute
                shutil.copytree(inc.home, full.home)
                previous_full, previous_full_run = full, None
            elif night.source_changes or day in PACKS:
                full_seconds = _full_recompute(
                    RunContext(f"full-{day}", name, trigger="schedule", mode="full"), full, spark
                )
                previous_full, previous_full_run = full, f"full-{day}"
            same = _same_results(inc, previous_full, name, b_staged_run=previous_full_run)
            checks.equal(day, "votes and labels equal a full recompute", same["equal"], True)
            night_figures = _check_night(
                spark, inc, name, night, run_id, live, scaled, rows, deleted_ids, partner_rows, checks
            )
            record = run_record(spark, inc, run_id, name) or {}
            night_figures.update(
                {
                    "day": day,
                    "change": night.change,
                    "seconds": seconds,
                    "full_recompute_seconds": full_seconds,
                    "equal_to_full_recompute": same,
                    "stages": json.loads(record.get("stage_seconds") or "{}"),
                }
            )
            figures["nights"].append(night_figures)
            progress(
                f"night {day} ({night.change}): {seconds:.1f} s, {live:,} live rows, "
                f"{len(checks.failures)} failed checks so far"
            )
    figures["peak_rss_mb"] = round(memory.peak / 2**20)
    figures["failures"] = checks.failures
    figures["ok"] = not checks.failures
    return figures


def format_week(f: dict[str, Any]) -> str:
    lines = [f"bench week: {f['dataset']}, {f['rows']:,} rows x {f['lfs']} LFs, 7 nights"]
    for n in f["nights"]:
        full = (
            f"{n['full_recompute_seconds']:.1f} s"
            if n["full_recompute_seconds"]
            else "(night 1 is one)"
            if n["day"] == 1
            else "(same inputs as before)"
        )
        lines.append(
            f"  night {n['day']}: {n['change']:<42} {n['seconds']:>7.1f} s  (full recompute {full}); "
            f"live rows {n['live_rows']:,}; LF x row pairs {n['lf_row_pairs']}; "
            f"equal to full: {n['equal_to_full_recompute']['equal']}"
        )
    lines.append(f"  peak RSS (Python + JVM): {f['peak_rss_mb']} MB")
    lines.append("  every check held" if f["ok"] else "  FAILED checks:\n    " + "\n    ".join(f["failures"]))
    return "\n".join(lines)
