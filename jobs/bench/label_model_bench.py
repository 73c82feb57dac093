"""``labellake bench label-model``: fit and predict a label model at N rows x M LFs.

Votes are drawn in Spark from a known generative model (each LF fires with its
coverage, is right with its accuracy, otherwise votes a wrong class at random),
written once to Parquet in the long ``(id, lf, vote)`` layout of the votes
table, then the stage's own code is timed step by step:

1. patterns: ``jobs.patterns.vote_patterns.row_patterns`` (one ``groupBy(id)``, votes
   packed into long codes) and the pattern counts, collected to the driver
   (one row per distinct pattern);
2. fit: the model on ``(patterns, counts)`` on the driver;
3. predict: as the stage does it (``fit_label_model.predicted_rows``): per
   pattern on the driver and broadcast-joined back to every row, or, above
   ``predict_on_executors.threshold()`` patterns, per row on the executors from
   the model's linear scores (Spark ``noop`` sink either way).

Peak RSS of the driver's Python process is sampled separately from the JVM's,
so "driver memory independent of N" can be read off directly; the recovered
accuracies are compared with the true ones.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import psutil
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.bench.lfs_bench import PeakMemory
from jobs.core.settings import Settings, bench_dir
from jobs.label_models import make_label_model
from jobs.patterns.vote_patterns import row_patterns
from jobs.spark.session import get_spark
from jobs.stages.fit import predict_on_executors
from jobs.stages.fit.on_executors import fit_dawid_skene_on_executors, sparse_vote_patterns
from jobs.stages.fit.predictions import pattern_labels, predicted_rows


def synthetic_votes(
    spark: SparkSession, rows: int, lfs: int, classes: int, path: Path, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Write long votes for ``rows`` rows to ``path``; return the true accuracies and coverages."""
    rng = np.random.default_rng(seed)
    accuracy = rng.uniform(0.55, 0.95, lfs)
    # About 4.5 votes per row whatever the number of LFs (many LFs = each one rarer).
    coverage = rng.uniform(0.05, 0.4, lfs) * min(1.0, 20 / lfs)
    base = spark.range(rows).select(
        F.col("id").cast("string").alias("id"), F.floor(F.rand(seed) * classes).cast("int").alias("y")
    )
    if lfs > 50:
        _sparse_votes(base, accuracy, coverage, classes, seed).write.mode("overwrite").parquet(str(path / "votes"))
        spark.range(rows).select(F.col("id").cast("string").alias("id")).write.mode("overwrite").parquet(
            str(path / "ids")
        )
        return accuracy, coverage
    entries = []
    for j in range(lfs):
        fires = F.rand(seed + 3 * j + 1) < float(coverage[j])
        right = F.rand(seed + 3 * j + 2) < float(accuracy[j])
        wrong = (F.col("y") + 1 + F.floor(F.rand(seed + 3 * j + 3) * (classes - 1)).cast("int")) % classes
        vote = F.when(~fires, F.lit(-1)).when(right, F.col("y")).otherwise(wrong)
        entries.append(F.struct(F.lit(f"lf_{j:04d}").alias("lf"), vote.cast("int").alias("vote")))
    (
        base.select("id", F.explode(F.array(*entries)).alias("v"))
        .where("v.vote >= 0")
        .select("id", "v.lf", "v.vote")
        .write.mode("overwrite")
        .parquet(str(path / "votes"))
    )
    spark.range(rows).select(F.col("id").cast("string").alias("id")).write.mode("overwrite").parquet(str(path / "ids"))
    return accuracy, coverage


