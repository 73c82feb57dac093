"""Apply LFs: source table -> votes table (+ LF registry).

Votes are stored long and sparse: one row ``(id, lf, vote, lf_version)`` per
non-abstain vote. Why this layout:

- replacing one LF's votes is a commit that replaces its ``lf`` partition and
  leaves every other LF's files alone (incremental reruns when one LF changes);
- abstains, usually most of the matrix, cost nothing;
- vote patterns for the label model are one ``groupBy(id)`` away;
- adding or removing an LF never changes the schema.

The votes are computed in one projection (:mod:`jobs.stages.apply.votes`); only
what the recompute plan names is computed (:mod:`jobs.stages.apply.recompute_plan`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.core.datasets import DatasetConfig
from jobs.core.errors import StageOrderError
from jobs.core.lineage import RunContext
from jobs.core.settings import Settings
from jobs.lake.table_files import table_rows
from jobs.lake.tables import TableRef, commit_metadata, latest_commit, table
from jobs.patterns.incremental import store_patterns
from jobs.patterns.vote_patterns import PatternCodec
from jobs.stages.apply.recompute_plan import ROW_STATUS, RecomputePlan, plan_recompute
from jobs.stages.apply.registry import upsert_registry
from jobs.stages.apply.votes import (
    VOTE_CODES,
    VOTES_SCHEMA,
    compute_votes,
    load_dataset_pack,
    pattern_codes,
    sub_pack,
    votes_of_codes,
)
from jobs.stages.apply.votes_check import unvalidated_lfs, validate_votes
from jobs.stages.apply.votes_files import overwrite_votes, write_lf_partitions, writes_directly
from jobs.stages.gate import ValidationReport
from lf_library.compile import check_with_spark
from lf_library.core import LFPack

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ApplyResult:
    source_version: int
    lfs: int
    votes: int
    votes_version: int
    lf_errors: dict[str, dict]
    lf_set_version: str
    plan: RecomputePlan
    recomputed: dict
    validation: list
    validation_seconds: float


@dataclass(frozen=True)
class PatternsTarget:
    """Where a full recompute keeps every row's pattern codes for this run's fit (``row_patterns``)."""

    ref: TableRef
    run_id: str
    source_version: int


def write_votes(
    plan: RecomputePlan,
    pack: LFPack,
    ds: DatasetConfig,
    rows: DataFrame,
    votes_ref: TableRef,
    meta: str,
    patterns: PatternsTarget | None = None,
) -> dict[str, dict]:
    """Write this run's votes in one Delta commit, recomputing only what ``plan`` says.

    The table is partitioned by LF, so an LF-only change replaces just the changed and removed
    LFs' partitions: a ``replaceWhere lf IN (...)``, or the same commit by delta-rs of files
    Spark wrote (:mod:`jobs.stages.apply.votes_files`). When rows changed too, the
    kept votes (unchanged LFs on unchanged rows, read from the previous version) and the
    new ones replace the table together. Either way readers see the old state or the
    new one, never a mix. A full recompute goes through every row's pattern codes when it can
    (:func:`votes_through_row_codes`). Returns the error report of the Python LFs that ran.
    """
    path = str(votes_ref.path)
    if plan.mode == "full":
        through_codes = votes_through_row_codes(rows, pack, ds, patterns, votes_ref) if patterns else None
        new, errors, cached = through_codes or compute_votes(rows, pack, ds)
        parts = [new] if new is not None else []
        writer_options = {"overwriteSchema": "true"}
    else:
        changed = sub_pack(pack, plan.recomputed_lfs)
        new_lfs, errors, cached = compute_votes(rows, changed, ds)
        parts = [new_lfs] if new_lfs is not None else []
        if plan.rows_changed:
            unchanged = sub_pack(pack, [n for n in pack.names if n not in set(plan.recomputed_lfs)])
            dirty = plan.rows.where(F.col(ROW_STATUS).isin("new", "changed")).select("id")
            new_rows, more_errors, more_cached = compute_votes(rows.join(dirty, "id", "left_semi"), unchanged, ds)
            errors, cached = {**errors, **more_errors}, cached + more_cached
            parts += [new_rows] if new_rows is not None else []
            same = plan.rows.where(F.col(ROW_STATUS) == "same").select("id")
            kept = (
                rows.sparkSession.read.format("delta")
                .option("versionAsOf", plan.previous_votes_version)
                .load(path)
                .where(F.col("lf").isin(unchanged.names))
                .join(same, "id", "left_semi")
            )
            parts.append(kept.select("id", "lf", "vote", "lf_version"))
            writer_options = {}
        else:
            replaced = plan.recomputed_lfs + plan.removed_lfs
            # No LF changed and no row changed (a re-ingest with the same content): an empty
            # append, so the commit records the new source version without touching a file.
            writer_options = (
                {"replaceWhere": "lf IN (" + ", ".join(_sql_string(n) for n in replaced) + ")"}
                if replaced
                else {"_mode": "append"}
            )
    if not parts:  # an empty pack, or only removed LFs: write an empty frame of the right schema
        parts = [rows.sparkSession.createDataFrame([], VOTES_SCHEMA)]
    votes = parts[0]
    for part in parts[1:]:
        votes = votes.unionByName(part)
    try:
        _save_votes(votes, votes_ref, plan, writer_options, meta)
    finally:
        for frame in cached:
            frame.unpersist()
    return errors


def _save_votes(votes: DataFrame, votes_ref: TableRef, plan: RecomputePlan, writer_options: dict, meta: str) -> None:
    """Commit ``votes`` as :func:`write_votes` planned. An LF edit's votes are written by the tasks
    that computed them (no shuffle into one task per LF), as plain Parquet committed by delta-rs
    where the table allows (:mod:`jobs.stages.apply.votes_files`); a full write gathers each LF's
    votes into one file, committed by delta-rs too where the table allows."""
    edit_only = plan.mode != "full" and not plan.rows_changed
    replaced = plan.recomputed_lfs + plan.removed_lfs
    if edit_only and replaced and writes_directly(votes_ref):
        write_lf_partitions(votes, votes_ref, replaced, meta)
        return
    if not edit_only and overwrite_votes(votes, votes_ref, meta):
        return
    mode = writer_options.pop("_mode", "overwrite")
    writer = (votes if edit_only else votes.repartition("lf")).write.format("delta").mode(mode).partitionBy("lf")
    for key, value in {**writer_options, "userMetadata": meta}.items():
        writer = writer.option(key, value)
    writer.save(str(votes_ref.path))


def votes_through_row_codes(
    rows: DataFrame, pack: LFPack, ds: DatasetConfig, patterns: PatternsTarget, votes_ref: TableRef
) -> tuple[DataFrame, dict[str, dict], list[DataFrame]] | None:
    """Store every row's pattern codes, summed in the LF projection (one pass, no shuffle), as the
    row patterns of the votes version this run is about to write, with each row's vote codes;
    return the votes exploded from those, the Python LFs' error report and what to unpersist (the
    LFs run once, and no cache holds every row). The fit then takes the stored codes
    instead of regrouping every vote by id. None when the pack's votes are not all per-row codes
    or too wide to pack: then the votes are computed directly.

    The codes are written first, so they name the votes version to come and this run: a fit
    uses them only when that version exists and this run wrote it (``updated_patterns``)."""
    codec = PatternCodec.for_lfs(pack.names, len(pack.classes)) if len(pack) else None
    if codec is None:
        return None
    codes, errors, cached = pattern_codes(rows, pack, ds, codec)
    if codes is None:
        return None
    spark = rows.sparkSession
    next_votes = latest_commit(spark, votes_ref)[0] + 1 if votes_ref.exists() else 0
    try:
        store_patterns(
            codes,
            patterns.ref,
            codec,
            patterns.run_id,
            patterns.source_version,
            next_votes,
            pack.names,
            "apply_lfs",
            [VOTE_CODES],
        )
    except Exception:
        for frame in cached:
            frame.unpersist()
        raise
    stored = patterns.ref.read(spark, latest_commit(spark, patterns.ref)[0])
    return votes_of_codes(stored.select("id", F.col(VOTE_CODES).alias("codes")), pack), errors, cached


def _sql_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def votes_commit_metadata(
    run: RunContext, ds: DatasetConfig, source: TableRef, source_version: int, pack: LFPack, plan: RecomputePlan
) -> str:
    """The votes commit's metadata: what the fit reads back (LF set, versions, kinds, classes) and
    what this run recomputed."""
    return commit_metadata(
        run_id=run.run_id,
        stage="apply_lfs",
        dataset=ds.name,
        source_table=source.name,
        source_version=source_version,
        lf_set_version=pack.set_version,
        lf_versions=pack.versions,
        lfs=pack.names,
        lf_kinds={lf.name: lf.kind for lf in pack},
        classes=list(pack.classes),
        mode=plan.mode,
        recomputed=plan.recomputed_lfs,
        removed=plan.removed_lfs,
        row_changes=plan.row_changes,
    )


def lfs_to_compute(pack: LFPack, plan: RecomputePlan) -> list[str]:
    """The LFs whose votes this run computes: every LF when all rows or some rows are computed, else
    the new and changed ones."""
    return pack.names if plan.mode == "full" or plan.rows_changed else plan.recomputed_lfs


def lfs_to_check(
    spark: SparkSession, settings: Settings, ds: DatasetConfig, pack: LFPack, plan: RecomputePlan
) -> list[str]:
    """Only votes this run computed need checking: unchanged LFs on unchanged rows were validated by
    the run that computed them. Unless the votes on record never passed their check (it failed, or
    the run that wrote them died first): then their LFs are checked again, so a failure holds until
    its cause changes."""
    computed = lfs_to_compute(pack, plan)
    unchecked = unvalidated_lfs(spark, settings, ds.name, table(settings, ds.name, "votes"))
    return [n for n in pack.names if n in set(computed) | unchecked]


def update_votes(
    plan: RecomputePlan,
    pack: LFPack,
    ds: DatasetConfig,
    rows: DataFrame,
    votes: TableRef,
    source_version: int,
    meta: str,
    patterns: PatternsTarget | None = None,
) -> dict[str, dict]:
    """Write the votes the plan asks for (nothing when nothing changed); the Python LFs' error report."""
    nothing_to_do = (
        plan.mode == "incremental"
        and not plan.lf_changes
        and not plan.rows_changed
        and plan.previous_source_version == source_version
    )
    try:
        # With nothing to do, the votes on record are this run's votes: no new version.
        return {} if nothing_to_do else write_votes(plan, pack, ds, rows, votes, meta, patterns)
    finally:
        if plan.rows is not None:
            plan.rows.unpersist()


