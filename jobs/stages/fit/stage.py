"""The fit stage: votes -> vote-pattern counts -> label model -> candidate labels (staging).

Read the inputs at this run's versions (:mod:`~jobs.stages.fit.inputs`); stop if
the published labels already have this fit key (:mod:`~jobs.stages.fit.fit_key`);
count the row patterns (:mod:`~jobs.stages.fit.fit_patterns`); fit the model on
them (:mod:`~jobs.stages.fit.model_fit`); build the candidates with lineage
(:mod:`~jobs.stages.fit.candidates`); write everything at the end
(:mod:`~jobs.stages.fit.outputs`).

A pattern is written as a sorted ``lf=vote`` list, e.g.
``keyword_my=1,short_comment=0``; the empty string means no LF voted.
"""

from __future__ import annotations

import logging
from datetime import datetime

from pyspark.sql import SparkSession

from jobs.core.datasets import DatasetConfig
from jobs.core.lineage import RunContext
from jobs.core.settings import Settings
from jobs.lake.tables import latest_commit
from jobs.stages.fit.candidates import staged_candidates
from jobs.stages.fit.fit_key import FitResult, current_labels
from jobs.stages.fit.fit_patterns import count_patterns
from jobs.stages.fit.inputs import StepClock, read_fit_inputs
from jobs.stages.fit.model_fit import fit_model
from jobs.stages.fit.outputs import labeled_rows, write_fit_outputs

log = logging.getLogger(__name__)


def run_fit_label_model(
    spark: SparkSession, ds: DatasetConfig, settings: Settings, run: RunContext, labeled_at: datetime
) -> FitResult:
    """Fit the label model for ``run`` and stage its candidate labels (or find them current)."""
    clock = StepClock()
    inputs = read_fit_inputs(spark, settings, ds, run)
    if run.mode != "full":
        current = current_labels(spark, settings, ds, inputs.key)
        if current is not None:
            return current
    clock.lap("inputs")
    patterns = count_patterns(spark, settings, ds, run, inputs)
    fitted = fit_model(spark, settings, ds, inputs, patterns, clock)
    candidates = staged_candidates(spark, ds, inputs, fitted.predicted, fitted.model_id, run, labeled_at)

    staging_ref = write_fit_outputs(spark, settings, ds, run, inputs, patterns, fitted, candidates, labeled_at, clock)
    staging_version, _ = latest_commit(spark, staging_ref)
    labeled = labeled_rows(spark, fitted, staging_ref, run)
    log.info(
        "fit_label_model %s: %s on %d rows, %d distinct patterns; %d labeled -> %s@v%d (%s)",
        ds.name,
        fitted.model.name,
        fitted.rows,
        fitted.patterns,
        labeled,
        staging_ref.name,
        staging_version,
        clock,
    )
    end_model = candidates.end_model
    return FitResult(
        fitted.rows,
        fitted.patterns,
        labeled,
        staging_version,
        fitted.model_id,
        end_model=end_model.model_id if end_model else None,
        gold_set_version=inputs.gold_set.version if inputs.gold_set else None,
    )
