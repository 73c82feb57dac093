"""The relabel pipeline's stages, by name, as both the CLI and the DAG call them.

``run_stage`` runs one stage for one run (what each Airflow task does through
``spark-submit``); ``run_pipeline`` runs them all in order in one Spark session
(``labellake run``). Every stage records its outcome in the runs table; a
stage that raises marks the run failed with the error before re-raising.
"""

from __future__ import annotations

import importlib
import json
import logging
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from pyspark.sql import SparkSession

from expectations.gx_runner import data_docs_index
from jobs.core.datasets import DatasetConfig, get_dataset
from jobs.core.errors import SparkDied, ValidationFailed
from jobs.core.lineage import RunContext, utc_now
from jobs.core.settings import Settings, env_switch
from jobs.lake.dataset_lock import dataset_lock
from jobs.lake.runs import attempt_remembered, begin_attempt, record_run, run_record
from jobs.lake.tables import delta_rs_location, table
from jobs.spark.conf import RUN_PROPERTY, STAGE_PROPERTY
from jobs.spark.session import get_spark, spark_is_gone
from jobs.stages import STAGES
from jobs.stages.ingest.source_sniff import source_files
from jobs.stages.lineage_events import stage_events

log = logging.getLogger(__name__)

StageOutput = tuple[Any, dict[str, Any]]
"""A stage's result and the fields it adds to the run's record."""
Found = TypeVar("Found")


# Each stage imports its module when it runs: a spark-submit of fit or publish never loads
# Great Expectations (~6 CPU-s). Ingest and apply_lfs import it only when they validate (not when
# their inputs are unchanged); validate always does, so it imports GX while the JVM starts.
STAGE_MODULES: dict[str, tuple[str, ...]] = {
    "ingest": ("jobs.stages.ingest.stage",),
    "apply_lfs": ("jobs.stages.apply.stage",),
    "fit_label_model": ("jobs.stages.fit.stage",),
    "validate": ("jobs.stages.validate", "great_expectations", "expectations.unique_values"),
    "publish": ("jobs.stages.publish.stage", "jobs.hand_labels.review_queue"),
}


def import_while_spark_starts(stages: list[str]) -> threading.Thread:
    """Import the stages' modules on a thread: the import (Great Expectations, seconds) then overlaps
    the JVM's start, during which this process only waits on a socket. A failed import is left
    for the stage itself to raise."""

    def load() -> None:
        for stage in stages:
            for module in STAGE_MODULES[stage]:
                try:
                    importlib.import_module(module)
                except Exception:  # noqa: BLE001, S110 - the stage's own import raises it with context
                    return

    thread = threading.Thread(target=load, name="labellake-stage-imports", daemon=True)
    thread.start()
    return thread


def _found_in_logs(
    find: Callable[[DatasetConfig, Settings, RunContext], Found | None],
    ds: DatasetConfig,
    settings: Settings,
    run: RunContext,
) -> Found | None:
    """A stage's outputs already on record, found from Delta logs (:mod:`jobs.stages.reused_outputs`); None
    when they are not, or the logs say nothing delta-rs can read: the stage then runs with Spark."""
    try:
        return find(ds, settings, run)
    except Exception as exc:  # noqa: BLE001 - the Spark path reads or reports it properly
        log.debug("%s of %s: %s", getattr(find, "__name__", find), ds.name, exc)
        return None


def _ingest(spark: SparkSession, ds: DatasetConfig, settings: Settings, run: RunContext) -> StageOutput:
    from jobs.stages.ingest.stage import run_ingest

    result = run_ingest(spark, ds, settings, run, ingested_at=utc_now())
    return result, dict(
        input_rows=result.input_rows,
        accepted_rows=result.accepted,
        quarantined_rows=result.quarantined_total,
        source_version=result.source_version,
        source_table=table(settings, ds.name, "source").name,
        **({"source_validation": list(result.validation)} if result.validation else {}),
        _seconds={"ingest.source_suite": result.validation_seconds},
    )


