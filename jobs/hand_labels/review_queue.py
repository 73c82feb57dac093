"""The review queue: the K rows most worth a human look, for active learning.

Hand labels pay off where the label model is least sure, so each pick is
scored from what the run already has, per row, in Spark:

- ``uncertain``: highest entropy of the label model's ``probs`` (normalised by
  ``log k``, so 1 is a coin flip), taken *stratified by predicted class*
  (round-robin over the classes' own rankings), so one dominant class cannot
  fill the queue;
- ``conflict``: rows whose LFs voted different classes, most votes first;
- ``uncovered``: rows no source voted on, a stable hash sample of them;
- ``disagreement``: rows where the end model (``[datasets.NAME.end_model]``,
  trained in the same run) confidently predicts another class than the label
  model, most confident first (read from the labels table's
  ``label_model_label`` and ``end_model_label``).

``mix`` says which share of K each kind gets; a kind with too few rows leaves
its share to ``uncertain``. Rows already annotated, and rows picked by an
earlier kind, are never picked twice. The queue is written as a Delta table
(``<dataset>/review_queue``, one version per queue) plus a CSV and a Label
Studio import file (tasks with the current label as a pre-annotation), so a
reviewer's export comes straight back through ``labellake annotations ingest``.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from jobs.core.dataset_sections import QUEUE_KINDS

if TYPE_CHECKING:
    import pandas as pd

    from jobs.core.datasets import DatasetConfig
    from jobs.core.settings import Settings

log = logging.getLogger(__name__)

KINDS = QUEUE_KINDS
DEFAULT_MIX = {"uncertain": 0.5, "conflict": 0.2, "uncovered": 0.1, "disagreement": 0.2}


@dataclass(frozen=True)
class QueueCounts:
    picked: dict[str, int]
    candidates: dict[str, int]


def row_signals(labels: DataFrame, votes: DataFrame, annotated_ids: DataFrame | None, k: int) -> DataFrame:
    """``(id, label, confidence, entropy, lf_votes, conflict, uncovered, disagree, end_confidence)``
    for rows not yet annotated.

    ``labels`` has ``id, label, probs`` (+ ``confidence``, and, when the run trained an end model,
    ``label_model_label``, ``end_model_label`` and ``end_model_confidence``, read from the same
    rows: no second pass); ``votes`` is the long LF votes table.
    """
    p = F.col("probs")
    entropy = -F.aggregate(p, F.lit(0.0), lambda acc, x: acc + F.when(x > 0, x * F.log(x)).otherwise(0.0)) / F.lit(
        math.log(k)
    )
    per_row = votes.groupBy("id").agg(
        F.count(F.lit(1)).alias("lf_votes"), F.countDistinct("vote").alias("distinct_votes")
    )
    if "end_model_label" in labels.columns:
        end_label, end_confidence = F.col("end_model_label"), F.col("end_model_confidence")
        disagree = F.coalesce(
            (end_label >= 0) & (F.col("label_model_label") >= 0) & (end_label != F.col("label_model_label")),
            F.lit(False),
        )
    else:
        end_confidence, disagree = F.lit(None).cast("double"), F.lit(False)
    rows = (
        labels.select(
            "id",
            "label",
            "probs",
            F.coalesce("confidence", F.array_max(p)).alias("confidence"),
            disagree.alias("disagree"),
            end_confidence.alias("end_confidence"),
        )
        .join(per_row, "id", "left")
        .select(
            "id",
            "label",
            "confidence",
            entropy.alias("entropy"),
            F.coalesce("lf_votes", F.lit(0)).alias("lf_votes"),
            (F.coalesce("distinct_votes", F.lit(0)) > 1).alias("conflict"),
            F.col("lf_votes").isNull().alias("uncovered"),
            "disagree",
            "end_confidence",
        )
    )
    if annotated_ids is not None:
        rows = rows.join(annotated_ids.select("id").distinct(), "id", "left_anti")
    return rows


def select_queue(signals: DataFrame, k: int, mix: dict[str, float] | None = None, seed: int = 0) -> DataFrame:
    """The K picks: ``(id, label, confidence, entropy, kind, rank)``; K rows at most, no id twice.

    Every kind is a top-N (``orderBy`` + ``limit``, which Spark runs as a bounded
    heap per partition), so the cost is one pass over the rows, not a global sort.
    """
    mix = dict(DEFAULT_MIX if mix is None else mix)
    unknown = sorted(set(mix) - set(KINDS))
    if unknown or any(v < 0 for v in mix.values()) or not sum(mix.values()):
        raise ValueError(f"review queue: mix must give non-negative shares of {list(KINDS)}, got {mix}")
    total = sum(mix.values())
    quota = {kind: int(round(k * mix.get(kind, 0.0) / total)) for kind in ("conflict", "uncovered", "disagreement")}
    tiebreak = F.xxhash64("id", F.lit(seed))
    base = signals.select(
        "id", "label", "confidence", "entropy", "lf_votes", "conflict", "uncovered", "disagree", "end_confidence"
    )
    parts = []
    if quota["disagreement"] > 0:
        parts.append(
            base.where("disagree")
            .orderBy(F.col("end_confidence").desc(), tiebreak)
            .limit(quota["disagreement"])
            .withColumn("kind", F.lit("disagreement"))
        )
    if quota["conflict"] > 0:
        parts.append(
            base.where("conflict AND NOT disagree")
            .orderBy(F.col("lf_votes").desc(), F.col("entropy").desc(), tiebreak)
            .limit(quota["conflict"])
            .withColumn("kind", F.lit("conflict"))
        )
    if quota["uncovered"] > 0:
        parts.append(
            base.where("uncovered").orderBy(tiebreak).limit(quota["uncovered"]).withColumn("kind", F.lit("uncovered"))
        )
    picked = None
    for part in parts:
        picked = part if picked is None else picked.unionByName(part)
    remaining = k - (0 if picked is None else picked.count())
    covered = base.where(~F.col("uncovered"))
    if picked is not None:
        covered = covered.join(picked.select("id"), "id", "left_anti")
    # Stratified by predicted class: the i-th most uncertain row of every class before the (i+1)-th of any.
    per_class = Window.partitionBy("label").orderBy(F.col("entropy").desc(), tiebreak)
    uncertain = (
        covered.withColumn("_class_rank", F.row_number().over(per_class))
        .where(F.col("_class_rank") <= remaining)
        .orderBy("_class_rank", F.col("entropy").desc(), "label")
        .limit(max(remaining, 0))
        .drop("_class_rank")
        .withColumn("kind", F.lit("uncertain"))
    )
    queue = uncertain if picked is None else picked.unionByName(uncertain)
    rank = Window.partitionBy("kind").orderBy(F.col("entropy").desc(), tiebreak)
    return queue.withColumn("rank", F.row_number().over(rank)).select(
        "id", "label", "confidence", "entropy", "kind", "rank"
    )


def label_studio_task(row: Any, queue_id: str, id_field: str) -> dict[str, Any]:
    """One picked row as a Label Studio import task, with the current label as a pre-annotation."""
    task: dict[str, Any] = {
        "data": {"text": row.text, id_field: row.id},
        "meta": {"queue_id": queue_id, "kind": row.kind, "rank": int(row.rank)},
    }
    if isinstance(row.label_name, str):
        choice = {"from_name": "label", "to_name": "text", "type": "choices", "value": {"choices": [row.label_name]}}
        task["predictions"] = [{"model_version": queue_id, "score": float(row.confidence), "result": [choice]}]
    return task


def write_queue(
    spark: SparkSession,
    queue: DataFrame,
    texts: DataFrame,
    class_names: list[str],
    table_path: Path | str,
    out_dir: Path,
    queue_id: str,
    id_field: str,
    metadata: str,
) -> dict[str, str]:
    """The queue as a Delta table version, a CSV and a Label Studio import file; returns the paths.

    Only the K picked rows (and their texts) reach the driver, to write the two files.
    """
    names = F.create_map(*[x for i, c in enumerate(class_names) for x in (F.lit(i), F.lit(c))])
    rows = (
        queue.join(texts.select("id", "text"), "id", "left")
        .withColumn("label_name", F.element_at(names, F.col("label")))
        .withColumn("queue_id", F.lit(queue_id))
    )
    rows.write.format("delta").mode("overwrite").option("overwriteSchema", "true").option(
        "userMetadata", metadata
    ).save(str(table_path))
    picked: pd.DataFrame = spark.read.format("delta").load(str(table_path)).orderBy("kind", "rank").toPandas()
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path = out_dir / f"{queue_id}.csv"
    picked[["id", "text", "label_name", "confidence", "entropy", "kind", "rank"]].to_csv(csv_path, index=False)
    tasks = [label_studio_task(row, queue_id, id_field) for row in picked.itertuples(index=False)]
    studio_path = out_dir / f"{queue_id}.label_studio.json"
    studio_path.write_text(json.dumps(tasks, indent=1))
    log.info(
        "review queue %s: %d rows (%s) -> %s, %s, %s",
        queue_id,
        len(picked),
        picked["kind"].value_counts().to_dict(),
        table_path,
        csv_path,
        studio_path,
    )
    return {"table": str(table_path), "csv": str(csv_path), "label_studio": str(studio_path)}


def run_review_queue(
    spark: SparkSession,
    ds: DatasetConfig,
    settings: Settings,
    k: int,
    mix: dict[str, float] | None = None,
    seed: int = 0,
) -> dict[str, object]:
    """Build the queue from the published labels, the votes they came from and the annotations so far."""
    from datetime import datetime

    from jobs.lake.tables import commit_metadata, latest_commit, require_table, table

    labels_ref = require_table(settings, ds.name, "labels")
    version, meta = latest_commit(spark, labels_ref)
    labels = labels_ref.read(spark)
    votes_ref = require_table(settings, ds.name, "votes")
    votes = votes_ref.read(spark).select("id", "lf", "vote")
    annotations_ref = table(settings, ds.name, "annotations")
    annotated = annotations_ref.read(spark) if annotations_ref.exists() else None
    signals = row_signals(labels, votes, annotated, len(ds.classes))
    queue = select_queue(signals, k, mix, seed)
    queue_id = f"queue-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}"
    source = spark.read.format("delta").load(str(require_table(settings, ds.name, "source").path))
    paths = write_queue(
        spark,
        queue,
        source,
        list(ds.classes),
        table(settings, ds.name, "review_queue").path,
        settings.home / "_review" / ds.name,
        queue_id,
        ds.id_column,
        commit_metadata(
            stage="review_queue",
            dataset=ds.name,
            queue_id=queue_id,
            k=k,
            mix=mix or DEFAULT_MIX,
            labels_version=version,
            labels_run=meta.get("run_id"),
        ),
    )
    kinds = {
        r["kind"]: int(r["count"])
        for r in spark.read.format("delta").load(paths["table"]).groupBy("kind").count().collect()
    }
    return {"queue_id": queue_id, "rows": sum(kinds.values()), "kinds": kinds, "labels_version": version, **paths}
