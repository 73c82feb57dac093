"""The end model on real YouTube labels: trained on probabilistic labels, it labels rows no LF covers."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from deltalake import DeltaTable

from jobs.core.datasets import get_dataset
from jobs.core.errors import ConfigError
from jobs.core.lineage import RunContext
from jobs.core.settings import Settings
from jobs.lake.runs import run_record
from jobs.lake.tables import table
from jobs.pipeline import run_pipeline
from jobs.stages.fit.end_model import end_model_figures, training_rows
from tests.conftest import YOUTUBE, write_config


def test_training_rows_weight_each_class_by_its_probability(spark) -> None:
    labeled = spark.createDataFrame(
        [("free money", 1, [0.1, 0.9]), ("nice song", 0, [0.995, 0.005]), ("no votes", -1, [0.5, 0.5])],
        "text string, label int, probs array<double>",
    )
    rows = sorted((r["text"], r["class"], round(r["weight"], 3)) for r in training_rows(labeled, 0.01).collect())
    assert rows == [("free money", 0.0, 0.1), ("free money", 1.0, 0.9), ("nice song", 0.0, 0.995)]


@pytest.mark.slow
def test_end_model_labels_what_the_lfs_do_not_and_the_config_picks_the_published_label(
    spark, tmp_path: Path, settings: Settings
) -> None:
    body = {
        **YOUTUBE,
        "label_model": "dawid_skene",
        # Fewer hashed features and iterations than the defaults: the same classifier, a quarter of the fit.
        "end_model": {"publish": "fill_uncovered", "num_features": 1 << 14, "max_iter": 30},
        "expectations": {**YOUTUBE["expectations"], "max_label_change_share": 1.0, "max_kl_divergence": 5.0},
    }
    config = write_config(tmp_path / "datasets.toml", {"youtube_spam": body})
    settings = dataclasses.replace(settings, config_path=config)
    ds = get_dataset("youtube_spam", settings)
    run_pipeline(RunContext("run-1", "youtube_spam"), settings, spark)
    labels = DeltaTable(str(table(settings, "youtube_spam", "labels").path)).to_pandas()
    assert labels["id"].is_unique and labels["end_model_label"].notna().all()
    covered = labels["label_model_label"] >= 0
    assert 0.05 < (~covered).mean() < 0.5
    # fill_uncovered: the label model's label where a source voted, the end model's elsewhere.
    assert (labels.loc[covered, "label"] == labels.loc[covered, "label_model_label"]).all()
    assert (labels.loc[~covered, "label"] == labels.loc[~covered, "end_model_label"]).all()
    assert set(labels.loc[~covered, "_label_source"]) == {"end_model"}
    assert set(labels.loc[covered, "_label_source"]) == {"lfs"}
    assert labels["_end_model"].nunique() == 1 and labels["_end_model"].iloc[0].startswith("logreg-tfidf@")
    assert (labels["label"] >= 0).all()
    assert run_record(spark, settings, "run-1", "youtube_spam")["end_model"] == labels["_end_model"].iloc[0]

    figures = end_model_figures(spark, settings, ds)
    assert figures["end_model_coverage"] == 1.0 and figures["published_coverage"] == 1.0
    assert figures["label_model_coverage"] < 0.95
    # Where the LFs said nothing, the end model is far better than a coin flip, and the published
    # mix is more accurate over all gold rows than the label model alone (whose -1s count as wrong).
    assert figures["end_model_accuracy_on_uncovered"] > 0.6
    assert figures["published_accuracy"] > figures["label_model_accuracy"] + 0.03

    # The review queue asks about rows where the two models disagree, most confident end model first.
    from jobs.hand_labels.review_queue import run_review_queue

    picked = run_review_queue(spark, ds, settings, k=10, mix={"disagreement": 1.0, "uncertain": 0.0})
    queue = DeltaTable(picked["table"]).to_pandas().merge(labels, on="id")
    disagreements = int((covered & (labels["end_model_label"] != labels["label_model_label"])).sum())
    assert disagreements > 0 and picked["kinds"]["disagreement"] == min(10, disagreements)
    chosen = queue[queue["kind"] == "disagreement"]
    assert (chosen["end_model_label"] != chosen["label_model_label"]).all()

    # Publishing the label model's label instead is a config change: the fit key changes, the run
    # refits, and the end model's label stays in the table beside it.
    write_config(config, {"youtube_spam": {**body, "end_model": {**body["end_model"], "publish": "label_model"}}})
    run_pipeline(RunContext("run-2", "youtube_spam"), settings, spark)
    again = DeltaTable(str(table(settings, "youtube_spam", "labels").path)).to_pandas()
    assert (again["_run_id"] == "run-2").all()
    assert (again["label"] == again["label_model_label"]).all() and again["end_model_label"].notna().all()
    assert "end_model" not in set(again["_label_source"])
    assert again["_end_model"].iloc[0] != labels["_end_model"].iloc[0]


def test_end_model_config_is_checked(tmp_path: Path, settings: Settings) -> None:
    for bad, key in (({"publish": "best"}, "publish"), ({"reg": 0.1}, "reg")):
        config = write_config(tmp_path / "datasets.toml", {"youtube_spam": {**YOUTUBE, "end_model": bad}})
        with pytest.raises(ConfigError, match=key):
            get_dataset("youtube_spam", dataclasses.replace(settings, config_path=config))
    off = write_config(tmp_path / "datasets.toml", {"youtube_spam": {**YOUTUBE, "end_model": {"enabled": False}}})
    assert get_dataset("youtube_spam", dataclasses.replace(settings, config_path=off)).end_model is None