def _apply(spark: SparkSession, ds: DatasetConfig, settings: Settings, run: RunContext) -> StageOutput:
    from jobs.stages.apply.stage import run_apply_lfs
    from jobs.stages.reused_outputs import current_votes, reuse_votes

    current = _found_in_logs(current_votes, ds, settings, run)
    result = reuse_votes(current, ds, settings, run) if current else run_apply_lfs(spark, ds, settings, run)
    plan = result.plan
    return result, dict(
        votes=result.votes,
        votes_version=result.votes_version,
        lf_errors=result.lf_errors,
        source_version=result.source_version,
        lf_set_version=result.lf_set_version,
        lf_changes=plan.lf_changes,
        source_changes=plan.row_changes,
        recomputed=result.recomputed,
        votes_validation=result.validation,
        _seconds={"apply_lfs.votes_suite": result.validation_seconds},
    )


def _fit(spark: SparkSession, ds: DatasetConfig, settings: Settings, run: RunContext) -> StageOutput:
    from jobs.stages.fit.stage import run_fit_label_model
    from jobs.stages.reused_outputs import labels_still_current

    result = _found_in_logs(labels_still_current, ds, settings, run) or run_fit_label_model(
        spark, ds, settings, run, labeled_at=utc_now()
    )
    return result, dict(
        patterns=result.patterns,
        labeled_rows=result.labeled,
        label_model=result.label_model,
        labels_current_from=result.current_from,
        end_model=result.end_model,
        gold_set_version=result.gold_set_version,
    )


def _validate(spark: SparkSession, ds: DatasetConfig, settings: Settings, run: RunContext) -> StageOutput:
    from jobs.stages.validate import run_validate

    report = run_validate(spark, ds, settings, run)
    return report, dict(
        status="validated",
        validation=report.outcomes,
        warnings=report.warnings,
        _seconds={"validate.suites": round(report.seconds, 2)},
        thresholds=report.thresholds,
        data_docs={
            "index": str(data_docs_index(settings.home, run.dataset)),
            "pages": report.docs_pages,
            "notes": report.notes,
        },
    )


def _publish(spark: SparkSession, ds: DatasetConfig, settings: Settings, run: RunContext) -> StageOutput:
    from jobs.hand_labels.review_queue import run_review_queue
    from jobs.stages.publish.stage import run_publish

    result = run_publish(spark, ds, settings, run)
    fields: dict[str, Any] = {}
    if ds.review_queue is not None and not result.already_published:
        # New labels: the rows most worth a human look now (jobs/hand_labels/review_queue.py).
        queue = run_review_queue(spark, ds, settings, ds.review_queue.k, ds.review_queue.mix)
        fields["review_queue"] = {k: queue[k] for k in ("queue_id", "rows", "kinds", "csv", "label_studio")}
    if env_switch("LABELLAKE_METASTORE"):  # new tables appear in the persistent catalog (jobs/lake/metastore.py)
        from jobs.lake.metastore import sync_after_publish

        sync_after_publish(settings)
    return result, dict(
        status="published",
        labels_version=result.labels_version,
        published_rows=result.rows,
        finished_at=utc_now(),
        **fields,
    )


STAGE_FUNCTIONS: dict[str, Callable[[SparkSession, DatasetConfig, Settings, RunContext], StageOutput]] = {
    "ingest": _ingest,
    "apply_lfs": _apply,
    "fit_label_model": _fit,
    "validate": _validate,
    "publish": _publish,
}


def run_stage(stage: str, run: RunContext, settings: Settings | None = None, spark: SparkSession | None = None) -> Any:
    """Run one stage of ``run`` under the dataset's lock; errors are recorded on the run, then re-raised.

    The stage's figures (row counts, versions, what was recomputed) and its wall
    time go into the run's row of the runs table in one upsert. Without a
    ``spark`` session, a stage whose inputs are unchanged completes without one
    (:func:`stage_without_spark`); otherwise one is started.
    """
    if stage not in STAGE_FUNCTIONS:
        raise ValueError(f"unknown stage {stage!r}; stages: {STAGES}")
    settings = settings or Settings.from_env()
    ds = get_dataset(run.dataset, settings)
    if spark is None:
        done = _run_locked(stage, run, settings, ds, None)
        if done is not _NEEDS_SPARK:
            return done
        import_while_spark_starts([stage])
        spark = get_spark(f"labellake-{stage}-{run.dataset}", settings)
    return _run_locked(stage, run, settings, ds, spark)


