"""The fit stage on real comments: model selection on dev gold, the label_models record, lineage."""

from __future__ import annotations

import dataclasses
import json
from html import escape
from pathlib import Path

from deltalake import DeltaTable

from jobs.core.lineage import RunContext
from jobs.core.settings import Settings
from jobs.lake.tables import table
from jobs.pipeline import run_pipeline
from jobs.reports.run_report import write_run_report
from jobs.reports.summary import labels_summary
from tests.conftest import YOUTUBE, write_config

CANDIDATES = ["majority_vote", "weighted_majority_vote", "dawid_skene", "metal"]


def test_selected_model_is_recorded_and_in_lineage(
    spark, tmp_path: Path, settings: Settings, capsys, monkeypatch
) -> None:
    config = write_config(
        tmp_path / "datasets.toml",
        {
            "youtube_spam": {
                **YOUTUBE,
                "label_model": "dawid_skene",
                "label_model_options": {"smoothing": 0.1},
                "model_selection": {"candidates": CANDIDATES, "dev_percent": 30},
            }
        },
    )
    yt = dataclasses.replace(settings, config_path=config)
    run_pipeline(RunContext("sel-1", "youtube_spam"), yt, spark)

    models = DeltaTable(str(table(yt, "youtube_spam", "label_models").path)).to_pandas()
    assert len(models) == 1
    row = models.iloc[0]
    selection = json.loads(row["selection"])
    # Every candidate with its own prior, then with the dev gold's class balance as a fixed prior.
    keys = CANDIDATES + [name + "+dev_prior" for name in CANDIDATES]
    assert selection["selected_by"] == "dev accuracy" and set(selection["dev_accuracy"]) == set(keys)
    assert 500 < selection["dev_rows"] < 700  # ~30% of 1,953 gold rows
    chosen = max(keys, key=lambda n: (selection["dev_accuracy"][n], -keys.index(n)))
    best = chosen.removesuffix("+dev_prior")
    assert selection["candidate"] == chosen
    assert row["model"] == best and row["model_id"].startswith(best + "@")
    params = json.loads(row["params"])
    assert params["model"] == best and len(json.loads(row["lf_versions"])) == 9
    balance = selection["dev_class_balance"]
    assert len(balance) == 2 and abs(sum(balance) - 1) < 1e-6 and 0.3 < balance[1] < 0.7  # youtube is ~half spam
    prior = params["hyperparameters"]["class_balance"]
    if chosen.endswith("+dev_prior"):
        assert prior is not None and all(abs(a - b) < 1e-6 for a, b in zip(prior, balance, strict=True))
    else:
        assert prior is None

    labels = DeltaTable(str(table(yt, "youtube_spam", "labels").path)).to_pandas()
    assert (labels["_label_model"] == row["model_id"]).all()
    summary = labels_summary(yt, "youtube_spam")
    assert summary["gold"]["accuracy"] > 0.8

    # The same run id again (an Airflow retry) replaces its model row, never adds one.
    run_pipeline(RunContext("sel-1", "youtube_spam"), yt, spark)
    assert len(DeltaTable(str(table(yt, "youtube_spam", "label_models").path)).to_pandas()) == 1

    from jobs.cli.main import main

    monkeypatch.setenv("LABELLAKE_HOME", str(yt.home))
    monkeypatch.setenv("LABELLAKE_CONFIG", str(config))
    assert main(["lfs", "--dataset", "youtube_spam", "--json"]) == 0
    lf_rows = json.loads(capsys.readouterr().out)
    assert {r["label_model"] for r in lf_rows} == {row["model_id"]}
    if best != "majority_vote":
        assert all(0.0 <= r["learned_accuracy"] <= 1.0 for r in lf_rows)


def test_auto_model_is_chosen_without_gold_and_recorded(spark, tmp_path: Path, settings: Settings) -> None:
    from jobs.label_models.held_out_selection import AUTO_CANDIDATES

    body = {k: v for k, v in YOUTUBE.items() if k != "label_model"}  # no label_model: the default, "auto"
    config = write_config(tmp_path / "datasets.toml", {"youtube_spam": body})
    yt = dataclasses.replace(settings, config_path=config)
    run_pipeline(RunContext("auto-1", "youtube_spam"), yt, spark)

    row = DeltaTable(str(table(yt, "youtube_spam", "label_models").path)).to_pandas().iloc[0]
    selection = json.loads(row["selection"])
    assert selection["selected_by"] == "held-out LF agreement"
    scores = selection["held_out_lf_agreement"]
    assert set(scores) == set(AUTO_CANDIDATES) and all(0 < s < 1 for s in scores.values())
    best = max(AUTO_CANDIDATES, key=lambda n: (scores[n], -AUTO_CANDIDATES.index(n)))
    evidence, reason = selection["auto_evidence"], selection["auto_reason"]
    if reason.startswith("fallback"):  # the best cleared the safe family by too few standard errors
        assert evidence["advantage_z"] < 2 and selection["candidate"] == evidence["safe_choice"] == row["model"]
    else:
        assert reason.startswith(best) and selection["candidate"] == best and row["model"] == best
    assert evidence["safe_choice"] == "majority_vote" and evidence["multi_class_vote_share"] < 0.5  # one-class LFs
    assert selection["held_out_lfs"] >= 2 and selection["dev_accuracy"] == {}
    page = write_run_report(yt, "youtube_spam", "auto-1").read_text()
    assert "<h2>Label model</h2>" in page and escape(reason) in page and "advantage_z" in page
    labels = DeltaTable(str(table(yt, "youtube_spam", "labels").path)).to_pandas()
    assert (labels["_label_model"] == row["model_id"]).all() and len(labels) == 1953
