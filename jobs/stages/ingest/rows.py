"""Accepted and rejected rows shaped for their tables: source (no gold), gold, quarantine."""

from __future__ import annotations

import re
from datetime import datetime

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from jobs.core.datasets import ROW_ID, DatasetConfig
from jobs.core.lineage import RunContext
from jobs.stages.ingest.read import CORRUPT, INTERNAL_COLUMNS, REASON
from jobs.stages.ingest.utf8_check import INVALID_UTF8, quoted_column


def sanitize(name: str) -> str:
    """A Delta-safe lowercase column name: ``CONTENT`` -> ``content``, ``Video Id`` -> ``video_id``."""
    cleaned = re.sub(r"[^0-9a-zA-Z_]+", "_", name.strip()).strip("_").lower()
    return cleaned or "col"


def source_rows(accepted: DataFrame, ds: DatasetConfig, run: RunContext, ingested_at: datetime) -> DataFrame:
    """Accepted rows shaped for the source table: ``id``, ``text``, other columns, lineage.

    The gold column is left out on purpose: LFs read this table.
    """
    skip = {ds.id_column, ds.text_column, ds.gold_column, *INTERNAL_COLUMNS}
    skip.add(ROW_ID)
    others = [(sanitize(c), quoted_column(c)) for c in accepted.columns if c not in skip]
    text = quoted_column(ds.text_column)
    return accepted.select(
        quoted_column(ds.id_column).alias("id"),
        text.alias("text"),
        *[column.alias(name) for name, column in others],
        F.col("_source_file"),
        content_hash([("text", text), *others]).alias("_content_hash"),
        F.lit(run.run_id).alias("_run_id"),
        F.lit(ingested_at).cast("timestamp").alias("_ingested_at"),
    )


SOURCE_STATS_COLUMNS = ("id", "_source_file", "_run_id")
"""The source table's ``delta.dataSkippingStatsColumns``: lineage columns every source version
has, for lookups by id, file and run. Statistics on the text cost about a third of the source
write and no query skips files by it; a data column is left out because Delta refuses a later
overwrite whose schema lacks a listed column; ``_ingested_at`` (one value per version) is left
out because Spark's Parquet files keep no statistics of a timestamp (docs/decisions/0018)."""


def content_hash(columns: list[tuple[str, Column]]) -> Column:
    """A 64-bit hash (xxhash64) of everything an LF can read on a row: each column's name, whether
    it is null, and its value, chained in column order.

    Incremental reruns re-apply every LF to a row whose hash changed, so a column an LF
    thresholds on (a length, a score) must be part of it; the names and null flags keep a
    renamed column, and a null from an empty string, apart. A row's hash is only compared
    with the same id's hash in the previous source version, so a change goes unseen with
    probability 2^-64 (docs/decisions/0014).
    """
    parts: list[Column] = []
    for name, column in columns:
        parts += [F.lit(name), column.isNull(), column]
    return F.xxhash64(*parts)


def gold_rows(accepted: DataFrame, ds: DatasetConfig, run: RunContext) -> DataFrame:
    """``id, label, label_name, raw_value`` for accepted rows whose gold value is known."""
    mapping = F.create_map(*[F.lit(x) for pair in ds.gold_values.items() for x in pair])
    classes = F.array(*[F.lit(c) for c in ds.classes])
    assert ds.gold_column is not None, "gold_rows needs a dataset with a gold column"
    raw_value = F.trim(quoted_column(ds.gold_column))
    name = mapping[raw_value]
    return accepted.where(name.isNotNull()).select(
        quoted_column(ds.id_column).alias("id"),
        (F.array_position(classes, name) - 1).cast("int").alias("label"),
        name.alias("label_name"),
        raw_value.alias("raw_value"),
        F.lit(run.run_id).alias("_run_id"),
    )


def quarantine_rows(rejected: DataFrame, run: RunContext, ingested_at: datetime) -> DataFrame:
    keep = [quoted_column(c).alias(sanitize(c)) for c in rejected.columns if c not in INTERNAL_COLUMNS]
    raw_bytes = F.concat(F.lit("raw bytes (base64): "), F.col(INVALID_UTF8))
    return rejected.select(
        *keep,
        F.coalesce(F.col(CORRUPT), raw_bytes).alias("_corrupt_record"),
        F.col(REASON).alias("_reason"),
        F.col("_source_file"),
        F.lit(run.run_id).alias("_run_id"),
        F.lit(ingested_at).cast("timestamp").alias("_ingested_at"),
    )