def stage_without_spark(stage: str, run: RunContext, settings: Settings | None = None) -> bool:
    """Complete ``stage`` of ``run`` here when it needs no Spark session; False (nothing recorded)
    when it does. The DAG calls this before a ``spark-submit``: a night with unchanged input files,
    LFs and config starts no JVM at all, and a publish by file commit none either."""
    settings = settings or Settings.from_env()
    return _run_locked(stage, run, settings, get_dataset(run.dataset, settings), None) is not _NEEDS_SPARK


_NEEDS_SPARK = object()
"""What :func:`_run_locked` returns, having done nothing, when a stage needs Spark it was not given."""


def _completes_without_spark(stage: str, ds: DatasetConfig, settings: Settings, run: RunContext) -> bool:
    """True when ``stage`` only reads and writes Delta logs (delta-rs), on local disk or S3: an
    incremental ingest of the input files the current source version was read from, an
    ``apply_lfs`` or fit whose outputs are on record (:mod:`jobs.stages.reused_outputs`), the validate
    and publish of a run whose published labels stay current, and a publish that commits the
    staged files (no review queue to build). A log delta-rs cannot read answers False: the
    stage then runs with Spark, which reads it or reports it."""
    try:
        return _reads_delta_logs_only(stage, ds, settings, run)
    except Exception as exc:  # noqa: BLE001 - the Spark path reports it properly
        log.debug("stage %s needs Spark: %s", stage, exc)
        return False


def _reads_delta_logs_only(stage: str, ds: DatasetConfig, settings: Settings, run: RunContext) -> bool:
    if stage == "ingest" and run.mode == "incremental":
        from jobs.stages.ingest.reuse import input_fingerprint, reused_ingest

        if delta_rs_location(table(settings, ds.name, "source").path) is None:
            return False
        return reused_ingest(None, ds, settings, input_fingerprint(ds, settings)) is not None
    if stage == "apply_lfs":
        from jobs.stages.reused_outputs import current_votes

        return current_votes(ds, settings, run) is not None
    if stage == "fit_label_model":
        from jobs.stages.reused_outputs import labels_still_current

        return labels_still_current(ds, settings, run, quiet=True) is not None
    if stage in ("validate", "publish") and (run_record(None, settings, run.run_id, run.dataset) or {}).get(
        "labels_current_from"
    ):
        return stage == "validate" or table(settings, ds.name, "labels").exists()  # nothing to check or commit
    if stage == "publish" and ds.review_queue is None:
        from jobs.stages.publish.commit_files import can_commit
        from jobs.stages.publish.stage import LABEL_COLUMNS

        labels, staging = table(settings, ds.name, "labels"), table(settings, ds.name, "staging_labels")
        return staging.exists() and can_commit(labels, staging, LABEL_COLUMNS) is None
    return False


def _run_locked(stage: str, run: RunContext, settings: Settings, ds: DatasetConfig, spark: SparkSession | None) -> Any:
    """The stage under the dataset's lock, recorded in the runs table (``spark`` None: only when the
    stage completes without Spark, checked under the lock; else :data:`_NEEDS_SPARK`)."""
    with dataset_lock(settings, run):
        if spark is None and not _completes_without_spark(stage, ds, settings, run):
            return _NEEDS_SPARK
        started = time.monotonic()
        if spark is not None:
            _tag_spark_jobs(spark, run, stage)
        log.info(
            "[%d/%d] stage %s: dataset=%s run=%s mode=%s%s",
            STAGES.index(stage) + 1,
            len(STAGES),
            stage,
            run.dataset,
            run.run_id,
            run.mode,
            "" if spark is not None else " (inputs unchanged: no Spark session)",
        )
        if stage == "ingest":  # a run starts (or an id starts again) here: a new attempt row
            begin_attempt(settings, run)
            _TIMINGS.pop((str(settings.home), run.run_id, run.dataset), None)
        with stage_events(settings, ds, run, stage):  # OpenLineage START, then COMPLETE (recorded) or FAIL
            try:
                result, fields = STAGE_FUNCTIONS[stage](spark, ds, settings, run)  # type: ignore[arg-type]
            except ValidationFailed:
                raise  # already recorded with every failed expectation
            except Exception as exc:
                error = _stage_error(spark, stage, exc)
                record_run(spark, settings, run, status="failed", stage=stage, error=f"{type(error).__name__}: {error}")
                if error is not exc:
                    raise error from exc
                raise
            finally:
                failure = sys.exc_info()[1]
                if spark is not None and (failure is None or not spark_is_gone(spark, failure)):  # a dead JVM: no calls
                    _clear_job_tags(spark, failure)
            seconds = round(time.monotonic() - started, 2)
            timings = _stage_seconds(spark, settings, run)
            timings[stage] = seconds
            timings.update(fields.pop("_seconds", {}))
            record_run(
                spark,
                settings,
                run,
                **{"status": "running", "stage": stage, "error": None, **fields, "stage_seconds": timings},
            )
        log.info("[%d/%d] stage %s done in %.1fs", STAGES.index(stage) + 1, len(STAGES), stage, seconds)
    return result


