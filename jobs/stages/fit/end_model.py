"""The end model: a Spark MLlib text classifier trained on the label model's probabilistic labels.

LFs only label the rows they fire on; the classic Snorkel pipeline then trains
a discriminative model on the probabilistic labels, which generalises past the
LFs' coverage (words that co-occur with the LFs' evidence become evidence).
Here: ``RegexTokenizer -> HashingTF -> IDF -> LogisticRegression`` (multinomial).

Probabilistic labels, not hard ones: each covered row is expanded into one
training row per class, weighted by the label model's probability of that
class (``weightCol``), so the logistic loss is the expected loss under the
label model's belief; a 51/49 row teaches almost nothing, a 99/1 row a lot.
Rows no source covers are left out of training (their ``probs`` are only the
class prior) and are exactly the rows the end model is for.

With ``[datasets.NAME.end_model]`` in the config, the fit stage trains it on
the run's candidate labels (:func:`add_end_model`), so the labels table keeps
both labels (``label_model_label``, ``end_model_label``), publishes the one
the ``publish`` policy names (``label_model``, ``end_model``, or
``fill_uncovered``: the label model's, the end model's where no source voted)
and carries the end model's version in ``_end_model``. ``labellake end-model``
reports coverage and accuracy on gold of each.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.classification import LogisticRegression
from pyspark.ml.feature import IDF, HashingTF, RegexTokenizer
from pyspark.ml.functions import vector_to_array
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.core.dataset_sections import EndModelSettings
from jobs.core.datasets import DatasetConfig
from jobs.core.errors import ConfigError
from jobs.core.settings import Settings
from jobs.lake.tables import latest_commit, require_table

log = logging.getLogger(__name__)

SOURCE = "end_model"
"""``_label_source`` of a row whose published label is the end model's."""


def model_id(config: EndModelSettings, fit_key: str) -> str:
    """``logreg-tfidf@<hash>`` of the hyper-parameters and the labels it learns from (the fit key)."""
    payload = json.dumps({**dataclasses.asdict(config), "fit_key": fit_key}, sort_keys=True)
    return "logreg-tfidf@" + hashlib.sha256(payload.encode()).hexdigest()[:12]


def training_rows(labeled: DataFrame, min_weight: float) -> DataFrame:
    """``(text, class, weight)``: one row per (covered row, class), weighted by the class probability."""
    return (
        labeled.where(F.col("label") >= 0)
        .select("text", F.posexplode("probs").alias("class", "weight"))
        .where(F.col("weight") >= min_weight)
        .select("text", F.col("class").cast("double").alias("class"), "weight")
    )


def build_pipeline(config: EndModelSettings) -> Pipeline:
    return Pipeline(
        stages=[
            RegexTokenizer(inputCol="text", outputCol="_tokens", pattern="\\W+", minTokenLength=2, toLowercase=True),
            HashingTF(inputCol="_tokens", outputCol="_tf", numFeatures=config.num_features),
            IDF(inputCol="_tf", outputCol="_features", minDocFreq=config.min_doc_freq),
            LogisticRegression(
                featuresCol="_features",
                labelCol="class",
                weightCol="weight",
                family="multinomial",
                regParam=config.reg_param,
                elasticNetParam=config.elastic_net,
                maxIter=config.max_iter,
                probabilityCol="_probability",
                predictionCol="_prediction",
                rawPredictionCol="_raw",
            ),
        ]
    )


def score(model: PipelineModel, rows: DataFrame) -> DataFrame:
    """``rows`` plus ``end_label``, ``end_probs``, ``end_confidence`` (texts of every row, covered or not)."""
    scored = model.transform(rows.withColumn("text", F.coalesce("text", F.lit(""))))
    probs = vector_to_array(F.col("_probability"))
    return (
        scored.withColumn("end_probs", probs)
        .withColumn("end_label", F.col("_prediction").cast("int"))
        .withColumn("end_confidence", F.array_max("end_probs"))
        .drop("_tokens", "_tf", "_features", "_raw", "_probability", "_prediction")
    )


@dataclass(frozen=True)
class EndModelRun:
    rows: DataFrame
    """The input rows plus ``end_model_label``, ``end_model_confidence`` and the published columns."""
    cached: DataFrame
    """What :func:`add_end_model` persisted; unpersist it once ``rows`` is written."""
    model_id: str
    fit_seconds: float
    training_rows: int


