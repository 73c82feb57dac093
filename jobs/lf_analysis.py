"""LF analysis as Spark aggregates over the long votes table (Snorkel ``LFAnalysis`` definitions).

For ``n`` source rows and each LF ``j`` (Snorkel, ``snorkel.labeling.analysis``):

- polarity: the distinct labels ``j`` emitted;
- coverage: share of rows ``j`` labeled;
- overlaps: share of rows ``j`` labeled that at least one other LF labeled too;
- conflicts: share of rows ``j`` labeled whose non-abstain votes disagree;
- correct / incorrect: ``j``'s votes equal / unequal to gold, where gold exists;
- empirical accuracy: correct / (correct + incorrect).

Nothing is collected but one row per LF: per-row vote counts and min/max come
from a ``groupBy(id)``, joined back to the votes and aggregated per LF.
"""

from __future__ import annotations

import logging
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.tables import TableRef, commit_metadata

log = logging.getLogger(__name__)


def lf_summary(votes: DataFrame, n_rows: int, gold: DataFrame | None = None) -> DataFrame:
    """One row per LF with Snorkel's LF-analysis statistics."""
    per_row = votes.groupBy("id").agg(
        F.count(F.lit(1)).alias("_n"), F.min("vote").alias("_vmin"), F.max("vote").alias("_vmax")
    )
    joined = votes.join(per_row, "id")
    if gold is not None:
        joined = joined.join(gold.select("id", F.col("label").alias("_gold")), "id", "left")
    else:
        joined = joined.withColumn("_gold", F.lit(None).cast("int"))
    n = float(max(n_rows, 1))
    summary = joined.groupBy("lf").agg(
        F.first("lf_version").alias("lf_version"),
        F.array_sort(F.collect_set("vote")).alias("polarity"),
        F.count(F.lit(1)).alias("labeled"),
        (F.count(F.lit(1)) / n).alias("coverage"),
        (F.sum(F.when(F.col("_n") > 1, 1).otherwise(0)) / n).alias("overlaps"),
        (F.sum(F.when(F.col("_vmin") != F.col("_vmax"), 1).otherwise(0)) / n).alias("conflicts"),
        F.sum(F.when(F.col("vote") == F.col("_gold"), 1).otherwise(0)).cast("long").alias("correct"),
        F.sum(F.when(F.col("_gold").isNotNull() & (F.col("vote") != F.col("_gold")), 1).otherwise(0))
        .cast("long").alias("incorrect"),
    )
    return summary.withColumn(
        "empirical_accuracy",
        F.when((F.col("correct") + F.col("incorrect")) > 0,
               F.col("correct") / (F.col("correct") + F.col("incorrect"))),
    )


def write_lf_analysis(spark: SparkSession, votes: DataFrame, n_rows: int, gold: DataFrame | None,
                      lfs: list[tuple[str, str, str]], errors: dict[str, dict[str, Any]],
                      ref: TableRef, run_id: str) -> list[dict[str, Any]]:
    """Compute the per-LF statistics for a run and store them (replacing that run's rows).

    ``lfs`` lists every LF of the pack as (name, version, kind) so an LF that
    never voted still gets a row (coverage 0), which is exactly the LF a
    person needs to notice.
    """
    stats = {r["lf"]: r.asDict() for r in lf_summary(votes, n_rows, gold).collect()}
    rows = []
    for name, version, kind in lfs:
        s = stats.get(name, {})
        e = errors.get(name, {})
        rows.append((
            run_id, name, version, kind, list(s.get("polarity") or []), int(s.get("labeled") or 0),
            float(s.get("coverage") or 0.0), float(s.get("overlaps") or 0.0), float(s.get("conflicts") or 0.0),
            int(s.get("correct") or 0), int(s.get("incorrect") or 0), s.get("empirical_accuracy"),
            int(e.get("errors", 0)), list(e.get("sample_ids", [])), e.get("first_error"),
        ))
    schema = (
        "_run_id string, lf string, lf_version string, kind string, polarity array<int>, labeled long, "
        "coverage double, overlaps double, conflicts double, correct long, incorrect long, "
        "empirical_accuracy double, errors long, error_sample_ids array<string>, first_error string"
    )
    frame = spark.createDataFrame(rows, schema)
    (frame.write.format("delta").mode("overwrite").option("replaceWhere", f"_run_id = '{run_id}'")
     .option("userMetadata", commit_metadata(run_id=run_id, stage="lf_analysis")).save(str(ref.path)))
    return [dict(zip(frame.columns, r)) for r in rows]