def _stage_error(spark: SparkSession | None, stage: str, exc: Exception) -> Exception:
    """``exc``, or a one-line SparkDied when the driver JVM went away under the stage."""
    if spark is None or not spark_is_gone(spark, exc):
        return exc
    cause = " ".join(str(exc).split())[:200] or type(exc).__name__
    return SparkDied(f"stage {stage}: the Spark driver JVM died (killed, or out of memory?); retry the run ({cause})")


def _clear_job_tags(spark: SparkSession, failure: BaseException | None) -> None:
    """Clear the stage's job tags; a stage's own failure is never masked by this call failing."""
    try:
        _tag_spark_jobs(spark, None, None)
    except Exception:
        if failure is None:
            raise
        log.debug("job tags not cleared after the stage failed", exc_info=True)


def _tag_spark_jobs(spark: SparkSession, run: RunContext | None, stage: str | None) -> None:
    """Name this thread's Spark jobs after the run and stage (``None`` clears it).

    The Spark UI and history server show the description; the local
    properties reach the event log, where ``labellake bench e2e`` attributes
    task time, shuffle and spill to stages (:mod:`jobs.bench.spark_profile`).
    """
    context = spark.sparkContext
    # None clears a property (pyspark's stubs say str only).
    description = f"labellake {stage} {run.dataset} run {run.run_id}" if run else None
    context.setLocalProperty(RUN_PROPERTY, run.run_id if run else None)  # type: ignore[arg-type]
    context.setLocalProperty(STAGE_PROPERTY, stage)  # type: ignore[arg-type]
    context.setJobDescription(description)  # type: ignore[arg-type]


_TIMINGS: dict[tuple[str, str, str], dict[str, float]] = {}
"""Stage timings of the runs this process has recorded (saves a runs-table read per stage)."""


def _stage_seconds(spark: SparkSession | None, settings: Settings, run: RunContext) -> dict[str, float]:
    """Stage timings already on the run's record (stages may run in separate processes)."""
    key = (str(settings.home), run.run_id, run.dataset)
    if key not in _TIMINGS:
        record = run_record(spark, settings, run.run_id, run.dataset) or {}
        try:
            _TIMINGS[key] = json.loads(record.get("stage_seconds") or "{}")
        except ValueError:
            _TIMINGS[key] = {}
    return _TIMINGS[key]


def run_pipeline(
    run: RunContext, settings: Settings | None = None, spark: SparkSession | None = None
) -> dict[str, Any]:
    """All stages in order for ``run``, holding the dataset's lock throughout; each stage's result by name.

    Without a ``spark`` session one starts at the first stage that needs it
    (:func:`stage_without_spark`): a quiet night never starts one."""
    settings = settings or Settings.from_env()
    ds = get_dataset(run.dataset, settings)  # a config error surfaces now, before Spark starts
    from jobs.stages.apply.votes import load_dataset_pack  # here: stage modules import while the JVM starts

    for path in ds.source_globs(settings):  # and a source path that matches no file
        source_files(path, ds.name)
    load_dataset_pack(ds)  # and so does an LF pack that fails to import or build, or has other classes
    results: dict[str, Any] = {}
    # A busy dataset fails in a second, before a JVM starts; the lock is held throughout.
    with dataset_lock(settings, run), attempt_remembered(settings, run):
        for index, stage in enumerate(STAGES):
            if spark is None:
                done = _run_locked(stage, run, settings, ds, None)
                if done is not _NEEDS_SPARK:
                    results[stage] = done
                    continue
                import_while_spark_starts(list(STAGES[index:]))
                spark = get_spark(f"labellake-run-{run.dataset}", settings)
            results[stage] = run_stage(stage, run, settings, spark)
    return results
