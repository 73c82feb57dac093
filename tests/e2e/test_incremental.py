"""Incremental reruns equal full recomputes, vote for vote and label for label.

Two lakehouses read the same real YouTube comments: one is only ever run
incrementally, the other recomputes everything each time. Between runs the LF
pack changes (one LF edited, one removed, one added) and then the source files
change (rows edited, added and deleted), then two LFs are edited. After the LF
change and after the last step both must hold the same votes and publish the
same labels (the week soak checks source changes night by night), and the
incremental one must have recomputed only what changed.
"""

from __future__ import annotations

import dataclasses
import glob
import json
import logging
import re
from pathlib import Path

import pandas as pd
import pytest
from deltalake import DeltaTable

from jobs.cli.main import main
from jobs.core.lineage import RunContext
from jobs.core.settings import Settings
from jobs.lake.runs import run_record
from jobs.lake.tables import table
from jobs.pipeline import run_pipeline
from tests.conftest import DATA_ROOT, YOUTUBE, write_config

DATASET = "youtube_spam"


def _write_sources(frames: dict[str, pd.DataFrame], folder: Path) -> None:
    for old in folder.glob("*.csv"):
        old.unlink()
    for name, frame in frames.items():
        frame.to_csv(folder / name, index=False)


def _configure(base: Settings, home: Path, data: Path, pack: str) -> Settings:
    config = write_config(
        home.parent / f"{home.name}.toml", {DATASET: {**YOUTUBE, "source_path": str(data / "*.csv"), "lf_pack": pack}}
    )
    return dataclasses.replace(base, home=home, config_path=config)


def _votes(settings: Settings) -> set[tuple]:
    frame = DeltaTable(str(table(settings, DATASET, "votes").path)).to_pandas()
    return set(frame[["id", "lf", "vote", "lf_version"]].itertuples(index=False, name=None))


def _labels(settings: Settings) -> pd.DataFrame:
    frame = DeltaTable(str(table(settings, DATASET, "labels").path)).to_pandas()
    frame["probs"] = frame["probs"].map(lambda p: tuple(round(float(x), 9) for x in p))
    return (
        frame[["id", "label", "probs", "_lf_set_version", "_lf_versions", "_source_version"]]
        .sort_values("id")
        .reset_index(drop=True)
    )


def _observed_label_changes(spark, settings: Settings, run_id: str) -> float:
    outcomes = json.loads(run_record(spark, settings, run_id)["validation"])
    return next(o["observed"] for o in outcomes if o["check"] == "drift_label_changes")


def _id_unique(spark, settings: Settings, run_id: str) -> dict:
    outcomes = json.loads(run_record(spark, settings, run_id)["validation"])
    return next(o for o in outcomes if o["check"] == "id_unique")


def _label_change_share(settings: Settings, before: int, after: int) -> float:
    """Share of the ids in both labels versions whose label differs, from the rows themselves."""
    path = str(table(settings, DATASET, "labels").path)
    old, new = (DeltaTable(path, version=v).to_pandas().set_index("id")["label"] for v in (before, after))
    both = old.index.intersection(new.index)
    return float((old[both] != new[both]).mean())


def _files(settings: Settings, version: int) -> set[str]:
    return set(DeltaTable(str(table(settings, DATASET, "votes").path), version=version).file_uris())


def _partition(uri: str) -> str:
    return next(part for part in uri.split("/") if part.startswith("lf="))[3:]


