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
from jobs.bench.scaled_source import build_scaled_source, scaled_dataset
from jobs.bench.week_checks import Checks, check_night
from jobs.bench.week_scenario import (
    MALFORMED_FILE,
    NIGHTS,
    PACKS,
    Night,
    base_pack,
    indexed,
    night_source,
    pack_for,
    write_partner_file,
)
from jobs.core.datasets import get_dataset, write_datasets_toml
from jobs.core.lineage import RunContext
from jobs.core.settings import Settings, bench_dir
from jobs.lake.runs import run_record
from jobs.pipeline import run_pipeline, run_stage
from jobs.spark.session import get_spark


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


def _write_night_source(scaled: DataFrame, rows: int, night: Night, workdir: Path) -> tuple[Path | None, int]:
    """Write the night's source files; the deleted ids' folder (night 3) and the partner rows (night 5)."""
    day, deleted_ids, partner_rows = night.day, None, 0
    if night.source_changes and day != 5:
        night_source(scaled, rows, day).write.mode("overwrite").json(str(workdir / "source" / "base"))
    if day == 3:
        deleted_ids = workdir / "deleted_ids.parquet"
        gone = indexed(scaled).where(F.col("_i") % 100 == 3).select("id")
        gone.write.mode("overwrite").parquet(str(deleted_ids))
    if day == 5:
        texts = [r["text"] for r in scaled.select("text").limit(40).collect()]  # 40 texts, not rows
        partner_rows = write_partner_file(workdir / "source" / "extra" / MALFORMED_FILE, texts)
    return deleted_ids, partner_rows


@dataclasses.dataclass
class _FullRecompute:
    """The second lakehouse, kept as a full recompute of the latest night whose inputs changed."""

    settings: Settings | None = None
    staged_run: str | None = None

    def catch_up(self, night: Night, inc: Settings, full: Settings, name: str, spark: SparkSession) -> float | None:
        """Recompute the night in full when its inputs changed; its seconds (None when not rerun)."""
        if self.settings is None:  # night 1 ran on an empty lakehouse: it was a full recompute
            shutil.copytree(inc.home, full.home)
            self.settings = full
            return None
        if not (night.source_changes or night.day in PACKS):
            return None
        run = RunContext(f"full-{night.day}", name, trigger="schedule", mode="full")
        seconds = _full_recompute(run, full, spark)
        self.settings, self.staged_run = full, run.run_id
        return seconds


def _run_night(
    spark: SparkSession,
    settings: Settings,
    workdir: Path,
    week_ds: dict[str, Any],
    night: Night,
    full: _FullRecompute,
    checks: Checks,
) -> dict[str, Any]:
    """The night's incremental run, its full recompute and the comparison of the two."""
    name, day = week_ds["name"], night.day
    inc = _night_settings(settings, workdir, name, week_ds["config"], day, "lakehouse")
    started = time.monotonic()
    run_pipeline(RunContext(f"night-{day}", name, trigger="schedule"), inc, spark)
    seconds = round(time.monotonic() - started, 2)
    full_settings = _night_settings(settings, workdir, name, week_ds["config"], day, "lakehouse-full")
    full_seconds = full.catch_up(night, inc, full_settings, name, spark)
    assert full.settings is not None
    same = _same_results(inc, full.settings, name, b_staged_run=full.staged_run)
    checks.equal(day, "votes and labels equal a full recompute", same["equal"], True)
    record = run_record(spark, inc, f"night-{day}", name) or {}
    return {
        "inc": inc,
        "day": day,
        "change": night.change,
        "seconds": seconds,
        "full_recompute_seconds": full_seconds,
        "equal_to_full_recompute": same,
        "stages": json.loads(record.get("stage_seconds") or "{}"),
    }


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
    os.environ["LABELLAKE_METASTORE"] = "off"  # scratch lakehouses stay out of the user's metastore
    spark = get_spark("labellake-bench-week", settings)
    workdir = workdir or Path(tempfile.mkdtemp(prefix="labellake-week-", dir=bench_dir()))
    name = f"week_{dataset}"
    scaled = build_scaled_source(spark, ds, settings, rows, workdir / "scaled.parquet")
    (workdir / "source" / "extra").mkdir(parents=True, exist_ok=True)
    week_ds = {"name": name, "config": scaled_dataset(ds, str(workdir / "source" / "*" / "*.json"))}
    checks, full = Checks(), _FullRecompute()
    figures: dict[str, Any] = {
        "dataset": dataset,
        "rows": rows,
        "lfs": len(base_pack()),
        "nights": [],
        "workdir": str(workdir),
    }
    partner_rows = 0
    with PeakMemory() as memory:
        for night in NIGHTS:
            deleted_ids, new_partner_rows = _write_night_source(scaled, rows, night, workdir)
            partner_rows = new_partner_rows or partner_rows
            live = night_source(scaled, rows, night.day).count() + partner_rows
            ran = _run_night(spark, settings, workdir, week_ds, night, full, checks)
            inc = ran.pop("inc")
            run_id = f"night-{night.day}"
            night_figures = check_night(
                spark, inc, name, night, run_id, live, scaled, rows, deleted_ids, partner_rows, checks
            )
            figures["nights"].append({**night_figures, **ran})
            progress(
                f"night {night.day} ({night.change}): {ran['seconds']:.1f} s, {live:,} live rows, "
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
