"""The LF try-loop's figures equal what a full run with the change reports on the same rows (issue 34).

A pack change (one LF edited, one removed, one added) is tried on the real YouTube comments,
then a run with the changed pack publishes: each changed LF's coverage, overlaps, conflicts and
gold accuracy, and the labels that change, are the run's. On a sample smaller than the table
the figures are the run's votes counted on the sample's rows, and the label changes an estimate
of the run's.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from deltalake import DeltaTable

from jobs.cli.main import main
from jobs.core.errors import ConfigError
from jobs.core.lineage import RunContext
from jobs.lake.tables import table
from jobs.lf_try.api import TryRequest, try_change
from jobs.lf_try.candidates import InlineLF
from jobs.pipeline import run_pipeline
from tests.conftest import PACK_V1_RUN, SMS_RUN, YOUTUBE, shares_first_run, write_config

V2 = "tests.packs.incremental_packs:pack_v2"
STATS = ("labeled", "coverage", "overlaps", "conflicts")


def _no_spark() -> None:
    raise AssertionError("a warm try must not start Spark")


def _run_lfs(settings, run_id: str) -> dict[str, dict]:
    rows = DeltaTable(str(table(settings, "youtube_spam", "lf_analysis").path)).to_pandas()
    return {r["lf"]: r for r in rows[rows["_run_id"] == run_id].to_dict("records")}


def _labels(settings, version: int) -> dict[str, int]:
    frame = DeltaTable(str(table(settings, "youtube_spam", "labels").path), version=version).to_pandas()
    return dict(zip(frame["id"], frame["label"], strict=True))


@shares_first_run("pack_v1")
def test_a_tried_pack_change_reports_what_the_run_then_publishes(spark, lake_after_run, tmp_path) -> None:
    datasets, run = PACK_V1_RUN
    lake, _ = lake_after_run(datasets, run)
    v2 = {"youtube_spam": {**datasets["youtube_spam"], "lf_pack": V2}}
    lake = dataclasses.replace(lake, config_path=write_config(tmp_path / "v2.toml", v2))

    tried = try_change(TryRequest("youtube_spam", pack=True), lake, spark_factory=lambda: spark)
    assert tried["sample"]["drawn_now"] and tried["sample"]["whole_table"] and tried["sample"]["rows"] == 1953
    assert tried["removed"] == ["keyword_song"]
    assert [lf["lf"] for lf in tried["lfs"]] == ["keyword_please", "keyword_free"]
    sampled = try_change(TryRequest("youtube_spam", pack=True, sample_rows=600), lake, spark_factory=lambda: spark)
    warm = try_change(TryRequest("youtube_spam", pack=True, sample_rows=600), lake, spark_factory=_no_spark)
    assert not warm["sample"]["drawn_now"] and warm["lfs"] == sampled["lfs"]
    sample_ids = DeltaTable(str(table(lake, "youtube_spam", "lf_sample").path)).to_pandas()["id"]

    run_pipeline(RunContext("v2", "youtube_spam"), lake, spark)
    analysed = _run_lfs(lake, "v2")
    for lf in tried["lfs"]:
        row = analysed[lf["lf"]]
        assert {k: lf[k] for k in STATS} == pytest.approx({k: row[k] for k in STATS}, abs=1e-12), lf["lf"]
        assert (lf["gold"]["correct"], lf["gold"]["incorrect"]) == (row["correct"], row["incorrect"])
    before, after = _labels(lake, 0), _labels(lake, 1)
    changed = [i for i in before if before[i] != after[i]]
    assert tried["label_changes"]["rows"] == len(changed) > 0

    # On 600 sampled rows: the run's votes of the new LF, counted on those rows.
    assert sampled["sample"]["rows"] == len(sample_ids) == 600 and not sampled["sample"]["whole_table"]
    votes = DeltaTable(str(table(lake, "youtube_spam", "votes").path)).to_pandas()
    free = set(votes.loc[votes["lf"] == "keyword_free", "id"])
    hits = int(np.isin(sample_ids, list(free)).sum())
    new = next(lf for lf in sampled["lfs"] if lf["lf"] == "keyword_free")
    assert new["labeled"] == hits and new["coverage"] == pytest.approx(hits / 600)
    # Its label model is fitted on the table's pattern counts: the estimate is the table's, near enough.
    estimate = sampled["label_changes"]["estimated_rows_in_table"]
    assert abs(estimate - len(changed)) <= 0.2 * len(changed), (estimate, len(changed))


@shares_first_run("pack_v1")
def test_the_cli_tries_an_inline_lf_and_refuses_bad_ones(spark, lake_after_run, monkeypatch, capsys) -> None:
    datasets, run = PACK_V1_RUN
    lake, _ = lake_after_run(datasets, run)
    monkeypatch.setenv("LABELLAKE_HOME", str(lake.home))
    monkeypatch.setenv("LABELLAKE_CONFIG", str(lake.config_path))
    monkeypatch.setenv("LABELLAKE_DATA_ROOT", str(lake.data_root))
    assert main(["lf", "try", "--dataset", "youtube_spam", "--regex", r"check (it|this) out", "--label", "SPAM",
                 "--json"]) == 0  # fmt: skip
    result = json.loads(capsys.readouterr().out)
    (lf,) = result["lfs"]
    assert lf["kind"] == "regex" and lf["labeled"] > 0 and "text" not in lf["examples"]["votes"][0]
    assert main(["lf", "try", "--dataset", "youtube_spam", "--sql", "length(text) < 20", "--label", "HAM",
                 "--show-text"]) == 0  # fmt: skip
    shown = capsys.readouterr().out
    assert "candidate (sql" in shown and "accuracy on gold" in shown
    for bad in (
        ["--keywords", "free"],  # no label
        ["--keywords", "free", "--label", "EGGS"],  # not a class
        ["--regex", "(unclosed", "--label", "SPAM"],
        ["--regex", "x", "--sql", "true", "--label", "SPAM"],  # two rules
        ["--python", "no_such_module:f"],
    ):
        assert main(["lf", "try", "--dataset", "youtube_spam", *bad]) == 2, bad
    with pytest.raises(ConfigError, match="sample-rows"):
        try_change(TryRequest("youtube_spam", InlineLF("SPAM", keywords=("x",)), sample_rows=0), lake)


def test_a_dataset_without_votes_says_what_to_run(settings, monkeypatch) -> None:
    config = write_config(settings.home.parent / "d.toml", {"youtube_spam": YOUTUBE})
    lake = dataclasses.replace(settings, config_path=config)
    with pytest.raises(Exception, match="labellake run --dataset youtube_spam"):
        try_change(TryRequest("youtube_spam", InlineLF("SPAM", keywords=("x",))), lake)


@shares_first_run("sms")
def test_a_python_lf_tried_on_sms_spam_reports_what_the_run_with_it_publishes(spark, lake_after_run, tmp_path) -> None:
    datasets, run = SMS_RUN
    lake, _ = lake_after_run(datasets, run)
    inline = InlineLF(python="tests.packs.try_lfs:many_digits")
    tried = try_change(TryRequest("sms_spam", inline), lake, spark_factory=lambda: spark)
    (lf,) = tried["lfs"]
    assert lf["lf"] == "many_digits" and lf["kind"] == "python" and tried["sample"]["whole_table"]
    assert tried["label_model"] and tried["sample"]["dev_rows"] > 0 and lf["dev"]["correct"] > 0

    plus = {"sms_spam": {**datasets["sms_spam"], "lf_pack": "tests.packs.try_lfs:sms_plus_many_digits"}}
    lake = dataclasses.replace(lake, config_path=write_config(tmp_path / "plus.toml", plus))
    run_pipeline(RunContext("sms-2", "sms_spam"), lake, spark)
    rows = DeltaTable(str(table(lake, "sms_spam", "lf_analysis").path)).to_pandas()
    row = rows[(rows["_run_id"] == "sms-2") & (rows["lf"] == "many_digits")].iloc[0]
    assert {k: lf[k] for k in STATS} == pytest.approx({k: row[k] for k in STATS}, abs=1e-12)
    assert (lf["gold"]["correct"], lf["gold"]["incorrect"]) == (row["correct"], row["incorrect"])
    labels = [DeltaTable(str(table(lake, "sms_spam", "labels").path), version=v).to_pandas() for v in (0, 1)]
    before, after = (dict(zip(f["id"], f["label"], strict=True)) for f in labels)
    assert tried["label_changes"]["rows"] == sum(before[i] != after[i] for i in before)
