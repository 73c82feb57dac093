"""``labellake bench active-learning``: does the review queue beat random rows as the next hand labels?

On a dataset with gold labels (which stand in for a careful annotator), two
lakehouses start from the same full run with annotators as label-model
sources. Then, round after round, each gets K more hand labels: one from
``labellake review-queue``'s picks, the other from K random unannotated rows.
After each round the dataset is relabeled by the real pipeline (annotations
ingest, then an incremental run: the new annotations change the fit key, so
the label model refits with the annotator as a source) and scored against
gold: on every gold row, and on the rows nobody hand-labeled (what the hand
labels taught the model about the rest).

The drift gates are relaxed for the bench (each round is *meant* to move
labels); everything else is the shipped configuration of the dataset.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
import time
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from jobs.core.datasets import get_dataset, write_datasets_toml
from jobs.core.lineage import RunContext
from jobs.core.settings import Settings, bench_dir
from jobs.hand_labels.annotations import run_annotation_ingest
from jobs.hand_labels.review_queue import run_review_queue
from jobs.lake.tables import table
from jobs.pipeline import run_pipeline
from jobs.reports.charts import lines
from jobs.spark.session import get_spark

RELAXED_DRIFT = {
    "max_kl_divergence": 100.0,
    "max_label_change_share": 1.0,
    "max_lf_coverage_change": 1.0,
    "max_confidence_drop": 1.0,
    "min_gold_accuracy": 0.0,
}
STRATEGIES = ("review queue", "random rows")


def bench_dataset(settings: Settings, name: str) -> dict[str, Any]:
    """The dataset's shipped config, with annotators as sources, Dawid-Skene, relaxed drift gates."""
    with open(settings.config_path, "rb") as handle:
        raw = dict(tomllib.load(handle)["datasets"][name])
    raw.pop("model_selection", None)
    raw.update(label_model="dawid_skene", annotators={"as_sources": True})
    raw["expectations"] = {**raw.get("expectations", {}), **RELAXED_DRIFT}
    if not raw.get("gold_column"):
        raise ValueError(f"bench active-learning: dataset {name!r} has no gold labels to stand in for annotators")
    return raw


def accuracy(spark: SparkSession, settings: Settings, dataset: str) -> tuple[float, float]:
    """Accuracy of the published labels on every gold row, and on the gold rows nobody hand-labeled
    (an unlabeled row, -1, counts as wrong)."""
    labels = spark.read.format("delta").load(str(table(settings, dataset, "labels").path)).select("id", "label")
    gold = (
        spark.read.format("delta")
        .load(str(table(settings, dataset, "gold").path))
        .select("id", F.col("label").alias("gold"))
    )
    scored = gold.join(labels, "id", "left").withColumn("hit", (F.col("label") == F.col("gold")).cast("double"))
    annotations = table(settings, dataset, "annotations")
    if annotations.exists():
        done = annotations.read(spark).select("id").distinct()
        rest = scored.join(done, "id", "left_anti")
    else:
        rest = scored
    return (
        float(scored.agg(F.avg(F.coalesce("hit", F.lit(0.0)))).first()[0]),
        float(rest.agg(F.avg(F.coalesce("hit", F.lit(0.0)))).first()[0]),
    )


def _next_ids(spark: SparkSession, settings: Settings, ds: Any, strategy: str, k: int, seed: int) -> list[str]:
    if strategy == "review queue":
        picked = run_review_queue(spark, ds, settings, k, seed=seed)
        return [r["id"] for r in spark.read.format("delta").load(str(picked["table"])).select("id").collect()]
    source = spark.read.format("delta").load(str(table(settings, ds.name, "source").path)).select("id")
    annotations = table(settings, ds.name, "annotations")
    if annotations.exists():
        source = source.join(annotations.read(spark).select("id"), "id", "left_anti")
    return [r["id"] for r in source.orderBy(F.xxhash64("id", F.lit(seed))).limit(k).collect()]


def _annotate(spark: SparkSession, settings: Settings, ds: Any, ids: list[str], workdir: Path, name: str) -> None:
    """The oracle annotator: the gold label of each picked row, through the real annotations ingest."""
    gold = spark.read.format("delta").load(str(table(settings, ds.name, "gold").path))
    picked = gold.where(F.col("id").isin(ids)).select("id", "label_name").toPandas()
    path = workdir / f"{name}.csv"
    pd.DataFrame({"id": picked["id"], "annotator": "oracle", "label": picked["label_name"]}).to_csv(path, index=False)
    run_annotation_ingest(spark, ds, settings, [str(path)], "csv", batch=name)