def _sparse_votes(base, accuracy: np.ndarray, coverage: np.ndarray, classes: int, seed: int):
    """Many LFs: draw each row's voting LFs directly (a random count, each LF equally likely)
    instead of one column per LF, then the same right/wrong rule; accuracies joined by LF."""
    spark = base.sparkSession
    lfs = len(accuracy)
    table = spark.createDataFrame([(j, float(accuracy[j])) for j in range(lfs)], "j int, acc double")
    per_row = float(coverage.sum())
    draws = base.select(
        "id", "y", F.explode(F.sequence(F.lit(1), (F.rand(seed + 1) * 2 * per_row + 1).cast("int"))).alias("slot")
    )
    chosen = draws.withColumn("j", F.floor(F.rand(seed + 2) * lfs).cast("int")).join(F.broadcast(table), "j")
    wrong = (F.col("y") + 1 + F.floor(F.rand(seed + 3) * (classes - 1)).cast("int")) % classes
    vote = F.when(F.rand(seed + 4) < F.col("acc"), F.col("y")).otherwise(wrong)
    return chosen.select(
        "id", F.format_string("lf_%04d", F.col("j")).alias("lf"), vote.cast("int").alias("vote")
    ).dropDuplicates(["id", "lf"])


def run_label_model_bench(
    rows: int,
    lfs: int = 20,
    classes: int = 2,
    model_name: str = "dawid_skene",
    settings: Settings | None = None,
    fit_on: str = "driver",
) -> dict[str, Any]:
    settings = settings or Settings.from_env()
    spark = get_spark("labellake-bench-label-model", settings)
    workdir = Path(tempfile.mkdtemp(prefix="labellake-bench-lm-", dir=bench_dir()))
    started = time.perf_counter()
    accuracy, _ = synthetic_votes(spark, rows, lfs, classes, workdir)
    generate_s = time.perf_counter() - started
    ids = spark.read.parquet(str(workdir / "ids"))
    votes = spark.read.parquet(str(workdir / "votes"))
    lf_names = [f"lf_{j:04d}" for j in range(lfs)]
    me = psutil.Process()
    python_before = me.memory_info().rss
    if fit_on == "executors":
        return _fit_on_executors_figures(
            spark, ids, votes, lf_names, rows, classes, accuracy, me, python_before, generate_s
        )
    return _fit_on_driver_figures(
        spark, ids, votes, lf_names, rows, classes, model_name, accuracy, me, python_before, generate_s
    )


def _fit_on_driver_figures(
    spark: SparkSession,
    ids: DataFrame,
    votes: DataFrame,
    lf_names: list[str],
    rows: int,
    classes: int,
    model_name: str,
    accuracy: np.ndarray,
    me: psutil.Process,
    python_before: int,
    generate_s: float,
) -> dict[str, Any]:
    """The fit stage's driver path, step by step: patterns, fit, per-pattern prediction joined back."""
    lfs = len(lf_names)
    with PeakMemory() as memory:
        t0 = time.perf_counter()
        patterned = row_patterns(ids, votes, lf_names, classes)  # as the stage does: patterns once, used twice
        rows_df = patterned.rows.persist()
        counted = patterned.collect_counts(patterned.distinct_counts())
        counts = counted["count"].to_numpy(dtype=np.int64)
        L = patterned.matrix(counted, lf_names)
        t1 = time.perf_counter()
        model = make_label_model(model_name, classes).fit(L, counts)
        t2 = time.perf_counter()
        labels, probs = pattern_labels(model, L, "abstain")
        predicted_rows(
            spark,
            rows_df,
            patterned,
            counted,
            model,
            L,
            lf_names,
            labels,
            probs,
            "abstain",
            {name: "synthetic" for name in lf_names},
        ).write.format("noop").mode("overwrite").save()
        t3 = time.perf_counter()
        rows_df.unpersist()
    python_peak = me.memory_info().rss  # after the fact; the sampler covers Python + JVM together
    learned = model.lf_accuracies()
    return {
        "rows": rows,
        "lfs": lfs,
        "classes": classes,
        "model": model_name,
        "cores": os.cpu_count(),
        "votes_generated_seconds": round(generate_s, 2),
        "patterns": len(counted),
        "patterns_seconds": round(t1 - t0, 2),
        "fit_seconds": round(t2 - t1, 3),
        "predict_join_seconds": round(t3 - t2, 2),
        "predicted_on": "executors"
        if predict_on_executors.usable(model, patterned.codec, len(counted))
        else "driver + broadcast join",
        "total_seconds": round(t3 - t0, 2),
        "rows_per_s": round(rows / (t3 - t0)),
        "driver_python_rss_mb": round(python_peak / 2**20),
        "driver_python_growth_mb": round((python_peak - python_before) / 2**20),
        "peak_rss_python_plus_jvm_mb": round(memory.peak / 2**20),
        "max_accuracy_error": None if learned is None else round(float(np.abs(learned - accuracy).max()), 4),
    }


