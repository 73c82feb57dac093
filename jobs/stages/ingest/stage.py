"""Ingest: raw source files -> source, gold and quarantine Delta tables.

Every input row ends in exactly one place: the source table (with its gold
label, if any, split off into the gold table so LFs never see it) or the
quarantine table with a reason (:mod:`jobs.stages.ingest.classify`). The job
checks ``input = accepted + quarantined`` and logs the counts by reason, so
nothing is dropped silently.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from expectations.gx_runner import run_suite
from expectations.source_suite import (
    accepted_ids_view,
    build_source_ids_suite,
    build_source_suite,
    observed_source_value,
    source_suite_frame,
    unique_input_ids,
)
from jobs.core.datasets import ROW_ID, DatasetConfig
from jobs.core.errors import LabellakeError
from jobs.core.lineage import RunContext
from jobs.core.settings import Settings
from jobs.lake.spark_parquet import STATS_PROPERTY, Layout, overwrite_table, overwrites_directly
from jobs.lake.tables import commit_metadata, dataset_tables, latest_commit, table
from jobs.stages.gate import ValidationReport, enforce
from jobs.stages.ingest.classify import (
    FileVerdicts,
    classify,
    has_repeated_ids,
    quarantine_unparseable_files,
    warn_replaced_bytes,
)
from jobs.stages.ingest.read import INTERNAL_COLUMNS, REASON, read_raw
from jobs.stages.ingest.reuse import UNIQUE_IDS_KEY, IngestResult, input_fingerprint, reused_ingest
from jobs.stages.ingest.row_cache import cached_rows
from jobs.stages.ingest.rows import SOURCE_STATS_COLUMNS, gold_rows, quarantine_rows, source_rows
from jobs.stages.ingest.source_sniff import quarantined_bytes_share
from jobs.stages.ingest.utf8_check import quoted_column

log = logging.getLogger(__name__)


def validate_input(
    spark: SparkSession,
    ds: DatasetConfig,
    settings: Settings,
    run: RunContext,
    classified: DataFrame,
    verdicts: FileVerdicts,
    ids_counted_unique: bool = False,
) -> ValidationReport:
    """The source suite on every input row, before any table is written (a blocking failure
    leaves source, gold and quarantine as they were), from the per-file aggregate in ``verdicts``.
    ``ids_counted_unique``: the ingest counted every input id and none occurs twice, so the
    accepted ids are unique without a second count; else GX counts them over ``classified``."""
    source = table(settings, ds.name, "source")
    previous_input = None
    if source.exists():
        previous_input = (latest_commit(spark, source)[1].get("counts") or {}).get("input")
    id_name = "id" if ds.id_column == ROW_ID else ds.id_column
    shares = verdicts.file_shares
    frame = source_suite_frame(verdicts.groups, id_name, ds.text_column, shares, quarantined_bytes_share(shares))
    severity_of, observed = ds.expectations.severity_of, observed_source_value(verdicts.groups)
    checked = run_suite(
        settings.home,
        ds.name,
        lambda: build_source_suite(f"{ds.name}_source", id_name, ds.text_column, ds.expectations, previous_input),
        frame,
        run.run_id,
        severity_of,
        observed,
    )
    report = ValidationReport(thresholds=ds.expectations.record())
    after_null_checks = min(2, len(checked.outcomes))  # where source_id_unique goes, as it always has
    if ids_counted_unique:
        checked.outcomes.insert(after_null_checks, unique_input_ids(severity_of))
    else:
        ids_view = accepted_ids_view(classified, quoted_column(ds.id_column))
        suite = f"{ds.name}_source_ids"
        ids_run = run_suite(
            settings.home, ds.name, lambda: build_source_ids_suite(suite), ids_view, run.run_id, severity_of, observed
        )
        checked.outcomes[after_null_checks:after_null_checks] = ids_run.outcomes
        report.docs_pages += [ids_run.docs_page] if ids_run.docs_page else []
        report.seconds += ids_run.seconds
    report.add(checked)
    enforce(spark, settings, run, "ingest", f"{ds.name}'s input files", report, "source_validation")
    return report


def _passed(report: ValidationReport, check: str) -> bool:
    """Whether ``check`` ran in ``report`` and passed."""
    return any(o.get("check") == check and o.get("success") for o in report.outcomes)


def reusable_ingest(
    spark: SparkSession, ds: DatasetConfig, settings: Settings, fingerprint: str | None
) -> IngestResult | None:
    """The current source version, when the input files (and reading options) are those it was ingested from."""
    previous = reused_ingest(spark, ds, settings, fingerprint)
    if previous is not None:
        log.info(
            "ingest %s: input files unchanged since %s@v%d; reusing it (accepted=%d quarantined=%d)",
            ds.name,
            table(settings, ds.name, "source").name,
            previous.source_version,
            previous.accepted,
            previous.quarantined_total,
        )
    return previous


def write_gold(ds: DatasetConfig, settings: Settings, run: RunContext, accepted: DataFrame, meta: str) -> int:
    """Overwrite the gold table with the accepted rows' known gold labels; return how many."""
    gold = gold_rows(accepted, ds, run)
    gold_n = gold.count()
    dataset_tables(settings, ds.name).gold.overwrite(gold, meta)
    return gold_n


