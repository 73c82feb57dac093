"""What the fit writes, all at the end of the stage: LF analysis, the model record, row patterns, staging.

The staging labels are written as pattern lookups by Arrow in the tasks when
every staged column is the row's pattern's (:mod:`jobs.stages.fit.staging`),
else as a plain per-run partition overwrite.
"""

from __future__ import annotations

import functools
import json
import logging
from datetime import datetime

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.core.datasets import DatasetConfig
from jobs.core.lineage import RunContext
from jobs.core.settings import Settings
from jobs.lake.table_files import table_schema
from jobs.lake.tables import TableRef, commit_metadata, latest_commit, replace_run_rows
from jobs.patterns.incremental import store_patterns
from jobs.patterns.label_transitions import RECORD_KEY as TRANSITIONS_KEY
from jobs.patterns.label_transitions import store_pattern_labels
from jobs.stages.fit import staging as staging_files
from jobs.stages.fit.candidates import Candidates, candidate_columns, lineage_json, staged_columns, without_end_model
from jobs.stages.fit.fit_patterns import FitPatterns
from jobs.stages.fit.inputs import FitInputs, StepClock
from jobs.stages.fit.lf_analysis import write_lf_analysis
from jobs.stages.fit.model_fit import FittedModel

log = logging.getLogger(__name__)

STATS_COLUMNS_PROPERTY = "delta.dataSkippingStatsColumns"
STAGING_STATS_COLUMNS = "id,label,confidence"
"""The columns whose min/max Delta records per staging (and, once published, labels) file: the
ones lookups filter on. The files are committed to the labels table as they are
(:mod:`jobs.stages.publish.commit_files`), so these are its data-skipping statistics too."""


def reset_staging_if_schema_changed(spark: SparkSession, ref: TableRef, staged: DataFrame) -> None:
    """Staging is scratch space: if an older labellake wrote it with other columns, start it afresh
    (a per-run ``replaceWhere`` cannot change the schema)."""
    if not ref.exists():
        return
    current = table_schema(spark, ref)
    # Compare names and types, not nullability: Delta reads arrays back as containsNull=true,
    # and treating that as a change would drop the candidates kept from earlier (failed) runs.
    wanted = {f.name: f.dataType.simpleString() for f in staged.schema.fields}
    if {f.name: f.dataType.simpleString() for f in current.fields} != wanted:
        log.warning(
            "fit_label_model: %s has an older schema; rewriting it (its old runs' candidates are dropped; "
            "earlier versions stay readable by time travel)",
            ref.name,
        )
        (
            spark.createDataFrame([], staged.schema)
            .write.format("delta")
            .mode("overwrite")
            .option("overwriteSchema", "true")
            .partitionBy("_run_id")
            .save(str(ref.path))
        )


def limit_staging_stats(spark: SparkSession, ref: TableRef) -> None:
    """Set :data:`STAGING_STATS_COLUMNS` on a staging table created before it was a setting
    (a new table gets it from the write's option)."""
    if not ref.exists():
        return
    from deltalake import DeltaTable

    if DeltaTable(str(ref.path)).metadata().configuration.get(STATS_COLUMNS_PROPERTY) != STAGING_STATS_COLUMNS:
        spark.sql(
            f"ALTER TABLE delta.`{ref.path}` SET TBLPROPERTIES ('{STATS_COLUMNS_PROPERTY}' = '{STAGING_STATS_COLUMNS}')"
        )


