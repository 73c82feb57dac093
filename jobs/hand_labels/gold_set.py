"""The gold set: which rows have a label we trust enough to score everything else against.

Two kinds of gold exist. The source's own gold column (ingest's ``gold``
table) is external truth, kept for evaluation. Hand labels become gold by a
config rule (``[datasets.X.gold_set]``, :class:`jobs.core.datasets.GoldSetRule`):
an expert's label, or ``k`` annotators agreeing. That second kind would leak:
with annotators as label-model sources, the very annotations that made a row
gold also vote on it, and the label model's accuracy on that row is then an
echo of the annotators. So the adjudicated rows are split by a stable hash of
the id:

- ``evaluation`` rows score LFs, choose the model and fill the report's accuracy
  figures; their annotations are withheld from the fit (:func:`withheld_ids`);
- ``train`` rows may vote through their annotators and, with ``publish = true``,
  publish their gold label (lineage ``_label_source = 'gold'``).

The gold set is a Delta table (``<dataset>/gold_set``), rewritten only when an
input changed (the gold and annotations versions, the rule), so its version
says exactly which gold a run was scored on and the fit key sees the change.
Every reader of "the gold labels" goes through :func:`evaluation_gold` or
:func:`evaluation_gold_ref`: one place decides what counts as evaluation gold.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from jobs.core.dataset_sections import GoldSetRule
from jobs.core.datasets import DatasetConfig
from jobs.core.settings import Settings
from jobs.lake.tables import TableRef, commit_metadata, latest_commit, table

log = logging.getLogger(__name__)

EVALUATION, TRAIN = "evaluation", "train"
GOLD_SOURCE = "gold"
"""``_label_source`` of a row that published its gold label."""


@dataclass(frozen=True)
class GoldSet:
    ref: TableRef
    version: int
    evaluation_rows: int
    train_rows: int
    publish: bool = False
    """The rule's ``publish``: train rows publish their gold label."""


def _split(evaluation_percent: int) -> Column:
    """``evaluation`` or ``train`` by a hash of the id (a row keeps its split across runs)."""
    salted = F.xxhash64(F.concat(F.lit("gold_set:"), F.col("id").cast("string")))
    return F.when(F.pmod(salted, F.lit(100)) < evaluation_percent, F.lit(EVALUATION)).otherwise(F.lit(TRAIN))


def adjudicate(annotations: DataFrame, rule: GoldSetRule, classes: tuple[str, ...]) -> DataFrame:
    """``(id, label, label_name, _gold_from, annotators)``: the annotated rows the rule makes gold.

    Experts first: a row one or more experts labeled alike is gold from them
    (``expert:<name>``), whatever the crowd said; experts who disagree leave it
    out. Otherwise the crowd: the most common label, given by at least
    ``min_agreeing`` annotators and by all of them (``unanimous``) or by more
    than half (``agreement:<n>/<annotators>``).
    """
    index = F.create_map(*[x for i, c in enumerate(classes) for x in (F.lit(c), F.lit(i))])
    labeled = annotations.select("id", "annotator", "label").where(F.element_at(index, F.col("label")).isNotNull())
    experts = F.col("annotator").isin(list(rule.experts)) if rule.experts else F.lit(False)
    expert = (
        labeled.where(experts)
        .groupBy("id")
        .agg(
            F.countDistinct("label").alias("_labels"),
            F.min("label").alias("label_name"),
            F.sort_array(F.collect_set("annotator")).alias("_experts"),
        )
        .where("_labels = 1")
        .select("id", "label_name", F.concat(F.lit("expert:"), F.array_join("_experts", "+")).alias("_gold_from"))
    )
    per_label = labeled.groupBy("id", "label").agg(F.count(F.lit(1)).alias("n"))
    ranked = per_label.withColumn("_total", F.sum("n").over(Window.partitionBy("id"))).withColumn(
        "_rank", F.row_number().over(Window.partitionBy("id").orderBy(F.col("n").desc(), F.col("label")))
    )
    agree = F.col("n") == F.col("_total") if rule.unanimous else F.col("n") * 2 > F.col("_total")
    crowd = ranked.where((F.col("_rank") == 1) & (F.col("n") >= rule.min_agreeing) & agree).select(
        "id",
        F.col("label").alias("label_name"),
        F.format_string("agreement:%d/%d", F.col("n"), F.col("_total")).alias("_gold_from"),
    )
    chosen = expert.unionByName(crowd.join(expert.select("id"), "id", "left_anti"))
    who = labeled.groupBy("id").agg(F.sort_array(F.collect_set("annotator")).alias("annotators"))
    return chosen.join(who, "id").select(
        "id",
        (F.element_at(index, F.col("label_name"))).cast("int").alias("label"),
        "label_name",
        "_gold_from",
        "annotators",
    )


