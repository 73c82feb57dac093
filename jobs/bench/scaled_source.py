"""An N-row source built from real text, for benchmarks.

The dataset's real texts are read once, then ``spark.range(N)`` picks text
``i mod n_texts`` for row ``i`` (a broadcast join on the small text table), so
N can be 10M without the texts ever being replicated on the driver. The rows
get unique ids and are written once to Parquet, so every method timed
afterwards reads identical input and the generation cost is not counted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from jobs.core.datasets import DatasetConfig
from jobs.core.settings import Settings
from jobs.stages.ingest.classify import classify
from jobs.stages.ingest.read import read_raw


def build_scaled_source(
    spark: SparkSession, ds: DatasetConfig, settings: Settings, rows: int, out: Path, partitions: int = 8
) -> DataFrame:
    texts = (
        classify(read_raw(spark, ds, settings), ds)
        .where(F.col("_reason").isNull())
        .select(F.col(ds.text_column).alias("text"))
        .distinct()
    )
    texts = texts.withColumn("_k", F.row_number().over(Window.orderBy("text")) - 1).cache()
    n_texts = texts.count()
    scaled = (
        spark.range(0, rows, numPartitions=partitions)
        .withColumn("_k", (F.col("id") % n_texts).cast("int"))
        .join(F.broadcast(texts), "_k")
        .select(F.format_string("r%010d", F.col("id")).alias("id"), "text")
    )
    scaled.write.mode("overwrite").parquet(str(out))
    texts.unpersist()
    return spark.read.parquet(str(out))


def scaled_dataset(ds: DatasetConfig, source_glob: str, **expectations: float) -> dict[str, Any]:
    """A bench dataset over scaled JSON files (``id``, ``text``): ``ds``'s classes, label model,
    coverage and class-share thresholds, plus ``expectations`` (e.g. opened drift limits)."""
    return {
        "source_path": source_glob,
        "format": "json",
        "id_column": "id",
        "text_column": "text",
        "classes": list(ds.classes),
        "label_model": ds.label_model,
        "expectations": {
            "min_coverage": ds.expectations.min_coverage,
            "class_share": {k: list(v) for k, v in ds.expectations.class_share.items()},
            **expectations,
        },
    }
