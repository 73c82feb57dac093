"""The gold set on real YouTube comments: hand labels become gold by a config rule, and the
gold used for evaluation never reaches the label model's fit.

The dataset here has no gold column: the only gold is what annotators make. Their labels
are simulated from the collection's real CLASS column: alice and bob label the same 400
rows (bob flips every 3rd), dana, the expert, labels 60 others.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pandas as pd
import pytest
from deltalake import DeltaTable

from jobs.core.dataset_sections import GoldSetRule
from jobs.core.datasets import get_dataset
from jobs.core.errors import ConfigError
from jobs.core.lineage import RunContext
from jobs.core.settings import Settings
from jobs.hand_labels.annotations import run_annotation_ingest
from jobs.hand_labels.gold_set import adjudicate
from jobs.lake.runs import run_record
from jobs.lake.tables import table
from jobs.pipeline import run_pipeline
from tests.conftest import DATA_ROOT, YOUTUBE, write_config


def _truth() -> dict[str, str]:
    frames = [pd.read_csv(path) for path in sorted((DATA_ROOT / "youtube_spam").glob("*.csv"))]
    rows = pd.concat(frames).drop_duplicates("COMMENT_ID", keep=False)
    return {i: ("SPAM" if c == 1 else "HAM") for i, c in zip(rows["COMMENT_ID"], rows["CLASS"], strict=True)}


def _flip(label: str) -> str:
    return "SPAM" if label == "HAM" else "HAM"


def test_the_rule_makes_gold_from_experts_or_agreeing_annotators(spark) -> None:
    rows = [
        ("r1", "ann", "SPAM"),
        ("r1", "ben", "SPAM"),  # 2 agree
        ("r2", "ann", "SPAM"),
        ("r2", "ben", "HAM"),
        ("r2", "cy", "SPAM"),  # majority, not unanimous
        ("r3", "ann", "HAM"),  # one annotator only
        ("r4", "ann", "HAM"),
        ("r4", "ben", "HAM"),
        ("r4", "exp", "SPAM"),  # the expert overrides
        ("r5", "exp", "HAM"),
        ("r5", "exp2", "SPAM"),  # experts disagree
        ("r6", "ann", "SPAM"),
        ("r6", "ben", "SPAM"),
        ("r6", "cy", "SPAM"),
    ]
    annotations = spark.createDataFrame(rows, "id string, annotator string, label string")
    classes = ("HAM", "SPAM")

    def gold(rule: GoldSetRule) -> dict[str, tuple[str, str]]:
        return {r["id"]: (r["label_name"], r["_gold_from"]) for r in adjudicate(annotations, rule, classes).collect()}

    strict = gold(GoldSetRule(min_agreeing=2, experts=("exp", "exp2")))
    assert strict == {"r1": ("SPAM", "agreement:2/2"), "r4": ("SPAM", "expert:exp"), "r6": ("SPAM", "agreement:3/3")}
    majority = gold(GoldSetRule(min_agreeing=2, unanimous=False, experts=("exp", "exp2")))
    assert majority["r2"] == ("SPAM", "agreement:2/3") and "r5" not in majority and "r3" not in majority
    assert set(gold(GoldSetRule(min_agreeing=3))) == {"r6"}  # r4's expert is not an expert here: 2 HAM / 1 SPAM
    one = gold(GoldSetRule(min_agreeing=1))
    assert one["r3"] == ("HAM", "agreement:1/1") and "r2" not in one


def test_gold_rule_config_errors_name_the_key(tmp_path: Path, settings: Settings) -> None:
    for bad, key in (
        ({"min_agreeing": 0}, "min_agreeing"),
        ({"evaluation_percent": 120}, "evaluation_percent"),
        ({"publish": "yes"}, "publish"),
        ({"quorum": 2}, "quorum"),
    ):
        config = write_config(tmp_path / "datasets.toml", {"youtube_spam": {**YOUTUBE, "gold_set": bad}})
        with pytest.raises(ConfigError, match=key):
            get_dataset("youtube_spam", dataclasses.replace(settings, config_path=config))


@pytest.mark.slow
def test_gold_set_scores_the_run_and_never_leaks_into_the_fit(
    spark, tmp_path: Path, settings: Settings, monkeypatch, capsys
) -> None:
    no_gold_column = {k: v for k, v in YOUTUBE.items() if k not in ("gold_column", "gold_values")}
    rule = {"min_agreeing": 2, "experts": ["dana"], "evaluation_percent": 50, "publish": True}
    config = write_config(
        tmp_path / "datasets.toml",
        {
            "youtube_spam": {
                **no_gold_column,
                "label_model": "dawid_skene",
                "annotators": {"as_sources": True},
                "gold_set": rule,
                "expectations": {
                    **YOUTUBE["expectations"],
                    "max_label_change_share": 1.0,
                    "max_kl_divergence": 5.0,
                    "min_gold_accuracy": 0.6,
                },
            }
        },
    )
    settings = dataclasses.replace(settings, config_path=config)
    ds = get_dataset("youtube_spam", settings)
    run_pipeline(RunContext("run-1", "youtube_spam"), settings, spark)
    assert not table(settings, "youtube_spam", "gold_set").exists()  # no gold column, no annotations

    truth = _truth()
    source = DeltaTable(str(table(settings, "youtube_spam", "source").path)).to_pandas()
    ids = sorted(set(source["id"]) & set(truth))
    pair, expert = ids[:400], ids[400:460]
    rows = [(i, "alice", truth[i]) for i in pair]
    rows += [(i, "bob", _flip(truth[i]) if n % 3 == 0 else truth[i]) for n, i in enumerate(pair)]
    rows += [(i, "dana", truth[i]) for i in expert]
    csv = tmp_path / "hand.csv"
    pd.DataFrame(rows, columns=["id", "annotator", "label"]).to_csv(csv, index=False)
    run_annotation_ingest(spark, ds, settings, [str(csv)], "csv")

    run_pipeline(RunContext("run-2", "youtube_spam"), settings, spark)
    gold_ref = table(settings, "youtube_spam", "gold_set")
    gold = DeltaTable(str(gold_ref.path)).to_pandas().set_index("id")
    agreed = [i for n, i in enumerate(pair) if n % 3 != 0]  # bob agrees with alice on these
    assert sorted(gold.index) == sorted(agreed + expert)
    assert (gold["label_name"] == [truth[i] for i in gold.index]).all()
    assert set(gold.loc[expert, "_gold_from"]) == {"expert:dana"}
    assert set(gold.loc[agreed, "_gold_from"]) == {"agreement:2/2"}
    evaluation = gold.index[gold["split"] == "evaluation"]
    train = gold.index[gold["split"] == "train"]
    assert 0.35 < len(evaluation) / len(gold) < 0.65  # evaluation_percent = 50, by id hash

    labels = DeltaTable(str(table(settings, "youtube_spam", "labels").path)).to_pandas().set_index("id")
    # Evaluation rows: no annotator voted on them (their hand labels are withheld from the fit) ...
    assert not labels.loc[evaluation, "_lf_versions"].str.contains("annotator:").any()
    assert set(labels.loc[evaluation, "_label_source"]) <= {"lfs", "none"}
    # ... while the train rows publish their gold label, with the model's own kept beside it.
    assert (labels.loc[train, "_label_source"] == "gold").all()
    assert (labels.loc[train, "label_name"] == [truth[i] for i in train]).all()
    assert (labels.loc[train, "confidence"] == 1.0).all()
    assert labels.loc[train, "_lf_versions"].str.contains("annotator:").any()  # annotators voted there
    assert (labels["label_model_label"] >= -1).all() and labels["end_model_label"].isna().all()

    # The LF analysis scores on evaluation gold only: an annotator source, whose votes were
    # withheld exactly there, has no gold-judged votes at all.
    analysis = DeltaTable(str(table(settings, "youtube_spam", "lf_analysis").path)).to_pandas()
    analysis = analysis[analysis["_run_id"] == "run-2"].set_index("lf")
    judged = analysis["correct"] + analysis["incorrect"]
    assert judged.loc["annotator:alice"] == 0 and judged.loc["annotator:dana"] == 0
    assert judged.max() > 0 and judged.max() <= len(evaluation)

    record = run_record(spark, settings, "run-2", "youtube_spam")
    assert record["gold_set_version"] == DeltaTable(str(gold_ref.path)).version()
    from jobs.reports.summary import labels_summary

    summary = labels_summary(settings, "youtube_spam")
    assert summary["gold"]["table"] == "youtube_spam_gold_set"
    assert summary["gold"]["rows_with_gold"] == len(evaluation)
    assert summary["label_sources"]["gold"] == len(train)

    # Versioned: nothing new, nothing rewritten (and the night is quiet); a new annotation, a new version.
    version = DeltaTable(str(gold_ref.path)).version()
    run_pipeline(RunContext("run-3", "youtube_spam"), settings, spark)
    assert DeltaTable(str(gold_ref.path)).version() == version
    assert run_record(spark, settings, "run-3", "youtube_spam")["labels_current_from"] == "run-2"
    more = tmp_path / "more.csv"
    pd.DataFrame([(ids[500], "dana", truth[ids[500]])], columns=["id", "annotator", "label"]).to_csv(more, index=False)
    run_annotation_ingest(spark, ds, settings, [str(more)], "csv")

    from jobs.cli.main import main

    for name, value in (
        ("LABELLAKE_HOME", settings.home),
        ("LABELLAKE_CONFIG", settings.config_path),
        ("LABELLAKE_DATA_ROOT", settings.data_root),
    ):
        monkeypatch.setenv(name, str(value))
    capsys.readouterr()
    assert main(["gold", "--dataset", "youtube_spam", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["version"] == version + 1
    assert shown["evaluation_rows"] + shown["train_rows"] == len(gold) + 1
    assert sum(v for k, v in shown["by_split_and_origin"].items() if k.endswith("/expert")) == len(expert) + 1
    previous = gold.loc[gold.index.isin(ids[:460]), "split"]
    rebuilt = DeltaTable(str(gold_ref.path)).to_pandas().set_index("id")
    assert (rebuilt.loc[previous.index, "split"] == previous).all()  # a row keeps its split
