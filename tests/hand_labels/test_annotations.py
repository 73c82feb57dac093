"""Hand labels on real YouTube comments: CSV and Label Studio imports, quarantine, agreement figures.

The annotators are simulated from the collection's gold labels (which is what
hand labels of a known quality look like): alice copies gold, bob flips every
10th of his rows, carol (through a Label Studio export) every 5th.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from deltalake import DeltaTable

from jobs.core.datasets import get_dataset
from jobs.core.lineage import RunContext, utc_now
from jobs.core.settings import Settings
from jobs.hand_labels.agreement import agreement, cohen_kappa, fleiss_kappa, krippendorff_alpha
from jobs.hand_labels.annotations import run_annotation_ingest
from jobs.lake.tables import table
from jobs.stages.ingest.stage import run_ingest
from tests.conftest import YOUTUBE, write_config

CLASSES = ["HAM", "SPAM"]


def _flip(label: str) -> str:
    return "SPAM" if label == "HAM" else "HAM"


def _label_studio_export(rows: list[tuple[str, str, str]]) -> list[dict]:
    """Tasks as Label Studio exports them: ``data`` holds the row id, each annotation a ``choices`` result."""
    tasks = []
    for n, (row_id, user, label) in enumerate(rows):
        tasks.append(
            {
                "id": n + 1,
                "data": {"text": "...", "COMMENT_ID": row_id},
                "project": 3,
                "annotations": [
                    {
                        "id": 1000 + n,
                        "completed_by": {"id": 7, "email": user},
                        "was_cancelled": False,
                        "created_at": "2026-11-20T10:00:00.000000Z",
                        "updated_at": "2026-11-20T10:00:00.000000Z",
                        "result": [
                            {
                                "from_name": "sentiment",
                                "to_name": "text",
                                "type": "choices",
                                "value": {"choices": [label]},
                            }
                        ],
                    }
                ],
            }
        )
    return tasks


def _youtube(spark, tmp_path: Path, settings: Settings):
    config = write_config(tmp_path / "datasets.toml", {"youtube_spam": YOUTUBE})
    settings = dataclasses.replace(settings, config_path=config)
    ds = get_dataset("youtube_spam", settings)
    run_ingest(spark, ds, settings, RunContext("r1", "youtube_spam"), utc_now())
    gold = DeltaTable(str(table(settings, "youtube_spam", "gold").path)).to_pandas().sort_values("id")
    return settings, ds, gold


@pytest.mark.slow
def test_csv_and_label_studio_annotations_land_with_reasons_for_the_bad_ones(
    spark, tmp_path: Path, settings: Settings
) -> None:
    settings, ds, gold = _youtube(spark, tmp_path, settings)
    truth = dict(zip(gold["id"], gold["label_name"], strict=True))
    ids = list(gold["id"])[:300]
    alice = [(i, "alice", truth[i].lower() if n == 3 else truth[i]) for n, i in enumerate(ids)]
    bob = [(i, "bob", _flip(truth[i]) if n % 10 == 0 else truth[i]) for n, i in enumerate(ids[:200])]
    bad = [("no-such-comment", "alice", "SPAM"), (ids[0], "", "SPAM"), (ids[1], "bob", "MAYBE")]
    csv = tmp_path / "round1.csv"
    rows = [(i, a, lab, "2026-11-19T09:00:00") for i, a, lab in alice + bob + bad]
    rows.append((ids[2], "bob", "spam", "2026-11-18T09:00:00"))  # an older duplicate of bob's own label
    pd.DataFrame(rows, columns=["id", "annotator", "label", "annotated_at"]).to_csv(csv, index=False)

    result = run_annotation_ingest(spark, ds, settings, [str(csv)], "csv", batch="round1")
    assert result.input_annotations == len(rows)
    assert result.input_annotations == result.accepted + result.quarantined_total
    assert result.accepted == 500
    assert result.quarantined == {
        "row id not in the source table": 1,
        "missing annotator": 1,
        "label MAYBE is not one of ['HAM', 'SPAM']": 1,
        "superseded by a later annotation of the same row by the same annotator": 1,
    }

    carol = [(i, "carol@example.org", _flip(truth[i]) if n % 5 == 0 else truth[i]) for n, i in enumerate(ids[100:250])]
    tasks = _label_studio_export(carol)
    tasks[0]["annotations"][0]["was_cancelled"] = True
    tasks.append({"id": 999, "data": {"text": "...", "COMMENT_ID": ids[5]}, "annotations": []})  # not annotated
    export = tmp_path / "export.json"
    export.write_text(json.dumps(tasks))
    studio = run_annotation_ingest(spark, ds, settings, [str(export)], "label_studio")
    assert studio.input_annotations == 150 and studio.accepted == 149
    assert studio.quarantined == {"cancelled in Label Studio": 1}

    stored = DeltaTable(str(table(settings, "youtube_spam", "annotations").path)).to_pandas()
    assert len(stored) == 649 and not stored.duplicated(["id", "annotator"]).any()
    assert set(stored["label"]) == {"HAM", "SPAM"}
    assert stored.set_index(["id", "annotator"]).loc[(ids[3], "alice"), "label"] == truth[ids[3]]  # case normalised
    assert set(stored.loc[stored["annotator"] == "bob", "batch"]) == {"round1"}
    assert set(stored.loc[stored["annotator"].str.startswith("carol"), "source_format"]) == {"label_studio"}
    quarantine = DeltaTable(str(table(settings, "youtube_spam", "annotations_quarantine").path)).to_pandas()
    assert len(quarantine) == 5 and quarantine["_raw"].str.len().gt(0).all()

    # Re-importing the same file changes nothing; a later re-annotation replaces the earlier one.
    again = run_annotation_ingest(spark, ds, settings, [str(csv)], "csv")
    assert again.accepted == 500
    later = tmp_path / "round2.csv"
    pd.DataFrame(
        [(ids[0], "bob", _flip(bob[0][2]), "2026-11-25T09:00:00")], columns=["id", "annotator", "label", "annotated_at"]
    ).to_csv(later, index=False)
    run_annotation_ingest(spark, ds, settings, [str(later)], "csv")
    stored = DeltaTable(str(table(settings, "youtube_spam", "annotations").path)).to_pandas()
    assert len(stored) == 649
    assert stored.set_index(["id", "annotator"]).loc[(ids[0], "bob"), "label"] == truth[ids[0]]

    # Agreement: Spark's figures equal the formulas applied to the labels we generated.
    result = agreement(
        spark.read.format("delta").load(str(table(settings, "youtube_spam", "annotations").path)),
        CLASSES,
        spark.read.format("delta").load(str(table(settings, "youtube_spam", "gold").path)),
    )
    labels = {(i, a): lab for i, a, lab in stored[["id", "annotator", "label"]].itertuples(index=False)}

    def pair_table(x: str, y: str) -> np.ndarray:
        t = np.zeros((2, 2))
        for (i, a), lab in labels.items():
            if a == x and (i, y) in labels:
                t[CLASSES.index(lab), CLASSES.index(labels[(i, y)])] += 1
        return t

    assert result.cohen_kappa["alice ~ bob"]["rows"] == 200
    assert abs(result.cohen_kappa["alice ~ bob"]["kappa"] - cohen_kappa(pair_table("alice", "bob"))) < 1e-12
    assert abs(result.cohen_kappa["alice ~ bob"]["agreement"] - 181 / 200) < 1e-12  # 20 flips, one re-annotated
    per_row: dict[str, np.ndarray] = {}
    for (i, _), lab in labels.items():
        per_row.setdefault(i, np.zeros(2))[CLASSES.index(lab)] += 1
    matrix = np.array([v for v in per_row.values() if v.sum() >= 2])
    assert result.rows_with_two_or_more == len(matrix) == 250
    assert abs(result.fleiss_kappa - fleiss_kappa(matrix)) < 1e-12
    coincidence = sum((np.outer(v, v) - np.diag(v)) / (v.sum() - 1) for v in matrix)
    assert abs(result.krippendorff_alpha - krippendorff_alpha(coincidence)) < 1e-12
    accuracy = {a.annotator: a.gold_accuracy for a in result.annotators}
    assert accuracy["alice"] == 1.0 and abs(accuracy["bob"] - 181 / 200) < 1e-12
    assert abs(accuracy["carol@example.org"] - (1 - 29 / 149)) < 1e-12


def test_agreement_formulas_on_known_cases() -> None:
    assert cohen_kappa(np.array([[20.0, 0.0], [0.0, 30.0]])) == 1.0
    assert abs(cohen_kappa(np.array([[25.0, 25.0], [25.0, 25.0]]))) < 1e-12  # chance agreement: 0
    # Wikipedia's worked example of Cohen's kappa: 20/5/10/15 -> 0.4.
    assert abs(cohen_kappa(np.array([[20.0, 5.0], [10.0, 15.0]])) - 0.4) < 1e-12
    assert fleiss_kappa(np.array([[3.0, 0.0], [0.0, 3.0]])) == 1.0
    # Two coders, nominal, complete agreement except one unit: alpha below 1, above 0.
    units = [np.array([2.0, 0.0])] * 5 + [np.array([0.0, 2.0])] * 4 + [np.array([1.0, 1.0])]
    alpha = krippendorff_alpha(sum((np.outer(v, v) - np.diag(v)) / (v.sum() - 1) for v in units))
    assert 0.7 < alpha < 1.0


@pytest.mark.slow
def test_annotators_vote_as_sources_with_learned_accuracy_and_lineage(
    spark, tmp_path: Path, settings: Settings, monkeypatch, capsys
) -> None:
    from jobs.pipeline import run_pipeline

    config = write_config(
        tmp_path / "datasets.toml",
        {"youtube_spam": {**YOUTUBE, "label_model": "dawid_skene", "annotators": {"as_sources": True}}},
    )
    settings = dataclasses.replace(settings, config_path=config)
    ds = get_dataset("youtube_spam", settings)
    assert ds.annotator_sources
    run_pipeline(RunContext("run-1", "youtube_spam"), settings, spark)
    first = DeltaTable(str(table(settings, "youtube_spam", "labels").path)).to_pandas()
    assert set(first["_label_source"]) <= {"lfs", "none"}  # no annotations yet: LFs alone

    gold = DeltaTable(str(table(settings, "youtube_spam", "gold").path)).to_pandas().sort_values("id")
    truth = dict(zip(gold["id"], gold["label_name"], strict=True))
    uncovered = sorted(first.loc[first["_label_source"] == "none", "id"])[:40]
    ids = list(gold["id"])[:400]
    rows = [(i, "alice", truth[i]) for i in ids + uncovered]
    rows += [(i, "bob", _flip(truth[i]) if n % 3 == 0 else truth[i]) for n, i in enumerate(ids)]
    csv = tmp_path / "hand.csv"
    pd.DataFrame(rows, columns=["id", "annotator", "label"]).to_csv(csv, index=False)
    run_annotation_ingest(spark, ds, settings, [str(csv)], "csv")

    run_pipeline(RunContext("run-2", "youtube_spam"), settings, spark)  # new annotations: refitted
    labels = DeltaTable(str(table(settings, "youtube_spam", "labels").path)).to_pandas().set_index("id")
    assert (labels["_run_id"] == "run-2").all()
    sources = labels["_label_source"]
    assert set(sources.loc[uncovered]) == {"annotators"}  # no LF fired: hand labels only
    assert (sources.loc[ids] != "lfs").all() and (sources.loc[ids] == "lfs+annotators").any()
    assert '"annotator:alice": "annotations@v0"' in labels.loc[ids[0], "_lf_versions"]
    assert (labels.loc[uncovered, "label_name"] == [truth[i] for i in uncovered]).all()
    models = DeltaTable(str(table(settings, "youtube_spam", "label_models").path)).to_pandas()
    latest = models[models["_run_id"] == "run-2"].iloc[0]
    learned = dict(zip(latest["lf_names"], latest["lf_accuracies"], strict=True))
    assert learned["annotator:alice"] > 0.85 and learned["annotator:alice"] > learned["annotator:bob"] + 0.1, learned
    # Hand-labeled rows follow the careful annotator: they agree with gold far more than LFs alone did.
    before = first.set_index("id").loc[ids, "label_name"]
    assert (labels.loc[ids, "label_name"] == [truth[i] for i in ids]).mean() > 0.97
    assert (labels.loc[ids, "label_name"] == [truth[i] for i in ids]).mean() > (
        before == [truth[i] for i in ids]
    ).mean()

    # `labellake annotators` puts the learned accuracies beside the gold ones and the agreement.
    from jobs.cli.main import main

    monkeypatch.setenv("LABELLAKE_HOME", str(settings.home))
    monkeypatch.setenv("LABELLAKE_CONFIG", str(settings.config_path))
    monkeypatch.setenv("LABELLAKE_DATA_ROOT", str(settings.data_root))
    capsys.readouterr()
    assert main(["annotators", "--dataset", "youtube_spam", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    by_name = {a["annotator"]: a for a in shown["annotators"]}
    assert by_name["alice"]["gold_accuracy"] == 1.0 and abs(by_name["bob"]["gold_accuracy"] - 266 / 400) < 1e-9
    assert by_name["alice"]["learned_accuracy"] == learned["annotator:alice"]
    assert shown["cohen_kappa"]["alice ~ bob"]["rows"] == 400
