"""Validate: the Great Expectations gate between staging and publish (write-audit-publish).

Reads this run's partition of the staging table and validates it, through GX
Checkpoints that also render Data Docs (``expectations/gx_runner.py``), against:

- the candidate-labels contract, drift against the last published labels
  (Delta time travel) and the gold-accuracy floor, all on the labels' groups from one
  aggregate over the rows (``expectations/labels_suite.py``, ``expectations/label_summary.py``),
  and unique ids (carried when an earlier count answers for them, else counted);
- the share of labels changed since the published version, over the label
  transitions (``jobs/patterns/label_transitions.py``);
- per-LF coverage drift against the run that produced the published labels
  (``expectations/lf_health_suite.py``).

A first run (nothing published) skips the drift checks and says so. Every
outcome (success, observed value, threshold, severity) goes into the runs
table. Blocking failures raise :class:`ValidationFailed`, naming each failed
expectation with its observed value and threshold; the publish stage refuses
an unvalidated run, so the labels table stays exactly as it was. Warnings are
logged and flagged on the run, and the run is published.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from expectations.gx_runner import SuiteRun, render_data_docs, run_suite
from expectations.label_summary import LabelGroups, group_labels
from expectations.labels_suite import (
    IDS_KEY,
    PublishedStats,
    build_ids_suite,
    build_label_change_suite,
    build_suite,
    carried_id_unique,
    name_duplicate_ids,
    observed_value,
    published_stats,
    recorded_published_stats,
    validated_unique_ids,
)
from expectations.lf_health_suite import build_lf_health_suite, lf_health_view, observed_lf_health_value
from jobs.core.datasets import DatasetConfig
from jobs.core.errors import StageOrderError
from jobs.core.lineage import RunContext
from jobs.core.settings import Settings
from jobs.hand_labels.gold_set import evaluation_gold
from jobs.lake.runs import run_record
from jobs.lake.table_files import partition_frame
from jobs.lake.tables import TableRef, latest_commit, table
from jobs.patterns.label_transitions import joined_transitions, recorded_transitions
from jobs.stages.gate import ValidationReport, enforce
from jobs.stages.ingest.reuse import unique_source_ids

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Published:
    """The published labels (by time travel to the newest version), their commit's metadata and
    their distribution: recorded on the commit when the fit could count it from its patterns,
    else aggregated here."""

    frame: DataFrame
    meta: dict[str, Any]
    stats: PublishedStats


def _published(spark: SparkSession, labels_ref: TableRef) -> Published | None:
    if not labels_ref.exists():
        return None
    version, meta = latest_commit(spark, labels_ref)
    frame = labels_ref.read(spark, version)
    return Published(
        frame, meta, recorded_published_stats(meta, version) or published_stats(frame, version, meta.get("run_id"))
    )


def _staged(staging_meta: dict[str, Any], run_id: str, run_rows: DataFrame) -> bool:
    """Whether the staging table holds candidate labels of ``run_id``: its newest commit says so
    (the usual case, no rows read), or ``run_rows`` (that run's partition) has a row."""
    if staging_meta.get("run_id") == run_id and staging_meta.get("label_distribution", {}).get("rows"):
        return True
    return run_rows.limit(1).count() > 0


def current_labels_report(ds: DatasetConfig, current_from: str) -> ValidationReport:
    """Nothing changed since run ``current_from``: its labels passed these suites and are still published."""
    report = ValidationReport(thresholds=ds.expectations.record())
    report.notes.append(
        f"nothing changed since run {current_from}: its published labels are current, nothing to validate"
    )
    log.info("validate %s: %s", ds.name, report.notes[-1])
    return report


def staged_labels(spark: SparkSession, ds: DatasetConfig, staging: TableRef, run: RunContext) -> tuple[DataFrame, dict]:
    """This run's candidate labels and the staging commit's metadata; a StageOrderError without them."""
    if not staging.exists():
        raise StageOrderError(f"validate {ds.name}: staging table missing; run fit_label_model first")
    version, staging_meta = latest_commit(spark, staging)
    listed = partition_frame(spark, staging, version, "_run_id", run.run_id)
    labels = listed if listed is not None else staging.read(spark).where(F.col("_run_id") == run.run_id)
    if not _staged(staging_meta, run.run_id, labels):
        raise StageOrderError(
            f"validate {ds.name}: no candidate labels for run {run.run_id!r} in {staging.name}; "
            "run fit_label_model for this run first"
        )
    return labels, staging_meta


def labels_suite_runs(
    ds: DatasetConfig,
    settings: Settings,
    run: RunContext,
    labels: DataFrame,
    groups: LabelGroups,
    stats: PublishedStats | None,
    with_gold: bool,
    ids: IdsCheck,
) -> list[SuiteRun]:
    """The candidate-labels suite over the labels' groups, with the broken rows described; then
    ``id_unique``: carried from the run or ingest that found the same ids unique, else counted
    over ``labels`` in a suite of its own (duplicates named). A passing ``id_unique`` keeps the
    ids' fingerprint."""
    thresholds = ds.expectations
    labels_run = run_suite(
        settings.home,
        ds.name,
        lambda: build_suite(f"{ds.name}_candidate_labels", ds.classes, thresholds, stats, with_gold),
        groups.suite_frame(stats),
        run.run_id,
        thresholds.severity_of,
        observed_value,
        data_docs=False,
    )
    for outcome in labels_run.outcomes:
        if outcome["check"] == "rows_valid":
            outcome["observed"] = groups.broken_rows()
    if ids.validated_in is not None:
        carried = carried_id_unique(ids.fingerprint, thresholds.severity_of("id_unique"), ids.validated_in)
        labels_run.outcomes.insert(min(1, len(labels_run.outcomes)), carried)
        return [labels_run]
    ids_run = run_suite(
        settings.home,
        ds.name,
        lambda: build_ids_suite(f"{ds.name}_candidate_ids"),
        labels.select("id"),
        run.run_id,
        thresholds.severity_of,
        observed_value,
        data_docs=False,
    )
    name_duplicate_ids(ids_run.outcomes, labels)
    for outcome in ids_run.outcomes:
        if outcome["check"] == "id_unique" and outcome["success"]:
            outcome[IDS_KEY] = ids.fingerprint
    return [labels_run, ids_run]


@dataclass(frozen=True)
class IdsCheck:
    """The candidate ids' fingerprint, and which published run found the same ids unique (if one did)."""

    fingerprint: dict[str, int]
    validated_in: str | None


def ids_check(
    settings: Settings,
    ds: DatasetConfig,
    fingerprint: dict[str, int],
    published: Published | None,
    source_ids: tuple[int, dict[str, int] | None] | None = None,
) -> IdsCheck:
    """Compare the candidate ids' fingerprint with that of ids already found unique: the source
    version the labels were fitted on (``source_ids``: its version and the fingerprint its ingest
    recorded), or the published labels' run. The same multiset need not be counted again (the
    count shuffles every id: most of an LF edit's validation at 10M rows, docs/decisions/0006)."""
    if source_ids is not None and source_ids[1] == fingerprint:
        return IdsCheck(fingerprint, f"source v{source_ids[0]} (unique at ingest)")
    if published is None or published.stats.run_id is None:
        return IdsCheck(fingerprint, None)
    record = run_record(None, settings, published.stats.run_id, ds.name) or {}
    validated = validated_unique_ids(json.loads(record.get("validation") or "[]"))
    if validated != fingerprint:
        return IdsCheck(fingerprint, None)
    return IdsCheck(fingerprint, f"v{published.stats.version} (run {published.stats.run_id})")


def fitted_source_ids(
    spark: SparkSession, settings: Settings, ds: DatasetConfig, staging_meta: dict[str, Any]
) -> tuple[int, dict[str, int] | None] | None:
    """The source version the candidate labels were fitted on, and its ids' fingerprint if unique."""
    version = staging_meta.get("source_version")
    if version is None:
        return None
    return int(version), unique_source_ids(spark, table(settings, ds.name, "source"), int(version))


def run_validate(spark: SparkSession, ds: DatasetConfig, settings: Settings, run: RunContext) -> ValidationReport:
    """Validate ``run``'s candidate labels; raises :class:`ValidationFailed` (after recording the
    failures on the run) when a blocking expectation fails. The caller records a pass."""
    record = run_record(spark, settings, run.run_id, run.dataset) or {}
    if record.get("labels_current_from"):
        return current_labels_report(ds, record["labels_current_from"])
    staging = table(settings, ds.name, "staging_labels")
    labels, staging_meta = staged_labels(spark, ds, staging, run)
    published = _published(spark, table(settings, ds.name, "labels"))
    # The evaluation gold (jobs/hand_labels/gold_set.py), at the version this run's fit was scored on.
    with_gold = ds.expectations.min_gold_accuracy is not None
    gold = evaluation_gold(spark, settings, ds, record.get("gold_set_version")) if with_gold else None
    report = ValidationReport(thresholds=ds.expectations.record())
    if published is None:
        report.notes.append("first run: nothing published yet, drift checks skipped")
    started = time.monotonic()
    groups = group_labels(labels, ds.classes, gold)  # one pass over the rows: validation's cost too
    report.seconds += time.monotonic() - started
    validated: list[SuiteRun] = []
    try:
        source_ids = fitted_source_ids(spark, settings, ds, staging_meta)
        ids = ids_check(settings, ds, groups.fingerprint, published, source_ids)
        stats = published.stats if published is not None else None
        validated += labels_suite_runs(ds, settings, run, labels, groups, stats, gold is not None, ids)
        if published is not None:
            validated.append(_label_changes(spark, ds, settings, run, labels, staging_meta, published))
            validated += _lf_health(spark, ds, settings, run, published.stats.run_id, report)
    finally:
        # The stage's suites render their Data Docs pages in one build (also when a later suite failed).
        validated = render_data_docs(settings.home, ds.name, run.run_id, validated)
    for suite_run in validated:
        report.add(suite_run)
    enforce(spark, settings, run, "validate", staging.name, report, "validation")
    return report


def _label_changes(
    spark: SparkSession,
    ds: DatasetConfig,
    settings: Settings,
    run: RunContext,
    labels: DataFrame,
    staging_meta: dict[str, Any],
    published: Published,
) -> SuiteRun:
    """The share of labels changed since the published version, over the label transitions: the
    ones the fit counted from its vote patterns when they compare with the labels published now,
    else counted here by joining the candidate and published rows by id (jobs/patterns/label_transitions.py)."""
    transitions = recorded_transitions(staging_meta, run.run_id, published.meta)
    if transitions is None:
        transitions = joined_transitions(labels, published.frame, published.stats.run_id)
        how = "joined by id"
    else:
        how = "counted from vote patterns"
    log.info(
        "validate %s: %d of %d compared labels changed since v%d (%s)",
        ds.name,
        transitions.changed,
        transitions.compared,
        published.stats.version,
        how,
    )
    return run_suite(
        settings.home,
        ds.name,
        lambda: build_label_change_suite(f"{ds.name}_label_changes", ds.expectations, published.stats.version),
        transitions.frame(),
        run.run_id,
        ds.expectations.severity_of,
        observed_value,
        data_docs=False,
    )


def _lf_health(
    spark: SparkSession,
    ds: DatasetConfig,
    settings: Settings,
    run: RunContext,
    published_run: str | None,
    report: ValidationReport,
) -> list[SuiteRun]:
    """The per-LF coverage drift suite's run, or none (with a note on ``report``) when there is
    no LF analysis of the published run to compare with."""
    analysis_ref = table(settings, ds.name, "lf_analysis")
    if not analysis_ref.exists() or published_run is None:
        report.notes.append("per-LF coverage drift skipped: no LF analysis for the published run")
        return []
    # A row per LF per run, written by delta-rs: read the same way (a Spark read replays the log: seconds).
    from deltalake import DeltaTable

    analysis = DeltaTable(analysis_ref.uri).to_pandas(
        columns=["_run_id", "lf", "coverage"], filters=[("_run_id", "in", [run.run_id, published_run])]
    )
    current = analysis[analysis["_run_id"] == run.run_id]
    previous = analysis[analysis["_run_id"] == published_run]
    if previous.empty:
        report.notes.append(f"per-LF coverage drift skipped: no LF analysis for published run {published_run}")
        return []
    return [
        run_suite(
            settings.home,
            ds.name,
            lambda: build_lf_health_suite(f"{ds.name}_lf_health", ds.expectations, published_run),
            lf_health_view(current, previous),
            run.run_id,
            ds.expectations.severity_of,
            observed_lf_health_value,
            index_columns=["lf"],
            data_docs=False,
        )
    ]