def write_ingest_tables(
    ds: DatasetConfig,
    settings: Settings,
    run: RunContext,
    classified: DataFrame,
    counts: dict[str, Any],
    fingerprint: str | None,
    ingested_at: datetime,
    unique_ids: dict[str, int] | None = None,
) -> int:
    """Write quarantine (this run's partition), gold and source, in that order; return the gold rows.

    The source goes last: its commit carries the fingerprint and counts that let the next
    incremental run skip ingest, so it must only exist once gold and quarantine are written.
    ``unique_ids``: the fingerprint of the accepted ids when the source suite found them unique
    (validation compares the candidate labels' ids with it instead of counting them again)."""
    accepted = classified.where(F.col(REASON).isNull())
    rejected = classified.where(F.col(REASON).isNotNull())
    meta = commit_metadata(run_id=run.run_id, stage="ingest", dataset=ds.name)
    tables = dataset_tables(settings, ds.name)
    quarantined = quarantine_rows(rejected, run, ingested_at)
    tables.quarantine.overwrite_run_partition(quarantined, run.run_id, meta, mergeSchema="true")
    gold_n = write_gold(ds, settings, run, accepted, meta) if ds.gold_column else 0
    if ds.gold_column and gold_n != counts["accepted"]:
        log.warning(
            "ingest %s: %d accepted rows have no known gold label (values not in %s)",
            ds.name,
            int(counts["accepted"]) - gold_n,
            sorted(ds.gold_values),
        )
    source_meta = commit_metadata(
        run_id=run.run_id,
        stage="ingest",
        dataset=ds.name,
        input_fingerprint=fingerprint,
        counts={**counts, "gold": gold_n},
        **({UNIQUE_IDS_KEY: unique_ids} if unique_ids else {}),
    )
    rows = source_rows(accepted, ds, run, ingested_at)
    layout = Layout(SOURCE_STATS_COLUMNS)
    why_not = overwrites_directly(tables.source, rows, layout)
    if why_not is None:
        overwrite_table(rows, tables.source, source_meta, layout)
    else:
        log.info("ingest %s: the source goes through Spark's Delta writer: %s", ds.name, why_not)
        # A table property: it takes effect when the table is created (an older table keeps its statistics).
        tables.source.overwrite(rows, source_meta, **{STATS_PROPERTY: ",".join(SOURCE_STATS_COLUMNS)})
    return gold_n


def parsed_and_classified(
    spark: SparkSession, ds: DatasetConfig, settings: Settings
) -> tuple[DataFrame, DataFrame, bool]:
    """Every input row classified, cached, with the files parsed once: the raw rows are cached first
    (:mod:`~jobs.stages.ingest.row_cache`) and the repeated-id check reads them there. Without
    repeated ids the classification is a projection of that cache; with them, a window over it,
    cached in its place. Returns the classified rows, the cached frame to unpersist, and whether
    the ids were counted and none repeats (``@row`` ids are numbered, not counted)."""
    raw, raw_cache = cached_rows(read_raw(spark, ds, settings), INTERNAL_COLUMNS)
    try:
        if not has_repeated_ids(raw, ds):
            return classify(raw, ds, repeated_ids=False), raw_cache, ds.id_column != ROW_ID
        classified, classified_cache = cached_rows(classify(raw, ds, repeated_ids=True), INTERNAL_COLUMNS)
        classified_cache.count()
    except Exception:
        raw_cache.unpersist()
        raise
    raw_cache.unpersist()
    return classified, classified_cache, False


def run_ingest(
    spark: SparkSession, ds: DatasetConfig, settings: Settings, run: RunContext, ingested_at: datetime
) -> IngestResult:
    """Read the raw files, classify every row, check the input, write source, gold and quarantine.

    In an incremental run whose input files are the ones the current source version was ingested
    from, nothing is re-read and that version is reused."""
    fingerprint = input_fingerprint(ds, settings)
    if run.mode == "incremental" and (previous := reusable_ingest(spark, ds, settings, fingerprint)) is not None:
        return previous
    persisted, cached, ids_counted_unique = parsed_and_classified(spark, ds, settings)
    try:
        if ds.invalid_utf8 == "replace":
            warn_replaced_bytes(persisted, ds)
        classified, verdicts = quarantine_unparseable_files(persisted, ds)
        by_reason = dict(verdicts.by_reason)
        accepted_n = by_reason.pop("", 0)
        input_n = accepted_n + sum(by_reason.values())
        validation = validate_input(spark, ds, settings, run, classified, verdicts, ids_counted_unique)
        counts = {"input": input_n, "accepted": accepted_n, "quarantined": by_reason}
        unique_ids = verdicts.accepted_ids if _passed(validation, "source_id_unique") else None
        gold_n = write_ingest_tables(ds, settings, run, classified, counts, fingerprint, ingested_at, unique_ids)
    finally:
        cached.unpersist()
    source = table(settings, ds.name, "source")
    source_version, _ = latest_commit(spark, source)
    quarantined = dict(sorted(by_reason.items()))
    outcomes = tuple(validation.outcomes)
    result = IngestResult(input_n, accepted_n, quarantined, gold_n, source_version, outcomes, validation.seconds)
    if result.input_rows != result.accepted + result.quarantined_total:
        raise LabellakeError(f"ingest {ds.name}: row accounting broken: {result}")
    log.info(
        "ingest %s: input=%d accepted=%d quarantined=%d %s -> %s@v%d",
        ds.name,
        result.input_rows,
        result.accepted,
        result.quarantined_total,
        result.quarantined,
        source.name,
        source_version,
    )
    return result
