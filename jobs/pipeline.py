"""The relabel pipeline's stages, by name, as both the CLI and the DAG call them.

``run_stage`` runs one stage for one run (what each Airflow task does through
``spark-submit``); ``run_pipeline`` runs them all in order in one Spark session
(``labellake run``). Every stage records its outcome in the runs table; a
stage that raises marks the run failed with the error before re-raising.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable

from pyspark.sql import SparkSession

from jobs.apply_lfs import run_apply_lfs
from jobs.datasets import DatasetConfig, get_dataset
from jobs.errors import ValidationFailed
from jobs.fit_label_model import run_fit_label_model
from jobs.ingest import run_ingest
from jobs.lineage import RunContext, utc_now
from jobs.publish import run_publish
from jobs.runs import record_run
from jobs.settings import Settings
from jobs.stages import STAGES
from jobs.spark_session import get_spark
from jobs.validate import run_validate

log = logging.getLogger(__name__)



def _ingest(spark: SparkSession, ds: DatasetConfig, settings: Settings, run: RunContext) -> Any:
    result = run_ingest(spark, ds, settings, run, ingested_at=utc_now())
    record_run(spark, settings, run, status="running", stage="ingest", input_rows=result.input_rows,
               accepted_rows=result.accepted, quarantined_rows=result.quarantined_total,
               source_version=result.source_version)
    return result


def _apply(spark: SparkSession, ds: DatasetConfig, settings: Settings, run: RunContext) -> Any:
    result = run_apply_lfs(spark, ds, settings, run)
    record_run(spark, settings, run, status="running", stage="apply_lfs", votes=result.votes,
               source_version=result.source_version, lf_set_version=result.lf_set_version)
    return result


def _fit(spark: SparkSession, ds: DatasetConfig, settings: Settings, run: RunContext) -> Any:
    result = run_fit_label_model(spark, ds, settings, run, labeled_at=utc_now())
    record_run(spark, settings, run, status="running", stage="fit_label_model", patterns=result.patterns,
               labeled_rows=result.labeled, label_model=ds.label_model)
    return result


STAGE_FUNCTIONS: dict[str, Callable[[SparkSession, DatasetConfig, Settings, RunContext], Any]] = {
    "ingest": _ingest,
    "apply_lfs": _apply,
    "fit_label_model": _fit,
    "validate": run_validate,
    "publish": run_publish,
}


def run_stage(stage: str, run: RunContext, settings: Settings | None = None,
              spark: SparkSession | None = None) -> Any:
    """Run one stage of ``run``; errors are recorded on the run, then re-raised."""
    if stage not in STAGE_FUNCTIONS:
        raise ValueError(f"unknown stage {stage!r}; stages: {STAGES}")
    settings = settings or Settings.from_env()
    ds = get_dataset(run.dataset, settings)
    spark = spark or get_spark(f"labellake-{stage}-{run.dataset}", settings)
    started = time.monotonic()
    log.info("stage %s: dataset=%s run=%s", stage, run.dataset, run.run_id)
    try:
        result = STAGE_FUNCTIONS[stage](spark, ds, settings, run)
    except ValidationFailed:
        raise  # already recorded with every failed expectation
    except Exception as exc:
        record_run(spark, settings, run, status="failed", stage=stage, error=f"{type(exc).__name__}: {exc}")
        raise
    log.info("stage %s done in %.1fs", stage, time.monotonic() - started)
    return result


def run_pipeline(run: RunContext, settings: Settings | None = None,
                 spark: SparkSession | None = None) -> dict[str, Any]:
    """All stages in order for ``run``; returns each stage's result by name."""
    settings = settings or Settings.from_env()
    spark = spark or get_spark(f"labellake-run-{run.dataset}", settings)
    return {stage: run_stage(stage, run, settings, spark) for stage in STAGES}