def add_end_model(
    candidates: DataFrame,
    texts: DataFrame,
    config: EndModelSettings,
    fit_key: str,
    keep_label: Column,
    where: str = "candidate labels",
) -> EndModelRun:
    """Train on ``candidates`` (``id, label, probs, confidence``...) joined to ``texts`` (``id, text``),
    score every row, and choose the published label per ``config.publish``.

    ``keep_label`` marks rows whose published label must not change (gold
    published as gold). The joined rows are cached here for the two passes
    (fit, score) and stay cached for the caller's write: unpersist
    ``EndModelRun.cached`` after it.
    """
    rows = candidates.join(texts, "id", "left").persist()
    started = time.perf_counter()
    train = training_rows(rows, config.min_weight).persist()
    n_train = train.count()
    if n_train == 0:
        rows.unpersist()
        train.unpersist()
        raise ValueError(
            f"end model: no labeled rows to train on in {where} (every label is -1); "
            "the end model needs the label model to label some rows"
        )
    model = build_pipeline(config).fit(train)
    train.unpersist()
    seconds = time.perf_counter() - started
    scored = score(model, rows)
    end_label, end_probs = F.col("end_label"), F.col("end_probs")
    use_end = {"label_model": F.lit(False), "end_model": F.lit(True), "fill_uncovered": F.col("label") < 0}[
        config.publish
    ] & ~keep_label
    out = (
        scored.withColumn("end_model_label", end_label)
        .withColumn("end_model_confidence", F.col("end_confidence"))
        .withColumn("_from_end", use_end)
        .withColumn("label", F.when(F.col("_from_end"), end_label).otherwise(F.col("label")))
        .withColumn("probs", F.when(F.col("_from_end"), end_probs).otherwise(F.col("probs")))
        .withColumn("confidence", F.when(F.col("_from_end"), F.col("end_confidence")).otherwise(F.col("confidence")))
        .withColumn("_label_source", F.when(F.col("_from_end"), F.lit(SOURCE)).otherwise(F.col("_label_source")))
        .drop("text", "end_label", "end_probs", "end_confidence", "_from_end")
    )
    return EndModelRun(out, rows, model_id(config, fit_key), round(seconds, 2), n_train)


def end_model_figures(spark: SparkSession, settings: Settings, ds: DatasetConfig) -> dict[str, Any]:
    """Coverage and accuracy on the evaluation gold of the label model alone, the end model alone,
    and the published labels, from the published labels table."""
    from jobs.hand_labels.gold_set import evaluation_gold

    labels_ref = require_table(settings, ds.name, "labels")
    version, meta = latest_commit(spark, labels_ref)
    out = labels_ref.read(spark)
    missing = ConfigError(
        f"end model {ds.name}: {labels_ref.name}@v{version} has no end model labels; add "
        f"[datasets.{ds.name}.end_model] to the config and rerun the dataset"
    )
    if "end_model_label" not in out.columns:
        raise missing
    columns = {"label_model": "label_model_label", "end_model": "end_model_label", "published": "label"}
    aggs = [F.count(F.lit(1)).alias("rows"), F.first("_end_model", ignorenulls=True).alias("model")] + [
        F.avg((F.col(c) >= 0).cast("double")).alias(f"{k}_coverage") for k, c in columns.items()
    ]
    figures: dict[str, Any] = {
        "labels_version": version,
        "run_id": meta.get("run_id"),
        "policy": ds.end_model.publish if ds.end_model else None,
        **out.agg(*aggs).first().asDict(),
    }
    if figures["model"] is None:  # labels from a run without an end model
        raise missing
    gold = evaluation_gold(spark, settings, ds)
    if gold is not None:
        scored = out.join(gold.select("id", F.col("label").alias("_gold")), "id")
        accuracy = (
            scored.agg(
                F.count(F.lit(1)).alias("gold_rows"),
                *[
                    F.avg((F.col(c) == F.col("_gold")).cast("double")).alias(f"{k}_accuracy")
                    for k, c in columns.items()
                ],
                *[
                    F.avg(F.when(F.col(c) >= 0, (F.col(c) == F.col("_gold")).cast("double"))).alias(
                        f"{k}_accuracy_where_labeled"
                    )
                    for k, c in columns.items()
                ],
                F.avg(
                    F.when(F.col("label_model_label") < 0, (F.col("end_model_label") == F.col("_gold")).cast("double"))
                ).alias("end_model_accuracy_on_uncovered"),
            )
            .first()
            .asDict()
        )
        figures.update(accuracy)
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in figures.items()}
