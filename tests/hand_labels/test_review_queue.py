"""The review queue on real YouTube labels: the right kinds of rows, no repeats, a Label Studio round trip."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pandas as pd
from deltalake import DeltaTable

from jobs.core.datasets import get_dataset
from jobs.core.lineage import RunContext
from jobs.core.settings import Settings
from jobs.hand_labels.annotations import run_annotation_ingest
from jobs.hand_labels.review_queue import run_review_queue
from jobs.lake.tables import table
from jobs.pipeline import run_pipeline
from tests.conftest import DAWID_SKENE_RUN, YOUTUBE, shares_first_run, write_config


@shares_first_run("dawid_skene")
def test_queue_picks_uncertain_conflicting_and_uncovered_rows_once(spark, tmp_path: Path, lake_after_run) -> None:
    settings, _ = lake_after_run(*DAWID_SKENE_RUN)
    ds = get_dataset("youtube_spam", settings)
    labels = DeltaTable(str(table(settings, "youtube_spam", "labels").path)).to_pandas().set_index("id")
    votes = DeltaTable(str(table(settings, "youtube_spam", "votes").path)).to_pandas()
    distinct = votes.groupby("id")["vote"].nunique()

    first = run_review_queue(spark, ds, settings, k=60, mix={"uncertain": 0.5, "conflict": 0.3, "uncovered": 0.2})
    queue = DeltaTable(first["table"]).to_pandas()
    assert len(queue) == 60 and queue["id"].is_unique
    assert first["kinds"] == {"uncertain": 30, "conflict": 18, "uncovered": 12}
    conflict = queue[queue["kind"] == "conflict"]["id"]
    assert (distinct.reindex(conflict) > 1).all()  # LFs really disagree there
    uncovered = queue[queue["kind"] == "uncovered"]["id"]
    assert not set(uncovered) & set(votes["id"])  # no LF voted on them
    uncertain = queue[queue["kind"] == "uncertain"]
    assert set(labels.loc[uncertain["id"], "label"]) == {0, 1}  # stratified: both classes
    covered = labels.loc[labels.index.isin(votes["id"])]
    entropy_cut = uncertain["entropy"].min()
    assert entropy_cut > 0.5 and covered["confidence"].min() < 0.8  # the least certain rows, not random ones

    # The Label Studio file comes back (a reviewer labels every task) through annotations ingest ...
    gold = DeltaTable(str(table(settings, "youtube_spam", "gold").path)).to_pandas().set_index("id")
    tasks = json.loads(Path(first["label_studio"]).read_text())
    assert len(tasks) == 60 and all(t["data"]["COMMENT_ID"] in set(queue["id"]) for t in tasks)
    for n, task in enumerate(tasks):
        task["id"] = n + 1
        task["annotations"] = [
            {
                "completed_by": 3,
                "updated_at": "2026-11-29T08:00:00Z",
                "was_cancelled": False,
                "result": [
                    {
                        "type": "choices",
                        "from_name": "label",
                        "to_name": "text",
                        "value": {"choices": [gold.loc[task["data"]["COMMENT_ID"], "label_name"]]},
                    }
                ],
            }
        ]
    export = tmp_path / "reviewed.json"
    export.write_text(json.dumps(tasks))
    assert run_annotation_ingest(spark, ds, settings, [str(export)], "label_studio").accepted == 60
    assert pd.read_csv(first["csv"])["id"].astype(str).tolist() == queue.sort_values(["kind", "rank"])["id"].tolist()

    # ... and the next queue never asks for those rows again.
    second = run_review_queue(spark, ds, settings, k=60)
    again = DeltaTable(second["table"]).to_pandas()
    assert not set(again["id"]) & set(queue["id"]) and len(again) == 60


def test_each_run_writes_the_configured_queue(spark, tmp_path: Path, settings: Settings) -> None:
    from jobs.lake.runs import run_record

    config = write_config(
        tmp_path / "datasets.toml",
        {
            "youtube_spam": {
                **YOUTUBE,
                "label_model": "dawid_skene",
                "review_queue": {"k": 20, "mix": {"uncertain": 0.5, "uncovered": 0.5}},
            }
        },
    )
    settings = dataclasses.replace(settings, config_path=config)
    assert get_dataset("youtube_spam", settings).review_queue.k == 20
    run_pipeline(RunContext("run-1", "youtube_spam"), settings, spark)
    queue = json.loads(run_record(spark, settings, "run-1", "youtube_spam")["review_queue"])
    assert queue["rows"] == 20 and queue["kinds"] == {"uncertain": 10, "uncovered": 10}
    rows = pd.read_csv(queue["csv"])
    assert len(rows) == 20 and Path(queue["label_studio"]).exists()
    assert DeltaTable(str(table(settings, "youtube_spam", "review_queue").path)).version() == 0
    # A quiet night publishes nothing, so it asks nothing new.
    run_pipeline(RunContext("run-2", "youtube_spam"), settings, spark)
    assert run_record(spark, settings, "run-2", "youtube_spam")["review_queue"] is None
    assert DeltaTable(str(table(settings, "youtube_spam", "review_queue").path)).version() == 0
