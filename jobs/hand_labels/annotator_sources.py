"""Annotators as label-model sources: hand labels vote next to the LFs, and their accuracy is learned.

With ``[datasets.NAME.annotators] as_sources = true`` the fit stage adds one
source per annotator (or per group, ``groups = {alice = "experts"}``) to the
LF votes: its vote on a row is the class it gave. The label model then learns
each annotator's accuracy from agreements and conflicts exactly as it does an
LF's, so a careless annotator is outweighed and a careful one trusted, with
no adjudication step. Sources are named ``annotator:<name>``; their
"version" is the annotations table version, so ``_lf_versions`` on a label
names the annotators whose labels it used, and ``_label_source`` says whether
it came from LFs alone, annotators alone, or both.

A group whose members disagree on a row votes its most common label there
(ties: the latest annotation). Rows of the gold set held out for evaluation
(:func:`jobs.hand_labels.gold_set.withheld_ids`) get no annotator votes: their hand labels
score the model and must not also have trained it.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from jobs.core.datasets import DatasetConfig
from jobs.core.settings import Settings
from jobs.lake.tables import table

PREFIX = "annotator:"


@dataclass(frozen=True)
class AnnotatorVotes:
    votes: DataFrame  # (id, lf, vote), like the votes table
    sources: list[str]
    version: int


def source_name(annotator: Column, groups: dict[str, str]) -> Column:
    grouped = (
        F.element_at(F.create_map(*[x for k, v in groups.items() for x in (F.lit(k), F.lit(v))]), annotator)
        if groups
        else F.lit(None).cast("string")
    )
    return F.concat(F.lit(PREFIX), F.coalesce(grouped, annotator))


def annotator_votes(
    spark: SparkSession, settings: Settings, ds: DatasetConfig, withheld: DataFrame | None = None
) -> AnnotatorVotes | None:
    """The annotations as votes, or None when the dataset does not use annotators as sources
    (or has no annotations yet). ``withheld``: ids (column ``id``) whose annotations stay out."""
    if not ds.annotator_sources:
        return None
    from deltalake import DeltaTable

    ref = table(settings, ds.name, "annotations")
    if not ref.exists():
        return None
    version = DeltaTable(str(ref.path)).version()
    index = F.create_map(*[x for i, c in enumerate(ds.classes) for x in (F.lit(c), F.lit(i))])
    labeled = (
        ref.read(spark, version)
        .select(
            "id",
            source_name(F.col("annotator"), ds.annotator_groups).alias("lf"),
            F.element_at(index, F.col("label")).alias("vote"),
            "annotated_at",
        )
        .where(F.col("vote").isNotNull())
    )
    if withheld is not None:
        labeled = labeled.join(withheld, "id", "left_anti")
    per_label = labeled.groupBy("id", "lf", "vote").agg(
        F.count(F.lit(1)).alias("n"), F.max("annotated_at").alias("latest")
    )
    best = Window.partitionBy("id", "lf").orderBy(F.col("n").desc(), F.col("latest").desc_nulls_last(), F.col("vote"))
    votes = (
        per_label.withColumn("_rank", F.row_number().over(best))
        .where("_rank = 1")
        .select("id", "lf", F.col("vote").cast("int").alias("vote"))
    )
    sources = sorted(r["lf"] for r in labeled.select("lf").distinct().collect())
    return AnnotatorVotes(votes, sources, version)


def label_source(with_annotators: bool) -> Column:
    """``_label_source`` from a row's ``_lf_versions`` (the JSON of the sources that voted):
    ``lfs``, ``annotators``, ``lfs+annotators`` or ``none``."""
    if not with_annotators:
        return F.when(F.col("_lf_versions") == "{}", F.lit("none")).otherwise(F.lit("lfs"))
    annotators = F.col("_lf_versions").contains('"' + PREFIX)
    lfs = F.col("_lf_versions").rlike('(\\{|, )"(?!' + PREFIX + ")")
    return (
        F.when(annotators & lfs, F.lit("lfs+annotators"))
        .when(annotators, F.lit("annotators"))
        .when(lfs, F.lit("lfs"))
        .otherwise(F.lit("none"))
    )
