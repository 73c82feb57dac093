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

``labellake end-model --dataset NAME`` trains on the published labels and
writes ``<dataset>/end_model_labels``: every row with the label model's label
and the end model's (``end_label``, ``end_probs``, ``end_confidence``),
``published_label`` per the policy (``label_model``, ``end_model``, or
``fill_uncovered``: the label model's label, the end model's where it has
none), and the end model's version hash in ``_end_model``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.classification import LogisticRegression
from pyspark.ml.feature import HashingTF, IDF, RegexTokenizer
from pyspark.ml.functions import vector_to_array
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.datasets import DatasetConfig
from jobs.settings import Settings
from jobs.tables import commit_metadata, latest_commit, require_table, table

log = logging.getLogger(__name__)

POLICIES = ("label_model", "end_model", "fill_uncovered")


@dataclass(frozen=True)
class EndModelConfig:
    num_features: int = 1 << 18
    min_doc_freq: int = 2
    reg_param: float = 0.01
    elastic_net: float = 0.0
    max_iter: int = 100
    min_weight: float = 0.01
    """Expanded training rows with a smaller class probability are dropped (they teach nothing)."""

    def version(self, labels_version: int) -> str:
        payload = json.dumps({**self.__dict__, "labels_version": labels_version}, sort_keys=True)
        return "logreg-tfidf@" + hashlib.sha256(payload.encode()).hexdigest()[:12]


def training_rows(labeled: DataFrame, min_weight: float) -> DataFrame:
    """``(text, class, weight)``: one row per (covered row, class), weighted by the class probability."""
    return (labeled.where(F.col("label") >= 0)
            .select("text", F.posexplode("probs").alias("class", "weight"))
            .where(F.col("weight") >= min_weight)
            .select("text", F.col("class").cast("double").alias("class"), "weight"))


def build_pipeline(config: EndModelConfig) -> Pipeline:
    return Pipeline(stages=[
        RegexTokenizer(inputCol="text", outputCol="_tokens", pattern="\\W+", minTokenLength=2, toLowercase=True),
        HashingTF(inputCol="_tokens", outputCol="_tf", numFeatures=config.num_features),
        IDF(inputCol="_tf", outputCol="_features", minDocFreq=config.min_doc_freq),
        LogisticRegression(featuresCol="_features", labelCol="class", weightCol="weight", family="multinomial",
                           regParam=config.reg_param, elasticNetParam=config.elastic_net, maxIter=config.max_iter,
                           probabilityCol="_probability", predictionCol="_prediction", rawPredictionCol="_raw"),
    ])


def score(model: PipelineModel, rows: DataFrame) -> DataFrame:
    """``rows`` plus ``end_label``, ``end_probs``, ``end_confidence`` (texts of every row, covered or not)."""
    scored = model.transform(rows.withColumn("text", F.coalesce("text", F.lit(""))))
    probs = vector_to_array("_probability")
    return (scored.withColumn("end_probs", probs)
            .withColumn("end_label", F.col("_prediction").cast("int"))
            .withColumn("end_confidence", F.array_max("end_probs"))
            .drop("_tokens", "_tf", "_features", "_raw", "_probability", "_prediction"))


def run_end_model(spark: SparkSession, ds: DatasetConfig, settings: Settings, policy: str = "fill_uncovered",
                  config: EndModelConfig | None = None) -> dict[str, Any]:
    """Train on the published labels, score every source row, write ``end_model_labels``; return figures."""
    if policy not in POLICIES:
        raise ValueError(f"end model: policy must be one of {POLICIES}, got {policy!r}")
    config = config or EndModelConfig()
    labels_ref = require_table(settings, ds.name, "labels")
    labels_version, meta = latest_commit(spark, labels_ref)
    labels = spark.read.format("delta").load(str(labels_ref.path)).select("id", "label", "probs", "_run_id")
    source = spark.read.format("delta").load(str(require_table(settings, ds.name, "source").path)).select("id", "text")
    rows = source.join(labels, "id").persist()
    started = time.perf_counter()
    train = training_rows(rows, config.min_weight)
    model = build_pipeline(config).fit(train)
    fit_seconds = time.perf_counter() - started
    model_id = config.version(labels_version)
    class_names = F.array(*[F.lit(c) for c in ds.classes])
    published = {"label_model": F.col("label"), "end_model": F.col("end_label"),
                 "fill_uncovered": F.when(F.col("label") >= 0, F.col("label")).otherwise(F.col("end_label"))}[policy]
    out = (score(model, rows)
           .withColumn("published_label", published)
           .withColumn("published_label_name", F.when(F.col("published_label") >= 0,
                                                      F.element_at(class_names, F.col("published_label") + 1)))
           .select("id", "label", "probs", "end_label", "end_probs", "end_confidence", "published_label",
                   "published_label_name", F.lit(policy).alias("_published_from"), F.lit(model_id).alias("_end_model"),
                   F.lit(labels_version).cast("long").alias("_labels_version"), "_run_id"))
    ref = table(settings, ds.name, "end_model_labels")
    (out.write.format("delta").mode("overwrite").option("overwriteSchema", "true")
     .option("userMetadata", commit_metadata(stage="end_model", dataset=ds.name, end_model=model_id, policy=policy,
                                            labels_version=labels_version, labels_run=meta.get("run_id")))
     .save(str(ref.path)))
    rows.unpersist()
    figures = end_model_figures(spark, settings, ds)
    figures.update(model=model_id, policy=policy, labels_version=labels_version,
                   fit_seconds=round(fit_seconds, 2), table=str(ref.path))
    log.info("end model %s: %s trained on labels v%d in %.1f s -> %s (%s)", ds.name, model_id, labels_version,
             fit_seconds, ref.name, figures)
    return figures


def end_model_figures(spark: SparkSession, settings: Settings, ds: DatasetConfig) -> dict[str, Any]:
    """Coverage and accuracy on gold of the label model alone, the end model alone, and the published mix."""
    out = spark.read.format("delta").load(str(table(settings, ds.name, "end_model_labels").path))
    gold_ref = table(settings, ds.name, "gold")
    columns = {"label_model": "label", "end_model": "end_label", "published": "published_label"}
    aggs = [F.count(F.lit(1)).alias("rows")] + [F.avg((F.col(c) >= 0).cast("double")).alias(f"{k}_coverage")
                                                 for k, c in columns.items()]
    figures: dict[str, Any] = out.agg(*aggs).first().asDict()
    if gold_ref.exists():
        gold = spark.read.format("delta").load(str(gold_ref.path)).select("id", F.col("label").alias("_gold"))
        scored = out.join(gold, "id")
        accuracy = scored.agg(
            F.count(F.lit(1)).alias("gold_rows"),
            *[F.avg((F.col(c) == F.col("_gold")).cast("double")).alias(f"{k}_accuracy") for k, c in columns.items()],
            *[F.avg(F.when(F.col(c) >= 0, (F.col(c) == F.col("_gold")).cast("double"))).alias(
                f"{k}_accuracy_where_labeled") for k, c in columns.items()],
            F.avg(F.when(F.col("label") < 0, (F.col("end_label") == F.col("_gold")).cast("double"))).alias(
                "end_model_accuracy_on_uncovered")).first().asDict()
        figures.update(accuracy)
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in figures.items()}
