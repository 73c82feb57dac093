"""Validate: the Great Expectations gate between staging and publish.

Reads this run's partition of the staging table, runs the dataset's
candidate-labels suite (``expectations/labels_suite.py``), records every
expectation's result in the runs table, and raises :class:`ValidationFailed`
naming each failed expectation with its observed value and threshold. The
publish stage refuses to run for a run whose validation did not pass, so a
failure here leaves the labels table exactly as it was.
"""

from __future__ import annotations

import logging
from typing import Any

from pyspark.sql import SparkSession

from expectations.labels_suite import build_suite, observed_value, validation_view
from jobs.datasets import DatasetConfig
from jobs.errors import StageOrderError, ValidationFailed
from jobs.lineage import RunContext
from jobs.runs import record_run
from jobs.settings import Settings
from jobs.tables import table

log = logging.getLogger(__name__)


def validate_labels(labels_view: Any, ds: DatasetConfig, suite_name: str) -> list[dict[str, Any]]:
    """Run the suite on a validation view; one result dict per expectation."""
    import great_expectations as gx

    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    # One log line per expectation (below) beats a tqdm bar per metric batch in task logs.
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    source = context.data_sources.add_spark(name=f"{ds.name}_staging")
    batch = (source.add_dataframe_asset(name="candidate_labels")
             .add_batch_definition_whole_dataframe("run")
             .get_batch(batch_parameters={"dataframe": labels_view}))
    result = batch.validate(build_suite(suite_name, ds.classes, ds.expectations))
    outcomes = []
    for item in result.results:
        config = item.expectation_config
        check = (config.meta or {}).get("check", config.type)
        outcomes.append({
            "check": check,
            "expectation": config.type,
            "column": config.kwargs.get("column"),
            "success": bool(item.success),
            "observed": observed_value(check, dict(item.result)),
            "threshold": (config.meta or {}).get("threshold"),
            "severity": "blocking",
        })
    return outcomes


def run_validate(spark: SparkSession, ds: DatasetConfig, settings: Settings, run: RunContext) -> list[dict[str, Any]]:
    """Every expectation's outcome for ``run``'s candidate labels; raises :class:`ValidationFailed`
    (after recording the failures on the run) when a blocking one fails. The caller records
    a pass (see :mod:`jobs.pipeline`)."""
    staging = table(settings, ds.name, "staging_labels")
    if not staging.exists():
        raise StageOrderError(f"validate {ds.name}: staging table missing; run fit_label_model first")
    labels = spark.read.format("delta").load(str(staging.path)).where(f"_run_id = '{run.run_id}'")
    if labels.limit(1).count() == 0:
        raise StageOrderError(
            f"validate {ds.name}: no candidate labels for run {run.run_id!r} in {staging.name}; "
            "run fit_label_model for this run first"
        )
    outcomes = validate_labels(validation_view(labels), ds, f"{ds.name}_candidate_labels")
    failed = [o for o in outcomes if not o["success"] and o["severity"] == "blocking"]
    for o in outcomes:
        log.info("validate %s: %-28s %s observed=%s threshold=%s", ds.name, o["check"],
                 "ok  " if o["success"] else "FAIL", o["observed"], o["threshold"])
    if failed:
        message = f"validation of {staging.name} for run {run.run_id} failed; labels not published: " + "; ".join(
            f"{o['check']} ({o['expectation']} on {o['column']}): observed {o['observed']}, "
            f"threshold {o['threshold']}" for o in failed
        )
        record_run(spark, settings, run, status="failed", stage="validate", validation=outcomes, error=message)
        raise ValidationFailed(message, failed)
    return outcomes