def record_label_model(
    settings: Settings, ds: DatasetConfig, run: RunContext, fitted: FittedModel, inputs: FitInputs
) -> None:
    """Replace this run's row of the ``label_models`` table: the parameters as JSON (enough to audit
    or reload the model), the LF versions it was fitted on, the pattern-counts version it read, the
    learned per-LF accuracies (shown by ``labellake lfs``) and how it was chosen."""
    import pyarrow as pa

    accuracies = fitted.model.lf_accuracies()
    row = {
        "_run_id": run.run_id,
        "model": fitted.model.name,
        "model_id": fitted.model_id,
        "params": json.dumps(fitted.model.params(), sort_keys=True),
        "lf_names": inputs.lf_names,
        "lf_versions": json.dumps(inputs.votes_meta["lf_versions"], sort_keys=True),
        "lf_accuracies": None if accuracies is None else [float(a) for a in accuracies],
        "pattern_counts_version": int(fitted.counts_version),
        "selection": json.dumps(fitted.choice.record(), sort_keys=True),
    }
    schema = pa.schema(
        [
            ("_run_id", pa.string()),
            ("model", pa.string()),
            ("model_id", pa.string()),
            ("params", pa.string()),
            ("lf_names", pa.list_(pa.string())),
            ("lf_versions", pa.string()),
            ("lf_accuracies", pa.list_(pa.float64())),
            ("pattern_counts_version", pa.int64()),
            ("selection", pa.string()),
        ]
    )
    ref = inputs.tables.label_models
    meta = commit_metadata(run_id=run.run_id, stage="fit_label_model", dataset=ds.name)
    replace_run_rows(ref, pa.Table.from_pylist([row], schema=schema), run.run_id, meta)
    log.info(
        "fit_label_model %s: %s (%s) recorded in %s", ds.name, fitted.model_id, fitted.choice.selected_by, ref.name
    )


def staging_metadata(
    ds: DatasetConfig,
    run: RunContext,
    inputs: FitInputs,
    fitted: FittedModel,
    candidates: Candidates,
    labeled_at: datetime,
) -> str:
    """The staging commit's metadata: fit key, lineage, and (when every label is the model's) the
    label distribution and label changes, which travel with the files into the labels commit."""
    publishes_gold = inputs.gold_set is not None and inputs.gold_set.publish
    end_model = candidates.end_model
    distribution = fitted.distribution
    extra = {}
    if end_model is None and not publishes_gold and distribution is not None:
        extra["label_distribution"] = distribution
        if fitted.transitions is not None:
            extra[TRANSITIONS_KEY] = fitted.transitions.record()
    return commit_metadata(
        stage="fit_label_model",
        fit_key=inputs.key,
        end_model=end_model.model_id if end_model else None,
        gold_set_version=inputs.gold_set.version if inputs.gold_set else None,
        **extra,
        **lineage_json(ds, inputs, fitted.model_id, run, labeled_at),
    )


def write_pattern_lookups(
    spark: SparkSession,
    ds: DatasetConfig,
    run: RunContext,
    inputs: FitInputs,
    fp: FitPatterns,
    per_pattern: DataFrame,
    candidates: Candidates,
    staging_ref: TableRef,
    user_metadata: str,
) -> None:
    """Every staged column is the row's pattern's: write them as pattern lookups (:mod:`jobs.stages.fit.staging`)."""
    staged = candidates.staged
    if not staging_ref.exists():
        (
            spark.createDataFrame([], staged.schema)
            .write.format("delta")
            .partitionBy("_run_id")
            .option(STATS_COLUMNS_PROPERTY, STAGING_STATS_COLUMNS)
            .save(str(staging_ref.path))
        )
    unkeyed = per_pattern.withColumn("id", F.lit(None).cast("string"))
    pattern_columns = candidate_columns(unkeyed, inputs.annotators is not None, staging_files.PATTERN)
    pattern_table = staged_columns(
        without_end_model(pattern_columns), ds.classes, candidates.lineage, staging_files.PATTERN
    ).toArrow()
    names = [c for c in staged.columns if c != "_run_id"]
    stats = STAGING_STATS_COLUMNS.split(",")
    keys = per_pattern.select(*fp.patterned.keys, staging_files.PATTERN)
    stored = fp.updated.files if fp.updated is not None else None
    if stored is None:
        indexed = fp.rows.join(F.broadcast(keys), fp.patterned.keys, "left")
        staging_files.write_run_partition(
            spark, indexed, pattern_table, names, staging_ref, run.run_id, stats, user_metadata
        )
        return
    # The rerun's rows are the stored row patterns' files plus the edit: read by Arrow in the tasks.
    log.info(
        "fit_label_model %s: staging rows read by Arrow from %d stored row-pattern files", ds.name, len(stored.files)
    )
    lookup = functools.partial(stored.indexed_rows, keys=keys.toArrow(), index=staging_files.PATTERN)
    staging_files.write_run_partition_from_files(
        spark, list(stored.files), lookup, pattern_table, names, staging_ref, run.run_id, stats, user_metadata
    )


