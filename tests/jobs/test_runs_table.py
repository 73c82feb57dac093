"""The runs table: one row per (run id, dataset), upserted by each stage with delta-rs."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

import pytest
from deltalake import DeltaTable

from jobs.lineage import RunContext
from jobs.runs import record_run, run_record
from jobs.settings import Settings
from jobs.tables import runs_table


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
