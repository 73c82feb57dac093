"""The end model on real YouTube labels: trained on probabilistic labels, it labels rows no LF covers."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from deltalake import DeltaTable
from pyspark.sql import functions as F

from jobs.datasets import get_dataset
from jobs.end_model import run_end_model, training_rows
from jobs.lineage import RunContext
from jobs.pipeline import run_pipeline
from jobs.settings import Settings
from jobs.tables import table
from tests.conftest import YOUTUBE, write_config


def test_training_rows_weight_each_class_by_its_probability(spark) -> None:
    labeled = spark.createDataFrame([("free money", 1, [0.1, 0.9]), ("nice song", 0, [0.995, 0.005]),
                                     ("no votes", -1, [0.5, 0.5])], "text string, label int, probs array<double>")
    rows = sorted((r["text"], r["class"], round(r["weight"], 3)) for r in training_rows(labeled, 0.01).collect())
    assert rows == [("free money", 0.0, 0.1), ("free money", 1.0, 0.9), ("nice song", 0.0, 0.995)]


def test_end_model_covers_what_the_lfs_do_not(spark, tmp_path: Path, settings: Settings) -> None:
    config = write_config(tmp_path / "datasets.toml", {"youtube_spam": {**YOUTUBE, "label_model": "dawid_skene"}})
    settings = dataclasses.replace(settings, config_path=config)
    ds = get_dataset("youtube_spam", settings)
    run_pipeline(RunContext("run-1", "youtube_spam"), settings, spark)
    figures = run_end_model(spark, ds, settings)
    out = DeltaTable(str(table(settings, "youtube_spam", "end_model_labels").path)).to_pandas()
    labels = DeltaTable(str(table(settings, "youtube_spam", "labels").path)).to_pandas()
    assert len(out) == len(labels) and out["id"].is_unique
    assert figures["end_model_coverage"] == 1.0 and figures["label_model_coverage"] < 0.95
    assert figures["published_coverage"] == 1.0                        # fill_uncovered: every row labeled
    # Where the LFs said nothing, the end model is far better than a coin flip, and the published
    # mix is more accurate over all gold rows than the label model alone (whose -1s count as wrong).
    assert figures["end_model_accuracy_on_uncovered"] > 0.6
    assert figures["published_accuracy"] > figures["label_model_accuracy"] + 0.03
    covered = out[out["label"] >= 0]
    assert (covered["published_label"] == covered["label"]).all()
    assert out["_end_model"].nunique() == 1 and out["_end_model"].iloc[0].startswith("logreg-tfidf@")
    with pytest.raises(ValueError, match="policy"):
        run_end_model(spark, ds, settings, policy="best")

    # The review queue then asks about rows where the two models disagree, most confident end model first.
    from jobs.review_queue import run_review_queue

    picked = run_review_queue(spark, ds, settings, k=10, mix={"disagreement": 1.0, "uncertain": 0.0})
    queue = DeltaTable(picked["table"]).to_pandas().merge(out, on="id")
    disagreements = int(((out["label"] >= 0) & (out["end_label"] >= 0) & (out["label"] != out["end_label"])).sum())
    assert disagreements > 0 and picked["kinds"]["disagreement"] == min(10, disagreements)
    assert picked["rows"] == 10                                          # a short kind leaves its share to the rest
    chosen = queue[queue["kind"] == "disagreement"]
    assert (chosen["end_label"] != chosen["label_y"]).all()