@pytest.mark.slow
def test_incremental_reruns_equal_full_recomputes(
    spark, settings: Settings, tmp_path: Path, monkeypatch, capsys, caplog
) -> None:
    data = tmp_path / "raw"
    data.mkdir()
    frames = {
        Path(p).name: pd.read_csv(p, dtype=str, keep_default_na=False)
        for p in sorted(glob.glob(str(DATA_ROOT / "youtube_spam" / "*.csv")))
    }
    _write_sources(frames, data)
    inc = _configure(settings, tmp_path / "incremental", data, "tests.packs.incremental_packs:pack_v1")
    full = _configure(settings, tmp_path / "full", data, "tests.packs.incremental_packs:pack_v1")

    run_pipeline(RunContext("inc-1", DATASET), inc, spark)
    assert json.loads(run_record(spark, inc, "inc-1")["recomputed"])["reason"] == "no votes on record yet"
    first_votes_version = run_record(spark, inc, "inc-1")["votes_version"]

    # Step 1: the LF pack changes (keyword_please edited, keyword_song removed, keyword_free added).
    inc = _configure(settings, inc.home, data, "tests.packs.incremental_packs:pack_v2")
    full = _configure(settings, full.home, data, "tests.packs.incremental_packs:pack_v2")
    results = run_pipeline(RunContext("inc-2", DATASET), inc, spark)
    run_pipeline(RunContext("full-2", DATASET, mode="full"), full, spark)

    assert results["ingest"].reused  # same files: the source version is reused, not re-read
    plan = results["apply_lfs"].plan
    assert plan.mode == "incremental"
    assert sorted(plan.lf_changes) == ["keyword_free", "keyword_please", "keyword_song"]
    assert plan.lf_changes["keyword_free"] == "new" and plan.lf_changes["keyword_song"] == "removed"
    assert plan.lf_changes["keyword_please"].startswith("changed ")
    record = json.loads(run_record(spark, inc, "inc-2")["recomputed"])
    assert record["lf_row_pairs"] == 2 * 1953 and record["lf_row_pairs_full"] == 9 * 1953
    # Unchanged LFs' vote files are the very same files: never recomputed, never rewritten.
    before, after = _files(inc, first_votes_version), _files(inc, results["apply_lfs"].votes_version)
    rewritten = {_partition(u) for u in before ^ after}
    assert rewritten == {"keyword_free", "keyword_please", "keyword_song"}
    assert _votes(inc) == _votes(full)
    pd.testing.assert_frame_equal(_labels(inc), _labels(full))
    assert json.loads(run_record(spark, full, "full-2")["recomputed"])["reason"] == "--mode full"
    # The labels' ids are the multiset of ids the ingest found unique (youtube repeats 3 comment
    # ids: the source suite checked the accepted ones), so no run counts them again.
    for run_id in ("inc-1", "inc-2"):
        carried = {"unique_share": 1.0, "same_ids_as": "source v0 (unique at ingest)"}
        assert _id_unique(spark, inc, run_id)["observed"] == carried
    for key in ("ids", "expectation"):
        assert _id_unique(spark, inc, "inc-2")[key] == _id_unique(spark, inc, "inc-1")[key]
    # LFs added and removed: the patterns were rebuilt, so the label changes were joined by id.
    assert _observed_label_changes(spark, inc, "inc-2") == pytest.approx(_label_change_share(inc, 0, 1), abs=1e-6)

    # Step 2: the source files change: 3 texts edited, 1 author edited, 5 rows deleted, 4 rows added.
    first = sorted(frames)[0]
    frame = frames[first].copy()
    frame.loc[0:2, "CONTENT"] = frame.loc[0:2, "CONTENT"] + " check out my free channel"
    frame.loc[3, "AUTHOR"] = frame.loc[3, "AUTHOR"] + " (renamed)"
    frame = frame.drop(index=range(10, 15))
    added = frame.iloc[20:24].copy()
    added["COMMENT_ID"] = [f"new-comment-{i}" for i in range(4)]
    added["CONTENT"] = ["song of the year", "subscribe to my channel please", "free gift cards http://x.y", "ok"]
    frames[first] = pd.concat([frame, added], ignore_index=True)
    _write_sources(frames, data)
    # No full recompute after this step: the week soak (test_week_of_nights.py) checks appended,
    # edited and deleted rows against one every night, and step 3's full recompute covers these rows.
    results = run_pipeline(RunContext("inc-3", DATASET), inc, spark)

    plan = results["apply_lfs"].plan
    assert not results["ingest"].reused
    assert plan.lf_changes == {}
    assert plan.row_changes["new"] == 4 and plan.row_changes["changed"] == 4 and plan.row_changes["deleted"] == 5
    record = json.loads(run_record(spark, inc, "inc-3")["recomputed"])
    assert record["lf_row_pairs"] == 9 * 8 and record["dirty_rows"] == 8
    labels = _labels(inc)
    assert len(labels) == 1953 - 5 + 4
    # Rows added and deleted: the new source version's ids, which its ingest found unique.
    assert _id_unique(spark, inc, "inc-3")["observed"]["same_ids_as"] == "source v1 (unique at ingest)"
    assert _id_unique(spark, inc, "inc-3")["ids"]["values"] == len(labels)
    assert {f"new-comment-{i}" for i in range(4)} <= set(labels["id"])
    _check_history_and_diff(inc, monkeypatch, capsys)

    # Step 3: two LFs edited, none added or removed: the fit updates the stored row patterns by the
    # edited LFs' vote changes instead of regrouping every vote (jobs/patterns/incremental.py).
    inc = _configure(settings, inc.home, data, "tests.packs.incremental_packs:pack_v3")
    full = _configure(settings, full.home, data, "tests.packs.incremental_packs:pack_v3")
    with caplog.at_level(logging.INFO, logger="jobs"):
        run_pipeline(RunContext("inc-4", DATASET), inc, spark)
    updated = [r.getMessage() for r in caplog.records if "row patterns updated" in r.getMessage()]
    # The stored patterns carry inc-3's published labels: the label changes came from pattern counts
    # (jobs/patterns/label_transitions.py), and they are the changes between the published versions' rows.
    assert any("labels changed since v2 (counted from vote patterns)" in r.getMessage() for r in caplog.records)
    observed = _observed_label_changes(spark, inc, "inc-4")
    assert observed == pytest.approx(_label_change_share(inc, 2, 3), abs=1e-6) and observed > 0
    assert len(updated) == 1 and "2 LFs edited (keyword_free, keyword_please)" in updated[0], caplog.text
    # Only the rows the edit moved were aggregated: the other patterns kept inc-3's counts.
    assert any("pattern counts from the stored run's counts and" in m for m in caplog.messages), caplog.text
    # The staged rows were read from the stored row-pattern files by Arrow (jobs/stages/fit/staging.py).
    assert any("staging rows read by Arrow from" in r.getMessage() for r in caplog.records), caplog.text
    # The edited LFs' votes were Spark's Parquet files committed by delta-rs (jobs/stages/apply/votes_files.py).
    assert any("votes replace 2 LFs' partitions" in m for m in caplog.messages), caplog.text
    changed_rows = int(re.search(r"(\d+) rows changed pattern", updated[0]).group(1))
    assert 0 < changed_rows < 1953
    run_pipeline(RunContext("full-4", DATASET, mode="full"), full, spark)
    assert _votes(inc) == _votes(full)
    pd.testing.assert_frame_equal(
        _labels(inc).drop(columns="_source_version"), _labels(full).drop(columns="_source_version")
    )

    def counts(s):
        return DeltaTable(str(table(s, DATASET, "pattern_counts").path)).to_pandas().sort_values("pattern")

    pd.testing.assert_frame_equal(counts(inc).reset_index(drop=True), counts(full).reset_index(drop=True))