def run_apply_lfs(spark: SparkSession, ds: DatasetConfig, settings: Settings, run: RunContext) -> ApplyResult:
    """Bring the votes table up to the dataset's pack over the current source version.

    Incremental by default (see :mod:`jobs.stages.apply.recompute_plan`): only new or changed LFs
    and new or changed rows are computed; ``run.mode == "full"`` recomputes all.
    """
    source = table(settings, ds.name, "source")
    if not source.exists():
        raise StageOrderError(f"apply_lfs {ds.name}: source table {source.path} missing; run ingest first")
    source_version, _ = latest_commit(spark, source)
    pack = load_dataset_pack(ds)
    rows = source.read(spark, source_version)
    votes = table(settings, ds.name, "votes")
    plan = plan_recompute(spark, run, pack, votes, source, source_version)
    check_with_spark(spark, sub_pack(pack, lfs_to_compute(pack, plan)), rows)  # the LFs about to run
    if plan.rows is not None:
        plan.rows = plan.rows.persist(StorageLevel.MEMORY_AND_DISK)
    total_rows = table_rows(spark, source, source_version)
    log.info("apply_lfs %s: %s", ds.name, plan.describe(pack, total_rows))
    meta = votes_commit_metadata(run, ds, source, source_version, pack, plan)
    patterns = PatternsTarget(table(settings, ds.name, "row_patterns"), run.run_id, source_version)
    errors = update_votes(plan, pack, ds, rows, votes, source_version, meta, patterns)
    upsert_registry(settings, pack, ds, run)
    votes_version, _ = latest_commit(spark, votes)
    n_votes = table_rows(spark, votes, votes_version)
    checked = lfs_to_check(spark, settings, ds, pack, plan)
    validation = (
        validate_votes(spark, ds, settings, run, sub_pack(pack, checked), votes, votes_version)
        if checked
        else ValidationReport(notes=["votes suite skipped: no vote was recomputed"])
    )
    log.info(
        "apply_lfs %s: %d LFs over %s@v%d -> %d votes in %s@v%d",
        ds.name,
        len(pack),
        source.name,
        source_version,
        n_votes,
        votes.name,
        votes_version,
    )
    recomputed = plan.record(pack, total_rows)
    return ApplyResult(
        source_version, len(pack), n_votes, votes_version, errors, pack.set_version, plan, recomputed,
        validation.outcomes, round(validation.seconds, 2),
    )  # fmt: skip