def run_active_learning_bench(
    dataset: str, rounds: int, k: int, seed: int = 0, progress: Callable[[str], None] = print
) -> dict[str, Any]:
    base = Settings.from_env()
    spark = get_spark("labellake-bench-active-learning", base)
    workdir = Path(tempfile.mkdtemp(prefix="labellake-bench-al-", dir=bench_dir()))
    config = write_datasets_toml(workdir / "datasets.toml", {dataset: bench_dataset(base, dataset)})
    curves: dict[str, list[tuple[int, float, float]]] = {}
    started = time.perf_counter()
    # Round 0 (no hand labels) is the same for every strategy: run once, each strategy starts from a copy.
    start = dataclasses.replace(base, home=workdir / "round-0", config_path=config)
    run_pipeline(RunContext("round-0", dataset), start, spark)
    start_accuracy = accuracy(spark, start, dataset)
    for strategy in STRATEGIES:
        slug = strategy.replace(" ", "-")
        settings = dataclasses.replace(base, home=workdir / slug, config_path=config)
        shutil.copytree(start.home, settings.home)
        ds = get_dataset(dataset, settings)
        curve = [(0, *start_accuracy)]
        for r in range(1, rounds + 1):
            ids = _next_ids(spark, settings, ds, strategy, k, seed + r)
            _annotate(spark, settings, ds, ids, workdir / slug, f"round{r}")
            run_pipeline(RunContext(f"{slug}-{r}", dataset), settings, spark)
            curve.append((r * k, *accuracy(spark, settings, dataset)))
            progress(
                f"bench active-learning {dataset}: {strategy}, {r * k} hand labels -> accuracy "
                f"{curve[-1][1]:.4f} (rows not hand-labeled {curve[-1][2]:.4f})"
            )
        curves[strategy] = curve
    svg = lines(
        {name: [(x, a) for x, a, _ in points] for name, points in curves.items()},
        f"{dataset}: accuracy on gold vs hand labels (K={k} per round)",
        "hand labels",
        "accuracy",
        wrap=False,
    )
    svg_path = workdir / f"active_learning_{dataset}.svg"
    svg_path.write_text(svg)
    final = {name: points[-1][1] for name, points in curves.items()}
    area = {name: sum(a for _, a, _ in points) / len(points) for name, points in curves.items()}
    return {
        "dataset": dataset,
        "rounds": rounds,
        "k": k,
        "seed": seed,
        "curves": {
            name: [
                {"hand_labels": x, "accuracy": round(a, 4), "accuracy_not_hand_labeled": round(b, 4)}
                for x, a, b in points
            ]
            for name, points in curves.items()
        },
        "final_accuracy": {n: round(v, 4) for n, v in final.items()},
        "mean_accuracy_over_rounds": {n: round(v, 4) for n, v in area.items()},
        "queue_beats_random": area["review queue"] > area["random rows"]
        and final["review queue"] >= final["random rows"],
        "plot": str(svg_path),
        "seconds": round(time.perf_counter() - started, 1),
    }


def format_active_learning(f: dict[str, Any]) -> str:
    lines_out = [
        f"bench active-learning {f['dataset']}: {f['rounds']} rounds of {f['k']} hand labels ({f['seconds']} s)",
        f"{'hand labels':>12}" + "".join(f"{name:>24}" for name in f["curves"]),
    ]
    names = list(f["curves"])
    for i in range(len(f["curves"][names[0]])):
        row = [f["curves"][n][i] for n in names]
        lines_out.append(
            f"{row[0]['hand_labels']:>12}"
            + "".join(f"{p['accuracy']:>12.4f} ({p['accuracy_not_hand_labeled']:.4f})" for p in row)
        )
    lines_out.append(
        f"mean accuracy over rounds: {f['mean_accuracy_over_rounds']}; queue beats random: {f['queue_beats_random']}"
    )
    lines_out.append(f"plot: {f['plot']}")
    return "\n".join(lines_out)