def _fit_on_executors_figures(
    spark: SparkSession,
    ids: Any,
    votes: Any,
    lf_names: list[str],
    rows: int,
    classes: int,
    accuracy: np.ndarray,
    me: psutil.Process,
    python_before: int,
    generate_s: float,
) -> dict[str, Any]:
    """Patterns built and Dawid-Skene fitted in Spark (``jobs.stages.fit.on_executors``): nothing
    per pattern reaches the driver. Prediction is not timed in this mode."""
    with PeakMemory() as memory:
        t0 = time.perf_counter()
        patterns = sparse_vote_patterns(spark, ids, votes, lf_names, classes).persist()
        n_patterns = patterns.count()
        t1 = time.perf_counter()
        model = fit_dawid_skene_on_executors(patterns, len(lf_names), classes)
        t2 = time.perf_counter()
        patterns.unpersist()
    python_peak = me.memory_info().rss
    learned = model.lf_accuracies()
    return {
        "rows": rows,
        "lfs": len(lf_names),
        "classes": classes,
        "model": "dawid_skene",
        "fit_on": "executors",
        "cores": os.cpu_count(),
        "votes_generated_seconds": round(generate_s, 2),
        "patterns": n_patterns,
        "patterns_seconds": round(t1 - t0, 2),
        "fit_seconds": round(t2 - t1, 3),
        "iterations": model.iterations,
        "total_seconds": round(t2 - t0, 2),
        "rows_per_s": round(rows / (t2 - t0)),
        "driver_python_rss_mb": round(python_peak / 2**20),
        "driver_python_growth_mb": round((python_peak - python_before) / 2**20),
        "peak_rss_python_plus_jvm_mb": round(memory.peak / 2**20),
        "max_accuracy_error": None if learned is None else round(float(np.abs(learned - accuracy).max()), 4),
    }


def format_label_model_figures(f: dict[str, Any]) -> str:
    if f.get("fit_on") == "executors":
        return "\n".join(
            [
                f"bench label-model: dawid_skene fitted on the executors, {f['rows']:,} rows x {f['lfs']} LFs x "
                f"{f['classes']} classes ({f['cores']} cores); {f['patterns']:,} distinct patterns",
                f"  patterns (groupBy, kept in Spark) {f['patterns_seconds']:>8.2f} s",
                f"  fit ({f['iterations']} EM passes)          {f['fit_seconds']:>8.2f} s",
                f"  total                             {f['total_seconds']:>8.2f} s ({f['rows_per_s']:,} rows/s)",
                f"  driver Python RSS {f['driver_python_rss_mb']} MB (+{f['driver_python_growth_mb']} MB); "
                f"peak Python + JVM {f['peak_rss_python_plus_jvm_mb']} MB",
                f"  largest error of a learned LF accuracy vs the truth: {f['max_accuracy_error']}",
            ]
        )
    lines = [
        f"bench label-model: {f['model']}, {f['rows']:,} rows x {f['lfs']} LFs x {f['classes']} classes "
        f"({f['cores']} cores); {f['patterns']:,} distinct patterns",
        f"  patterns (groupBy + collect) {f['patterns_seconds']:>8.2f} s",
        f"  fit on pattern counts        {f['fit_seconds']:>8.3f} s",
        f"  predict ({f['predicted_on']}) {f['predict_join_seconds']:>8.2f} s",
        f"  total                        {f['total_seconds']:>8.2f} s ({f['rows_per_s']:,} rows/s)",
        f"  driver Python RSS {f['driver_python_rss_mb']} MB (+{f['driver_python_growth_mb']} MB); "
        f"peak Python + JVM {f['peak_rss_python_plus_jvm_mb']} MB",
    ]
    if f["max_accuracy_error"] is not None:
        lines.append(f"  largest error of a learned LF accuracy vs the truth: {f['max_accuracy_error']}")
    return "\n".join(lines)