def _check_history_and_diff(inc: Settings, monkeypatch, capsys) -> None:
    """The three published versions, as an analyst sees them through the CLI (Delta time travel)."""
    monkeypatch.setenv("LABELLAKE_HOME", str(inc.home))
    monkeypatch.setenv("LABELLAKE_CONFIG", str(inc.config_path))
    capsys.readouterr()
    assert main(["history", "--dataset", DATASET, "--json"]) == 0
    history = json.loads(capsys.readouterr().out)
    assert [h["version"] for h in history] == [2, 1, 0]
    assert [h["run_id"] for h in history] == ["inc-3", "inc-2", "inc-1"]
    assert history[1]["lf_changes"] == {
        "added": ["keyword_free"],
        "removed": ["keyword_song"],
        "changed": ["keyword_please"],
    }
    assert history[0]["lf_changes"] == {"added": [], "removed": [], "changed": []}
    assert history[2]["lf_changes"] is None and history[0]["trigger"] == "manual"
    assert sum(history[0]["distribution"].values()) == 1952 and sum(history[2]["distribution"].values()) == 1953

    assert main(["diff", "--dataset", DATASET, "--from", "1", "--to", "2", "--json"]) == 0
    diff = json.loads(capsys.readouterr().out)
    assert (diff["rows_from"], diff["rows_to"]) == (1953, 1952)
    by_pair = {(t["from"], t["to"]): t for t in diff["transitions"]}
    assert sum(t["rows"] for (old, _), t in by_pair.items() if old == "(absent)") == 4
    assert sum(t["rows"] for (_, new), t in by_pair.items() if new == "(absent)") == 5
    assert diff["changed"] == sum(t["rows"] for (old, new), t in by_pair.items() if old != new) >= 9
    assert diff["changed"] + diff["unchanged"] == 1953 + 4
    moved = [t for (old, new), t in by_pair.items() if old != new]
    assert all(1 <= len(t["sample_ids"]) <= 5 for t in moved)
    assert main(["diff", "--dataset", DATASET, "--from", "0", "--to", "2"]) == 0
    assert "ids changed label" in capsys.readouterr().out
