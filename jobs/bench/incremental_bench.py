"""``labellake bench e2e`` (alias ``incremental``): a full nightly relabel, an LF-change rerun, a quiet night.

On N rows of a dataset's real text (scaled as in :mod:`jobs.bench.scaled_source`,
written as JSON source files so ingest reads files like a real source):

1. **full**: every stage, ``--mode full``, on a fresh lakehouse (the baseline);
2. **lf-change**: one LF of the pack is edited (a keyword added), then an
   incremental run: ingest reuses the unchanged source, apply recomputes that LF
   alone, the label model refits on the updated votes;
3. **no-change**: an incremental rerun with nothing changed (a quiet night);
4. **verify** (unless ``--no-verify``): a full run of the edited pack on a second
   lakehouse; its votes and labels must equal the incremental ones exactly
   (compared by DuckDB over both Delta tables, no rows on the driver).

Printed: wall seconds and per-stage seconds of each run, the ratios
lf-change / full (goal <= 0.25) and no-change / full (goal <= 0.10), what the
GX validations add to a full run (goal <= 30%), rows/s, and the peaks of
Python RSS, JVM + worker RSS and JVM heap. With ``profile`` (``bench e2e``),
Spark's event log is on and each stage also gets its task seconds, GC,
input, shuffle and spill (:mod:`jobs.bench.spark_profile`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from jobs.bench.lf_try_bench import compare_with_rerun, timed_try
from jobs.bench.scaled_source import build_scaled_source, scaled_dataset
from jobs.bench.spark_profile import EVENT_LOG_ENV, MemoryProfile, stage_profile
from jobs.core.datasets import DatasetConfig, get_dataset, write_datasets_toml
from jobs.core.lineage import RunContext
from jobs.core.settings import Settings, bench_dir, env_setting
from jobs.lake.runs import run_record
from jobs.lake.tables import table
from jobs.pipeline import import_while_spark_starts, run_pipeline
from jobs.spark.session import get_spark
from jobs.stages import STAGES
from lf_library.core import KeywordLF, LabelingFunction, LFPack, RegexLF
from lf_library.packs import load_pack

BASE_PACK_ENV = "LABELLAKE_BENCH_BASE_PACK"
EDIT_KEYWORD = "labellakebenchword"
EDIT_KEYWORD_ENV = "LABELLAKE_BENCH_EDIT_KEYWORD"
"""The word the edited LF gains: set by the bench to a word common in the source, so the edit
changes real votes (a word no row contains would change only the LF's version)."""


def base_pack() -> LFPack:
    """The pack named by ``$LABELLAKE_BENCH_BASE_PACK`` (the config refers to it as a module:function)."""
    return load_pack(env_setting(BASE_PACK_ENV))


def edit_lf(lf: LabelingFunction, keyword: str = EDIT_KEYWORD) -> LabelingFunction | None:
    """``lf`` with one more alternative it fires on (a keyword, a regex branch); None if not editable."""
    if isinstance(lf, KeywordLF):
        return dataclasses.replace(lf, keywords=(*lf.keywords, keyword))
    if isinstance(lf, RegexLF):
        return dataclasses.replace(lf, pattern=rf"(?:{lf.pattern})|\b{keyword}\b")
    return None


def edit_target(pack: LFPack) -> LabelingFunction:
    """The LF the bench edits: the first keyword LF, else the first editable one."""
    target = next((lf for lf in pack if isinstance(lf, KeywordLF)), None) or next(
        (lf for lf in pack if edit_lf(lf) is not None), None
    )
    if target is None:
        raise ValueError(f"pack {pack.name!r} has no keyword or regex LF to edit")
    return target


def edited_pack() -> LFPack:
    """The same pack with one LF edited: :func:`edit_target` gains ``$LABELLAKE_BENCH_EDIT_KEYWORD``."""
    pack = base_pack()
    target = edit_target(pack)
    keyword = env_setting(EDIT_KEYWORD_ENV) or EDIT_KEYWORD
    edited = edit_lf(target, keyword)
    assert edited is not None  # edit_target picks an editable LF
    return LFPack(pack.name, pack.classes, [edited if lf is target else lf for lf in pack])


def common_word(texts: list[str], exclude: set[str], min_length: int = 5, max_share: float = 0.01) -> str:
    """The most frequent alphabetic word of ``min_length``+ letters in ``texts`` (lower-cased) that
    occurs in at most ``max_share`` of them, ties broken alphabetically, skipping ``exclude``.

    An edit a person makes: it changes the votes of about 1% of the rows. (The commonest word
    changed the label distribution enough for the drift checks to stop the run, as they should.)
    """
    import collections
    import re

    counts = collections.Counter(
        w
        for t in texts
        if t
        for w in set(re.findall(r"[a-z]+", t.lower()))
        if len(w) >= min_length and w not in exclude
    )
    limit = max_share * len(texts)
    candidates = [(word, n) for word, n in counts.items() if n <= limit]
    if not candidates:
        return EDIT_KEYWORD
    return min(candidates, key=lambda item: (-item[1], item[0]))[0]


def _bench_settings(
    settings: Settings, workdir: Path, name: str, dataset: dict[str, Any], pack: str, home: str
) -> Settings:
    """The bench's own lakehouse ``home``: under ``workdir``, or, when ``LABELLAKE_HOME`` is an object
    store, under a prefix of it named after ``workdir`` (the work files stay in ``workdir``)."""
    config = write_datasets_toml(workdir / f"{home}-{pack.split(':')[-1]}.toml", {name: {**dataset, "lf_pack": pack}})
    lake = f"{settings.lake}/{workdir.name}/{home}" if settings.lake else None
    return dataclasses.replace(settings, home=workdir / home, config_path=config, lake=lake)


def _timed_run(spark: Any, settings: Settings, run: RunContext) -> dict[str, Any]:
    started = time.monotonic()
    run_pipeline(run, settings, spark)
    seconds = time.monotonic() - started
    record = run_record(spark, settings, run.run_id, run.dataset) or {}
    return {
        "seconds": round(seconds, 2),
        "stages": json.loads(record.get("stage_seconds") or "{}"),
        "recomputed": json.loads(record.get("recomputed") or "{}"),
    }


def _same_results(a: Settings, b: Settings, dataset: str, b_staged_run: str | None = None) -> dict[str, Any]:
    """Votes and labels of two lakehouses compared in DuckDB (set differences, counts only).

    ``b_staged_run``: take ``b``'s labels from that run's staged candidates (a reference run that
    stopped after its fit: the same files a publish commits) instead of its published table."""
    import duckdb
    import pyarrow.dataset as pads
    from deltalake import DeltaTable

    con = duckdb.connect()
    for side, settings in (("a", a), ("b", b)):
        con.register(f"votes_{side}", DeltaTable(str(table(settings, dataset, "votes").path)).to_pyarrow_dataset())
        staged = b_staged_run if side == "b" else None
        role = "staging_labels" if staged else "labels"
        labels = DeltaTable(str(table(settings, dataset, role).path)).to_pyarrow_dataset()
        if staged:
            labels = labels.filter(pads.field("_run_id") == staged)
        con.register(f"labels_{side}", labels)
    differing_votes = con.execute("""
        SELECT count(*) FROM (
          (SELECT id, lf, vote, lf_version FROM votes_a EXCEPT ALL SELECT id, lf, vote, lf_version FROM votes_b)
          UNION ALL
          (SELECT id, lf, vote, lf_version FROM votes_b EXCEPT ALL SELECT id, lf, vote, lf_version FROM votes_a))
    """).fetchone()[0]
    differing_labels = con.execute("""
        SELECT count(*) FROM labels_a a FULL OUTER JOIN labels_b b USING (id)
        WHERE a.id IS NULL OR b.id IS NULL OR a.label <> b.label
           OR list_max(list_transform(list_zip(a.probs, b.probs), lambda x: abs(x[1] - x[2]))) > 1e-9
    """).fetchone()[0]
    return {
        "differing_votes": int(differing_votes),
        "differing_labels": int(differing_labels),
        "equal": differing_votes == 0 and differing_labels == 0,
    }


def _bench_dataset(ds: DatasetConfig, source_dir: Path) -> dict[str, Any]:
    """The bench's dataset over the scaled JSON files, with the drift limits opened: the bench times
    a rerun that publishes, and refitting after an edit can move the label distribution past the
    production limits (at 2M rows of SMS, one keyword more on a ham LF changed 1% of the patterns
    and 8.5% of the labels, KL 0.14). The drift checks still run and are logged."""
    return scaled_dataset(ds, str(source_dir / "*.json"), max_kl_divergence=10.0, max_label_change_share=1.0)


def _ratios(figures: dict[str, Any], rows: int) -> dict[str, Any]:
    """The rerun and quiet-night seconds against the full run's, rows/s, and what validating adds."""
    full = figures["full"]["seconds"]
    stages = figures["full"]["stages"]
    validation = (
        stages.get("validate", 0.0) + stages.get("ingest.source_suite", 0.0) + stages.get("apply_lfs.votes_suite", 0.0)
    )
    return {
        "lf_change_vs_full": round(figures["lf_change"]["seconds"] / full, 3),
        "no_change_vs_full": round(figures["no_change"]["seconds"] / full, 3),
        "full_rows_per_s": round(rows / full),
        "full_validation_seconds": round(validation, 2),
        # What validating adds to a run: GX time over the rest of the run.
        "validation_adds": round(validation / max(full - validation, 1e-9), 3),
        "full_vs_no_change_goal": 0.10,
    }


def run_incremental_bench(
    dataset: str, rows: int, verify: bool = True, settings: Settings | None = None, profile: bool = False
) -> dict[str, Any]:
    from pyspark.sql import SparkSession

    settings = settings or Settings.from_env()
    ds = get_dataset(dataset, settings)
    os.environ[BASE_PACK_ENV] = ds.lf_pack
    os.environ["LABELLAKE_METASTORE"] = "off"  # scratch lakehouses stay out of the user's metastore
    workdir = Path(tempfile.mkdtemp(prefix="labellake-bench-e2e-", dir=bench_dir()))
    events = workdir / "spark-events"
    if profile and SparkSession.getActiveSession() is None:  # the log is a session setting
        events.mkdir()
        os.environ[EVENT_LOG_ENV] = str(events)
    # As `labellake run` does: the stage modules (Great Expectations) import while the JVM starts,
    # so the timed runs, like a CLI run after its JVM is up, do not pay for the import.
    import_while_spark_starts(list(STAGES))
    spark = get_spark("labellake-bench-e2e", settings)
    name = f"bench_{dataset}"
    source_dir = workdir / "source"
    started = time.monotonic()
    build_scaled_source(spark, ds, settings, rows, workdir / "scaled.parquet").write.json(str(source_dir))
    source_seconds = round(time.monotonic() - started, 2)
    # The edit: the target LF gains a word found in about 1% of a 5,000-text sample (a realistic
    # edit changes votes; which rows' patterns change is logged by the fit and checked by --verify).
    target = edit_target(base_pack())
    sample = [r[0] for r in spark.read.parquet(str(workdir / "scaled.parquet")).select("text").limit(5000).collect()]
    os.environ[EDIT_KEYWORD_ENV] = common_word(sample, {k.lower() for k in getattr(target, "keywords", ())})
    bench_ds = _bench_dataset(ds, source_dir)
    base = "jobs.bench.incremental_bench:base_pack"
    edited = "jobs.bench.incremental_bench:edited_pack"
    figures: dict[str, Any] = {
        "dataset": dataset,
        "rows": rows,
        "lfs": len(base_pack()),
        "cores": os.cpu_count(),
        "master": spark.sparkContext.master,
        "lakehouse": settings.lake or "local disk",
        "driver_memory": spark.conf.get("spark.driver.memory", "?"),
        "source_build_seconds": source_seconds,
        "edit": {"lf": target.name, "gains": env_setting(EDIT_KEYWORD_ENV)},
        "source_mb": round(sum(p.stat().st_size for p in source_dir.glob("*.json")) / 2**20),
    }
    with MemoryProfile(spark) as memory:
        inc = _bench_settings(settings, workdir, name, bench_ds, base, "lakehouse")
        figures["full"] = _timed_run(spark, inc, RunContext("bench-full", name, mode="full"))
        inc = _bench_settings(settings, workdir, name, bench_ds, edited, "lakehouse")
        figures["lf_try"] = timed_try(spark, inc, name)  # what the edit would do, before the rerun does it
        figures["lf_change"] = _timed_run(spark, inc, RunContext("bench-lf-change", name))
        compare_with_rerun(figures["lf_try"], figures["lf_change"], inc, name, rows)
        figures["no_change"] = _timed_run(spark, inc, RunContext("bench-no-change", name))
        if verify:
            check = _bench_settings(settings, workdir, name, bench_ds, edited, "lakehouse-check")
            figures["verify_full"] = _timed_run(spark, check, RunContext("bench-verify", name, mode="full"))
            figures["equal_to_full_recompute"] = _same_results(inc, check, name)
    figures.update(_ratios(figures, rows))
    figures.update(memory.figures())
    if profile and any(events.glob("*")):
        by_run = stage_profile(events)
        for key, run_id in (("full", "bench-full"), ("lf_change", "bench-lf-change"), ("no_change", "bench-no-change")):
            figures[key]["profile"] = by_run.get(run_id, {})
    figures["workdir"] = str(workdir)
    return figures


def format_incremental(f: dict[str, Any]) -> str:
    def stages(run: dict[str, Any]) -> str:
        return ", ".join(f"{k} {v:.1f}s" for k, v in run["stages"].items())

    lines = [
        f"bench e2e: {f['dataset']}, {f['rows']:,} rows x {f['lfs']} LFs on {f['master']} ({f['cores']} cores), "
        f"lakehouse on {f.get('lakehouse', 'local disk')}"
    ]
    for key, label in (
        ("full", "full run"),
        ("lf_change", "1 LF changed"),
        ("no_change", "nothing changed"),
        ("verify_full", "full run, edited pack (check)"),
    ):
        if key in f:
            run = f[key]
            pairs = run["recomputed"].get("lf_row_pairs")
            lines.append(
                f"  {label:<30} {run['seconds']:>8.1f} s   LF x row pairs computed: {pairs:,}"
                if pairs is not None
                else f"  {label:<30} {run['seconds']:>8.1f} s"
            )
            lines.append(f"      {stages(run)}")
    lines.append(
        f"  1 LF changed / full run: {f['lf_change_vs_full']:.3f} (goal <= 0.15); "
        f"nothing changed / full: {f['no_change_vs_full']:.3f} (goal <= 0.10); "
        f"full run {f['full_rows_per_s']:,} rows/s"
    )
    if "lf_try" in f:
        t = f["lf_try"]
        lines.append(
            f"  lf try --pack before the rerun: {t['cold_seconds']:.1f} s drawing a {t['sample_rows']:,}-row sample, "
            f"then {t['warm_seconds']:.2f} s warm ({t['warm_vs_lf_edit_rerun']:.3f} of the rerun); labels changed: "
            f"about {t['estimated_label_changes']:,} estimated, {t['rerun_changed_rows']} counted by the rerun"
        )
    if "equal_to_full_recompute" in f:
        lines.append(f"  equal to a full recompute of the edited pack: {f['equal_to_full_recompute']}")
    lines.append(
        f"  validation (source + votes + labels suites) in the full run: {f['full_validation_seconds']:.1f} s, "
        f"adding {f['validation_adds']:.1%} to the run (goal <= 30%)"
    )
    lines.append(
        f"  peak RSS: {f['peak_rss_mb']} MB (Python {f['peak_python_rss_mb']} MB, JVM + workers "
        f"{f['peak_jvm_and_workers_rss_mb']} MB); peak JVM heap used {f['peak_jvm_heap_mb']} MB "
        f"(driver memory {f['driver_memory']})"
    )
    for key in ("full", "lf_change", "no_change"):
        stages_profile = f.get(key, {}).get("profile")
        if stages_profile:
            lines.append(
                f"  where the time goes ({key}): stage: task s / GC s / input MB / shuffle write MB / spill disk MB"
            )
            for stage, p in stages_profile.items():
                lines.append(
                    f"      {stage:<16} {p.get('task_s', 0):>8.1f} {p.get('gc_s', 0):>7.1f} "
                    f"{p.get('input_mb', 0):>9.0f} {p.get('shuffle_write_mb', 0):>9.0f} "
                    f"{p.get('spill_disk_mb', 0):>9.0f}"
                )
    return "\n".join(lines)
