"""The runs table: one row per (run id, dataset), upserted by each stage with delta-rs."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

import pytest
from deltalake import DeltaTable

from jobs.core.lineage import RunContext
from jobs.core.settings import Settings
from jobs.lake.runs import record_run, run_record
from jobs.lake.tables import runs_table


@pytest.fixture
def lake(tmp_path: Path) -> Settings:
    return dataclasses.replace(Settings.from_env(), home=tmp_path / "lakehouse")


def test_one_dag_run_over_two_datasets_keeps_a_row_per_dataset(lake: Settings) -> None:
    """An Airflow run relabels several datasets under one run id: their records must not overwrite each other."""
    for dataset in ("youtube_spam", "sms_spam"):
        record_run(None, lake, RunContext("scheduled__2026-11-28", dataset, trigger="schedule"), status="running")
    record_run(
        None,
        lake,
        RunContext("scheduled__2026-11-28", "sms_spam", trigger="schedule"),
        status="failed",
        error="validation failed",
    )
    record_run(
        None,
        lake,
        RunContext("scheduled__2026-11-28", "youtube_spam", trigger="schedule"),
        status="published",
        labels_version=3,
        stage_seconds={"publish": 1.5},
    )
    youtube = run_record(None, lake, "scheduled__2026-11-28", "youtube_spam")
    sms = run_record(None, lake, "scheduled__2026-11-28", "sms_spam")
    assert youtube["status"] == "published" and youtube["labels_version"] == 3 and youtube["error"] is None
    assert youtube["stage_seconds"] == '{"publish": 1.5}' and youtube["started_at"] <= youtube["updated_at"]
    assert sms["status"] == "failed" and sms["error"] == "validation failed"
    assert len(DeltaTable(str(runs_table(lake).path)).to_pandas()) == 2
    with pytest.raises(ValueError, match="name the dataset"):
        run_record(None, lake, "scheduled__2026-11-28")


def test_concurrent_runs_of_different_datasets_all_land(lake: Settings) -> None:
    """Stages of other datasets' runs commit at the same time; conflicting commits are retried."""
    errors: list[BaseException] = []

    def stage(i: int) -> None:
        try:
            for status in ("running", "validated", "published"):
                record_run(None, lake, RunContext(f"run-{i}", f"ds{i}"), status=status)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=stage, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    rows = DeltaTable(str(runs_table(lake).path)).to_pandas()
    assert sorted(rows["run_id"]) == [f"run-{i}" for i in range(4)]
    assert set(rows["status"]) == {"published"}


def test_a_rerun_of_a_run_id_adds_an_attempt_and_keeps_the_first(lake: Settings) -> None:
    """History is append-only: starting an id again (ingest) adds attempt 2; stage retries within
    an attempt update it; a runs table from before attempts were counted reads as attempt 1."""
    import pyarrow as pa
    from deltalake import write_deltalake

    from jobs.lake.runs import begin_attempt

    old = pa.table({"run_id": ["old"], "dataset": ["youtube_spam"], "status": ["published"], "labels_version": [0]})
    write_deltalake(str(runs_table(lake).path), old)  # an older labellake's runs table: no attempt column
    run = RunContext("old", "youtube_spam")
    record_run(None, lake, run, error="a stage retried within attempt 1")
    assert run_record(None, lake, "old", "youtube_spam")["status"] == "published"
    assert len(DeltaTable(str(runs_table(lake).path)).to_pandas()) == 1

    assert begin_attempt(lake, run) == 2
    record_run(None, lake, run, status="failed", source_version=7, error="boom")
    rows = DeltaTable(str(runs_table(lake).path)).to_pandas().sort_values("attempt", na_position="first")
    assert rows["status"].tolist() == ["published", "failed"]
    assert rows["labels_version"].tolist()[0] == 0 and rows["error"].tolist()[0] == "a stage retried within attempt 1"
    latest = run_record(None, lake, "old", "youtube_spam")
    assert latest["attempt"] == 2 and latest["status"] == "failed" and latest["source_version"] == 7
    assert begin_attempt(lake, RunContext("new", "youtube_spam")) == 1


def test_a_pipeline_remembers_its_attempt_and_forgets_it_after(lake: Settings, monkeypatch) -> None:
    """Inside ``attempt_remembered`` (``run_pipeline``), records reuse the attempt ``begin_attempt``
    started without reading the table; outside, each record looks the newest attempt up again."""
    from jobs.lake import runs

    run = RunContext("again", "youtube_spam")
    runs.begin_attempt(lake, run)
    lookups: list[str] = []
    real = runs.latest_attempt
    monkeypatch.setattr(runs, "latest_attempt", lambda *a: lookups.append(a[1]) or real(*a))
    with runs.attempt_remembered(lake, run):
        assert runs.begin_attempt(lake, run) == 2
        lookups.clear()
        record_run(None, lake, run, status="validated")
        record_run(None, lake, run, status="published")
        assert lookups == []  # remembered
    record_run(None, lake, run, error="after")  # another process may have begun attempt 3 by now
    assert lookups == ["again"]
    rows = DeltaTable(str(runs_table(lake).path)).to_pandas().sort_values("attempt")
    assert rows["attempt"].tolist() == [1, 2] and rows["status"].tolist() == ["running", "published"]
    assert rows["error"].tolist()[1] == "after"
