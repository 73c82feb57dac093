"""The candidate labels a run stages: the model's, gold where published, the end model's, and lineage.

Every staged row carries the lineage columns (``_source_table`` ... ``_dag_id``);
the same values go on the staging commit as JSON, so the labels version names
its run whichever way it is read.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.core.datasets import DatasetConfig
from jobs.core.lineage import RunContext, code_version
from jobs.hand_labels.annotator_sources import label_source
from jobs.hand_labels.gold_set import GOLD_SOURCE, GoldSet, train_gold
from jobs.stages.fit.end_model import EndModelRun, add_end_model
from jobs.stages.fit.inputs import FitInputs

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Candidates:
    """The rows to stage, and the end model trained on them (if the dataset has one)."""

    staged: DataFrame
    end_model: EndModelRun | None
    lineage: dict[str, Column]


def candidate_columns(predicted: DataFrame, with_annotators: bool, *extra: str) -> DataFrame:
    """The model's candidate label columns of predicted rows (or of the per-pattern predictions)."""
    return predicted.select(
        "id",
        "label",
        "probs",
        "confidence",
        F.col("label").alias("label_model_label"),
        # Per pattern (see prediction_frame): JSON {lf: version} of the LFs that voted on the row.
        F.coalesce(F.col("_lf_versions"), F.lit("{}")).alias("_lf_versions"),
        *extra,
    ).withColumn("_label_source", label_source(with_annotators))


def without_end_model(candidates: DataFrame) -> DataFrame:
    return candidates.select(
        "*", F.lit(None).cast("int").alias("end_model_label"), F.lit(None).cast("double").alias("end_model_confidence")
    )


def with_gold_labels(candidates: DataFrame, spark: SparkSession, gold_set: GoldSet | None, k: int) -> DataFrame:
    """With ``gold_set.publish``, the adjudicated *train* rows take their gold label
    (``probs`` one-hot, ``_label_source = 'gold'``); ``label_model_label`` keeps the model's."""
    gold = train_gold(spark, gold_set) if gold_set is not None and gold_set.publish else None
    if gold is None:
        return candidates
    is_gold = F.col("gold_label").isNotNull()
    one_hot = F.transform(
        F.sequence(F.lit(0), F.lit(k - 1)), lambda i: F.when(i == F.col("gold_label"), F.lit(1.0)).otherwise(F.lit(0.0))
    )
    return (
        candidates.join(F.broadcast(gold), "id", "left")
        .withColumn("label", F.when(is_gold, F.col("gold_label")).otherwise(F.col("label")))
        .withColumn("probs", F.when(is_gold, one_hot).otherwise(F.col("probs")))
        .withColumn("confidence", F.when(is_gold, F.lit(1.0)).otherwise(F.col("confidence")))
        .withColumn("_label_source", F.when(is_gold, F.lit(GOLD_SOURCE)).otherwise(F.col("_label_source")))
        .drop("gold_label")
    )


def lineage_columns(
    inputs: FitInputs, model_id: str, end_model_id: str | None, run: RunContext, labeled_at: datetime
) -> dict[str, Column]:
    """The lineage columns of every staged row."""
    return {
        "_source_table": F.lit(inputs.source_ref.name),
        "_source_version": F.lit(inputs.source_version).cast("long"),
        "_lf_set_version": F.lit(inputs.votes_meta["lf_set_version"]),
        "_lf_versions": F.col("_lf_versions"),
        "_label_source": F.col("_label_source"),
        "_label_model": F.lit(model_id),
        "_end_model": F.lit(end_model_id).cast("string"),
        "_labeled_at": F.lit(labeled_at).cast("timestamp"),
        "_code_version": F.lit(code_version()),
        "_run_id": F.lit(run.run_id),
        # The Airflow DAG that ran it (null from the CLI): with _run_id, the DAG run in Airflow's UI.
        "_dag_id": F.lit(run.dag_id or None).cast("string"),
    }


def lineage_json(ds: DatasetConfig, inputs: FitInputs, model_id: str, run: RunContext, labeled_at: datetime) -> dict:
    """The lineage recorded on every labeled row, as a dict for commit metadata."""
    return {
        "run_id": run.run_id,
        "dataset": ds.name,
        "trigger": run.trigger,
        "dag_id": run.dag_id,
        "source_table": inputs.source_ref.name,
        "source_version": inputs.source_version,
        "lf_set_version": inputs.votes_meta["lf_set_version"],
        "lf_versions": inputs.votes_meta["lf_versions"],
        "label_model": model_id,
        "labeled_at": labeled_at.isoformat(),
        "code_version": code_version(),
    }


def staged_columns(frame: DataFrame, classes: tuple[str, ...], lineage: dict[str, Column], *extra: str) -> DataFrame:
    """The staging table's columns, in order: the label, its name, probabilities, both models'
    labels, then lineage."""
    class_names = F.array(*[F.lit(c) for c in classes])
    return frame.select(
        "id",
        F.col("label"),
        F.when(F.col("label") >= 0, F.element_at(class_names, F.col("label") + 1)).alias("label_name"),
        "probs",
        "confidence",
        "label_model_label",
        "end_model_label",
        "end_model_confidence",
        *[value.alias(name) for name, value in lineage.items()],
        *extra,
    )


def _end_model_step(
    spark: SparkSession, ds: DatasetConfig, inputs: FitInputs, candidates: DataFrame, run: RunContext
) -> EndModelRun:
    assert ds.end_model is not None
    texts = inputs.source_ref.read(spark, inputs.source_version).select("id", "text")
    where = f"{ds.name} run {run.run_id}"
    end_model = add_end_model(
        candidates, texts, ds.end_model, inputs.key, F.col("_label_source") == GOLD_SOURCE, where=where
    )
    log.info(
        "fit_label_model %s: end model %s trained on %d weighted rows in %.1f s (publishes %s)",
        ds.name,
        end_model.model_id,
        end_model.training_rows,
        end_model.fit_seconds,
        ds.end_model.publish,
    )
    return end_model


def staged_candidates(
    spark: SparkSession,
    ds: DatasetConfig,
    inputs: FitInputs,
    predicted: DataFrame,
    model_id: str,
    run: RunContext,
    labeled_at: datetime,
) -> Candidates:
    """The rows to stage: the model's labels, gold ones where published, the end model's, lineage."""
    candidates = candidate_columns(predicted, inputs.annotators is not None)
    candidates = with_gold_labels(candidates, spark, inputs.gold_set, len(ds.classes))
    end_model = _end_model_step(spark, ds, inputs, candidates, run) if ds.end_model is not None else None
    candidates = end_model.rows if end_model is not None else without_end_model(candidates)
    lineage = lineage_columns(inputs, model_id, end_model.model_id if end_model else None, run, labeled_at)
    return Candidates(staged_columns(candidates, ds.classes, lineage), end_model, lineage)