def write_staging(
    spark: SparkSession,
    settings: Settings,
    ds: DatasetConfig,
    run: RunContext,
    inputs: FitInputs,
    fp: FitPatterns,
    fitted: FittedModel,
    candidates: Candidates,
    user_metadata: str,
) -> TableRef:
    """Replace this run's partition of the staging table with its candidates."""
    staging_ref = inputs.tables.staging_labels
    reset_staging_if_schema_changed(spark, staging_ref, candidates.staged)
    limit_staging_stats(spark, staging_ref)
    publishes_gold = inputs.gold_set is not None and inputs.gold_set.publish
    distribution = fitted.distribution
    if (
        fitted.per_pattern is not None
        and candidates.end_model is None
        and not publishes_gold
        and distribution is not None
        and int(distribution["rows"]) > 0
        and staging_files.applies(staging_ref)
    ):
        write_pattern_lookups(spark, ds, run, inputs, fp, fitted.per_pattern, candidates, staging_ref, user_metadata)
        return staging_ref
    staging_ref.overwrite_run_partition(
        candidates.staged,
        run.run_id,
        user_metadata,
        partitioned=True,
        **{STATS_COLUMNS_PROPERTY: STAGING_STATS_COLUMNS},
    )
    return staging_ref


def keep_pattern_labels(
    spark: SparkSession, inputs: FitInputs, fp: FitPatterns, fitted: FittedModel, run: RunContext
) -> None:
    """Store this run's label per pattern when the stored row patterns are this run's rows as they
    are (stored by this run, no edit since): the next rerun counts its label changes against them."""
    if fitted.per_pattern is None or fp.patterned.codec is None or inputs.annotators is not None:
        return
    if fp.updated is not None and (fp.updated.stored_run != run.run_id or fp.updated.edited):
        return
    ref = inputs.tables.row_patterns
    version, meta = latest_commit(spark, ref) if ref.exists() else (None, {})
    if version is None or meta.get("run_id") != run.run_id or meta.get("votes_version") != inputs.votes_version:
        return
    ref = inputs.tables.pattern_labels
    store_pattern_labels(fitted.per_pattern, fp.patterned.keys, ref, run.run_id, version, fp.counted)


def write_fit_outputs(
    spark: SparkSession,
    settings: Settings,
    ds: DatasetConfig,
    run: RunContext,
    inputs: FitInputs,
    fp: FitPatterns,
    fitted: FittedModel,
    candidates: Candidates,
    labeled_at: datetime,
    clock: StepClock,
) -> TableRef:
    """Write the LF analysis, the model record, the row patterns (a fresh driver fit without
    annotators) and the staging labels; return the staging table."""
    if fitted.lf_analysis is not None:
        analysis = fitted.lf_analysis
        lf_table = inputs.tables.lf_analysis
        write_lf_analysis(analysis.stats, analysis.lfs, analysis.errors, lf_table, run.run_id)
    record_label_model(settings, ds, run, fitted, inputs)
    if fitted.on_driver and inputs.annotators is None and fp.updated is None:
        store_patterns(
            fp.rows,
            inputs.tables.row_patterns,
            fp.patterned.codec,
            run.run_id,
            inputs.source_version,
            inputs.votes_version,
            inputs.lf_names,
        )
        clock.lap("stored patterns")
    keep_pattern_labels(spark, inputs, fp, fitted, run)
    metadata = staging_metadata(ds, run, inputs, fitted, candidates, labeled_at)
    staging_ref = write_staging(spark, settings, ds, run, inputs, fp, fitted, candidates, metadata)
    fp.unpersist()
    clock.lap("staging write")
    if candidates.end_model is not None:
        candidates.end_model.cached.unpersist()
    return staging_ref


def labeled_rows(spark: SparkSession, fitted: FittedModel, staging_ref: TableRef, run: RunContext) -> int:
    """Rows the label model labeled: from the pattern counts, or counted in staging."""
    if fitted.distribution is not None:
        return int(fitted.distribution["rows"]) - int(fitted.distribution["unlabeled"])
    staged = staging_ref.read(spark)
    return staged.where((F.col("_run_id") == run.run_id) & (F.col("label_model_label") >= 0)).count()