def gold_set_rows(
    spark: SparkSession, ds: DatasetConfig, rule: GoldSetRule, gold_ref: TableRef, annotations_ref: TableRef
) -> DataFrame | None:
    """The source's gold (evaluation) plus the adjudicated annotations of rows it lacks, split by
    ``rule.evaluation_percent``; None when there is neither."""
    parts: list[DataFrame] = []
    if gold_ref.exists():
        parts.append(
            gold_ref.read(spark).select(
                "id",
                "label",
                "label_name",
                F.lit("source").alias("_gold_from"),
                F.array().cast("array<string>").alias("annotators"),
                F.lit(EVALUATION).alias("split"),
            )
        )
    if annotations_ref.exists():
        adjudicated = adjudicate(annotations_ref.read(spark), rule, ds.classes)
        if parts:
            adjudicated = adjudicated.join(parts[0].select("id"), "id", "left_anti")
        parts.append(adjudicated.withColumn("split", _split(rule.evaluation_percent)))
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else parts[0].unionByName(parts[1])


def refresh_gold_set(spark: SparkSession, settings: Settings, ds: DatasetConfig, run_id: str) -> GoldSet | None:
    """Rebuild ``<dataset>/gold_set`` when its inputs changed; None when the dataset has no rule.

    Source gold always counts as evaluation gold (it is the dataset's own truth);
    where a row has both, the source's label wins and the row is not adjudicated
    (so its annotations are not withheld: the rule governs the gold it makes).
    """
    rule = ds.gold_set
    if rule is None:
        return None
    from deltalake import DeltaTable

    gold_ref, annotations_ref, ref = (table(settings, ds.name, role) for role in ("gold", "annotations", "gold_set"))
    inputs = {
        "gold_version": DeltaTable(str(gold_ref.path)).version() if gold_ref.exists() else None,
        "annotations_version": DeltaTable(str(annotations_ref.path)).version() if annotations_ref.exists() else None,
        "rule": asdict(rule),
        "classes": list(ds.classes),
    }
    if ref.exists():
        version, meta = latest_commit(spark, ref)
        if meta.get("inputs") == json.loads(json.dumps(inputs)):
            rows = meta.get("rows") or {}
            return GoldSet(ref, version, int(rows.get(EVALUATION, 0)), int(rows.get(TRAIN, 0)), rule.publish)
    gold = gold_set_rows(spark, ds, rule, gold_ref, annotations_ref)
    if gold is None:
        return None
    gold = gold.persist()
    rows = {r["split"]: int(r["n"]) for r in gold.groupBy("split").agg(F.count(F.lit(1)).alias("n")).collect()}
    ref.overwrite(gold, commit_metadata(run_id=run_id, stage="gold_set", dataset=ds.name, inputs=inputs, rows=rows))
    gold.unpersist()
    version, _ = latest_commit(spark, ref)
    result = GoldSet(ref, version, rows.get(EVALUATION, 0), rows.get(TRAIN, 0), rule.publish)
    log.info(
        "gold set %s: v%d, %d evaluation rows, %d train rows (rule %s)",
        ds.name,
        version,
        result.evaluation_rows,
        result.train_rows,
        asdict(rule),
    )
    return result


def evaluation_gold_ref(settings: Settings, ds: DatasetConfig) -> tuple[TableRef, str]:
    """The table holding the evaluation gold and the SQL filter selecting it (for Spark or DuckDB)."""
    if ds.gold_set is not None and table(settings, ds.name, "gold_set").exists():
        return table(settings, ds.name, "gold_set"), f"split = '{EVALUATION}'"
    return table(settings, ds.name, "gold"), "true"


def evaluation_gold(
    spark: SparkSession, settings: Settings, ds: DatasetConfig, version: int | None = None
) -> DataFrame | None:
    """``(id, label)`` of the evaluation gold, or None when the dataset has none."""
    ref, where = evaluation_gold_ref(settings, ds)
    if not ref.exists():
        return None
    reader = spark.read.format("delta")
    if version is not None and ref.role == "gold_set":
        reader = reader.option("versionAsOf", version)
    return reader.load(str(ref.path)).where(where).select("id", "label")


def withheld_ids(spark: SparkSession, gold: GoldSet | None) -> DataFrame | None:
    """Ids whose annotations must not vote in the fit: the adjudicated rows held out for evaluation."""
    if gold is None:
        return None
    return (
        gold.ref.read(spark, gold.version)
        .where((F.col("split") == EVALUATION) & (F.col("_gold_from") != "source"))
        .select("id")
    )


def train_gold(spark: SparkSession, gold: GoldSet | None) -> DataFrame | None:
    """``(id, gold_label)`` of the adjudicated train rows (published as gold with ``publish = true``)."""
    if gold is None:
        return None
    return (
        gold.ref.read(spark, gold.version)
        .where(F.col("split") == TRAIN)
        .select("id", F.col("label").alias("gold_label"))
    )
