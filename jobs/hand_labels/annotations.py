"""Hand labels: annotation files -> the ``annotations`` table (and its quarantine).

Weak supervision spends hand labels where they pay off, and they come from
many people of different skill, so every annotation keeps *who* gave it:
one row per (row id, annotator), with the label, when it was given and where
it came from (file, format, batch). Three inputs:

- ``csv`` / ``jsonl``: columns ``id, annotator, label`` and optionally
  ``annotated_at, batch``;
- ``label_studio``: Label Studio's JSON export (a list of tasks, each with
  its ``data`` and its ``annotations``; a classification is a ``choices``
  result). The row id is read from ``data[id_field]`` (default: the dataset's
  id column), the annotator from ``completed_by`` (a user id, or the user
  object with its e-mail), the time from the annotation's ``updated_at``.

Every input annotation ends in the table or in ``annotations_quarantine``
with a reason (missing id, annotator or label; a label outside the classes;
a row id that is not in the source; a cancelled Label Studio annotation; not
exactly one choice; superseded by a later annotation of the same row by the
same annotator), and the job checks ``input = accepted + quarantined``. The
table is MERGEd on (id, annotator), so re-importing an export is idempotent
and a later re-annotation replaces the earlier one; Delta keeps the history.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructType

from jobs.core.datasets import DatasetConfig
from jobs.core.errors import ConfigError, LabellakeError, StageOrderError
from jobs.core.settings import Settings
from jobs.lake.tables import TableRef, commit_metadata, latest_commit, table

log = logging.getLogger(__name__)

FORMATS = ("csv", "jsonl", "label_studio")
REASON = "_reason"
COLUMNS = ["id", "annotator", "label", "annotated_at", "batch", "source_file", "source_format"]


@dataclass(frozen=True)
class AnnotationIngest:
    input_annotations: int
    accepted: int
    quarantined: dict[str, int] = field(default_factory=dict)
    annotations_version: int | None = None
    ingest_id: str = ""

    @property
    def quarantined_total(self) -> int:
        return sum(self.quarantined.values())


def read_annotation_files(
    spark: SparkSession,
    ds: DatasetConfig,
    paths: list[str],
    fmt: str,
    id_field: str | None = None,
    from_name: str | None = None,
    batch: str | None = None,
) -> DataFrame:
    """The files as ``COLUMNS`` plus ``_raw`` (the input record as JSON) and ``_pre_reason``
    (a reason known from the format alone, e.g. a cancelled annotation), one row per annotation."""
    if fmt not in FORMATS:
        raise ConfigError(f"annotations: format {fmt!r} not one of {FORMATS}")
    missing = [p for p in paths if not Path(p).exists()]
    if missing:
        raise ConfigError(f"annotations for {ds.name}: no such file(s) {missing}")
    if fmt == "label_studio":
        frame = _label_studio(spark, paths, id_field or ds.id_column, from_name)
    else:
        reader = spark.read.option("header", "true") if fmt == "csv" else spark.read
        raw = (reader.csv(paths) if fmt == "csv" else reader.json(paths)).withColumn("source_file", F.input_file_name())
        for name in ("id", "annotator", "label"):
            if name not in raw.columns:
                raise ConfigError(
                    f"annotations for {ds.name}: {fmt} input has no {name!r} column (columns: {sorted(raw.columns)})"
                )
        frame = raw.select(
            F.col("id").cast("string").alias("id"),
            F.col("annotator").cast("string").alias("annotator"),
            F.col("label").cast("string").alias("label"),
            (
                F.to_timestamp(F.col("annotated_at").cast("string"))
                if "annotated_at" in raw.columns
                else F.lit(None).cast("timestamp")
            ).alias("annotated_at"),
            (F.col("batch").cast("string") if "batch" in raw.columns else F.lit(None).cast("string")).alias("batch"),
            "source_file",
            F.lit(fmt).alias("source_format"),
            F.to_json(F.struct(*[F.col(c) for c in raw.columns if c != "source_file"])).alias("_raw"),
            F.lit(None).cast("string").alias("_pre_reason"),
        )
    if batch:
        frame = frame.withColumn("batch", F.coalesce("batch", F.lit(batch)))
    return frame


def _label_studio(spark: SparkSession, paths: list[str], id_field: str, from_name: str | None) -> DataFrame:
    """One row per (task, annotation) of a Label Studio JSON export."""
    tasks = spark.read.option("multiLine", "true").json(paths).withColumn("source_file", F.input_file_name())
    if "annotations" not in tasks.columns:
        raise ConfigError(f"annotations: {paths} is not a Label Studio JSON export (no 'annotations' in the tasks)")
    data_type = tasks.schema["data"].dataType if "data" in tasks.columns else None
    data_fields = data_type.fieldNames() if isinstance(data_type, StructType) else []
    row_id = F.col("data").getField(id_field).cast("string") if id_field in data_fields else F.lit(None).cast("string")
    one = tasks.select(row_id.alias("id"), "source_file", F.explode("annotations").alias("a"))
    annotation = one.schema["a"].dataType
    assert isinstance(annotation, StructType)
    names = annotation.fieldNames()
    by = one.schema["a"].dataType["completed_by"].dataType if "completed_by" in names else StringType()
    if isinstance(by, StructType):
        who = F.coalesce(
            *[F.col("a.completed_by").getField(f).cast("string") for f in ("email", "id") if f in by.fieldNames()]
            or [F.lit(None).cast("string")]
        )
    elif "completed_by" in names:
        who = F.col("a.completed_by").cast("string")
    else:
        who = F.lit(None).cast("string")
    choices = F.filter(
        "a.result",
        lambda r: (r["type"] == "choices") & (F.lit(True) if from_name is None else (r["from_name"] == from_name)),
    )
    picked = F.element_at(choices, 1)["value"]["choices"]
    when = F.coalesce(
        *[F.to_timestamp(F.col(f"a.{c}")) for c in ("updated_at", "created_at") if c in names]
        or [F.lit(None).cast("timestamp")]
    )
    cancelled = F.col("a.was_cancelled") if "was_cancelled" in names else F.lit(False)
    pre_reason = (
        F.when(cancelled, F.lit("cancelled in Label Studio"))
        .when(F.size(choices) < 1, F.lit("no choices result" + (f" named {from_name!r}" if from_name else "")))
        .when(F.size(choices) > 1, F.lit("more than one choices result; set from_name"))
        .when(F.size(picked) != 1, F.lit("not exactly one choice"))
    )
    return one.select(
        "id",
        who.alias("annotator"),
        F.when(F.size(picked) == 1, F.element_at(picked, 1)).alias("label"),
        when.alias("annotated_at"),
        F.lit(None).cast("string").alias("batch"),
        "source_file",
        F.lit("label_studio").alias("source_format"),
        F.to_json(F.struct(F.col("id").alias("row_id"), F.col("a").alias("annotation"))).alias("_raw"),
        pre_reason.alias("_pre_reason"),
    )


def _blank(column: str) -> Column:
    return F.col(column).isNull() | (F.trim(F.col(column)) == "")


def classify_annotations(annotations: DataFrame, source_ids: DataFrame, classes: tuple[str, ...]) -> DataFrame:
    """Add ``_reason`` (null = accepted) and normalise labels to the class names (case-insensitive).

    The checks run in order; the first that fails is the reason. Among the
    annotations that pass, the latest per (id, annotator) wins and the others
    are quarantined as superseded.
    """
    lowered = F.create_map(*[x for c in classes for x in (F.lit(c.lower()), F.lit(c))])
    label = F.element_at(lowered, F.lower(F.trim("label")))
    known = source_ids.select(F.col("id").alias("_known_id"), F.lit(True).alias("_known")).distinct()
    checked = (
        annotations.withColumn("id", F.trim("id"))
        .withColumn("annotator", F.trim("annotator"))
        .withColumn("_label", label)
        .join(known, F.col("id") == F.col("_known_id"), "left")
    )
    reason = (
        F.when(F.col("_pre_reason").isNotNull(), F.col("_pre_reason"))
        .when(_blank("id"), F.lit("missing row id"))
        .when(_blank("annotator"), F.lit("missing annotator"))
        .when(_blank("label"), F.lit("missing label"))
        .when(
            F.col("_label").isNull(),
            F.concat(F.lit("label "), F.col("label"), F.lit(f" is not one of {list(classes)}")),
        )
        .when(F.col("_known").isNull(), F.lit("row id not in the source table"))
    )
    classified = checked.withColumn(REASON, reason).withColumn("label", F.coalesce("_label", "label"))
    latest = Window.partitionBy("id", "annotator").orderBy(
        F.col("annotated_at").desc_nulls_last(), F.col("source_file").desc(), F.col("_raw").desc()
    )
    ranked = classified.withColumn("_rank", F.when(F.col(REASON).isNull(), F.row_number().over(latest)))
    return ranked.withColumn(
        REASON,
        F.when(
            F.col("_rank") > 1, F.lit("superseded by a later annotation of the same row by the same annotator")
        ).otherwise(F.col(REASON)),
    ).drop("_label", "_known", "_known_id", "_rank")


def merge_annotations(spark: SparkSession, ref: TableRef, accepted: DataFrame, meta: str) -> None:
    """MERGE accepted annotations into ``ref`` by (id, annotator): a newer one replaces an older one."""
    from delta.tables import DeltaTable

    if not ref.exists():
        accepted.write.format("delta").option("userMetadata", meta).save(str(ref.path))
        return
    spark.conf.set("spark.databricks.delta.commitInfo.userMetadata", meta)
    try:
        (
            DeltaTable.forPath(spark, str(ref.path))
            .alias("t")
            .merge(accepted.alias("s"), "t.id = s.id AND t.annotator = s.annotator")
            .whenMatchedUpdateAll(
                condition="s.annotated_at IS NULL OR t.annotated_at IS NULL OR s.annotated_at >= t.annotated_at"
            )
            .whenNotMatchedInsertAll()
            .execute()
        )
    finally:
        spark.conf.unset("spark.databricks.delta.commitInfo.userMetadata")


def quarantined_annotations(classified: DataFrame, ingest_id: str, ingested_at: datetime) -> DataFrame:
    """The rejected annotations as quarantine rows, each with its reason and raw record."""
    return classified.where(F.col(REASON).isNotNull()).select(
        "id",
        "annotator",
        "label",
        "source_file",
        "source_format",
        "_raw",
        F.col(REASON).alias("reason"),
        F.lit(ingest_id).alias("_ingest_id"),
        F.lit(ingested_at).cast("timestamp").alias("_ingested_at"),
    )


def append_quarantined(rejected: DataFrame, quarantine: TableRef, meta: str) -> None:
    rejected.write.format("delta").mode("append").option("userMetadata", meta).save(str(quarantine.path))


def run_annotation_ingest(
    spark: SparkSession,
    ds: DatasetConfig,
    settings: Settings,
    paths: list[str],
    fmt: str,
    id_field: str | None = None,
    from_name: str | None = None,
    batch: str | None = None,
    ingested_at: datetime | None = None,
) -> AnnotationIngest:
    """Read annotation files, validate them against the source and the classes, MERGE the
    accepted ones into ``annotations`` and append the rest to ``annotations_quarantine``."""
    source_ref = table(settings, ds.name, "source")
    if not source_ref.exists():
        raise StageOrderError(f"annotations for {ds.name}: no source table yet; run the dataset's ingest first")
    ingest_id = f"annotations-{uuid.uuid4().hex[:12]}"
    ingested_at = ingested_at or datetime.now(UTC)
    source_ids = source_ref.read(spark).select("id")
    classified = classify_annotations(
        read_annotation_files(spark, ds, paths, fmt, id_field, from_name, batch), source_ids, ds.classes
    ).persist()
    try:
        counts = classified.groupBy(REASON).count().collect()
        input_n = sum(int(r["count"]) for r in counts)
        by_reason = {r[REASON]: int(r["count"]) for r in counts if r[REASON] is not None}
        accepted_n = input_n - sum(by_reason.values())
        meta = commit_metadata(stage="annotations", dataset=ds.name, ingest_id=ingest_id, files=paths, format=fmt)
        accepted = classified.where(F.col(REASON).isNull()).select(
            *COLUMNS, F.lit(ingest_id).alias("_ingest_id"), F.lit(ingested_at).cast("timestamp").alias("_ingested_at")
        )
        ref = table(settings, ds.name, "annotations")
        merge_annotations(spark, ref, accepted, meta)
        if by_reason:
            rejected = quarantined_annotations(classified, ingest_id, ingested_at)
            append_quarantined(rejected, table(settings, ds.name, "annotations_quarantine"), meta)
    finally:
        classified.unpersist()
    if input_n != accepted_n + sum(by_reason.values()):
        raise LabellakeError(
            f"annotations for {ds.name}: {input_n} read but {accepted_n} accepted and "
            f"{sum(by_reason.values())} quarantined"
        )
    version, _ = latest_commit(spark, ref)
    log.info(
        "annotations %s: input=%d accepted=%d quarantined=%d %s -> %s@v%d",
        ds.name,
        input_n,
        accepted_n,
        sum(by_reason.values()),
        by_reason,
        ref.name,
        version,
    )
    return AnnotationIngest(input_n, accepted_n, by_reason, version, ingest_id)
