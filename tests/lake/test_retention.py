"""Retention (issue 32): ``labellake vacuum`` keeps the versions its policy names readable, deletes
the files only older versions need, drops old runs' staging partitions but never the published
run's, and a wrong retention config is a one-line error naming the key."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from jobs.core.dataset_sections import RetentionSettings
from jobs.core.datasets import load_datasets
from jobs.core.errors import ConfigError
from jobs.core.settings import Settings
from jobs.lake.retention import kept_versions, stale_staging_runs, vacuum_dataset
from jobs.lake.tables import table
from tests.conftest import YOUTUBE, write_config

DAY_MS = 24 * 3_600_000
NOW = 1_800_000_000_000


def test_the_policy_keeps_recent_versions_and_the_newest_few() -> None:
    history = [(v, NOW - (10 - v) * DAY_MS) for v in range(10)]  # v9 is a day old, v0 ten days
    assert kept_versions(history, RetentionSettings(days=3, min_versions=2), NOW) == [7, 8, 9]
    assert kept_versions(history, RetentionSettings(days=0.5, min_versions=4), NOW) == [6, 7, 8, 9]
    runs = {"r0": NOW - 9 * DAY_MS, "r1": NOW - 8 * DAY_MS, "r2": NOW - DAY_MS}
    assert stale_staging_runs(runs, "r0", RetentionSettings(days=2, min_versions=1), NOW) == ["r1"]
    assert stale_staging_runs(runs, None, RetentionSettings(days=30, min_versions=1), NOW) == []


def _labels_and_staging(settings: Settings) -> None:
    """Three runs: each staged as its partition and published as the labels' only partition."""
    for run in ("r0", "r1", "r2"):
        rows = pa.table({"id": ["a", "b"], "label": [0, 1], "_run_id": [run, run]})
        staging = table(settings, "youtube_spam", "staging_labels").path
        write_deltalake(str(staging), rows, mode="overwrite", predicate=f"_run_id = '{run}'", partition_by=["_run_id"])
        labels = table(settings, "youtube_spam", "labels").path
        write_deltalake(str(labels), rows, mode="overwrite", partition_by=["_run_id"])


def test_vacuum_deletes_old_versions_files_and_stale_staging_runs(tmp_path: Path) -> None:
    config = write_config(tmp_path / "datasets.toml", {"youtube_spam": YOUTUBE})
    settings = Settings(tmp_path / "lake", tmp_path, "local[1]", config, tmp_path)
    _labels_and_staging(settings)
    ds = load_datasets(config)["youtube_spam"]
    labels = str(table(settings, "youtube_spam", "labels").path)

    kept_all = vacuum_dataset(settings, ds)  # the default: 30 days, so everything stays
    assert sum(r.files_deleted for r in kept_all) == 0
    assert DeltaTable(labels, version=0).to_pyarrow_table()["_run_id"].to_pylist() == ["r0", "r0"]

    strict = dataclasses.replace(ds, retention=RetentionSettings(days=0, min_versions=2))
    dry = vacuum_dataset(settings, strict, dry_run=True)
    assert sum(r.files_deleted for r in dry) > 0 and DeltaTable(labels, version=0).to_pyarrow_table().num_rows == 2

    done = {r.table: r for r in vacuum_dataset(settings, strict)}
    assert done["youtube_spam_labels"].oldest_readable == 1 and done["youtube_spam_labels"].files_deleted == 1
    assert done["youtube_spam_staging_labels"].staging_runs_dropped == ("r0",)
    assert DeltaTable(labels, version=1).to_pyarrow_table()["_run_id"].to_pylist() == ["r1", "r1"]
    assert DeltaTable(labels).to_pyarrow_table()["_run_id"].to_pylist() == ["r2", "r2"]
    with pytest.raises(Exception, match="(?i)not found|no such file"):
        DeltaTable(labels, version=0).to_pyarrow_table()
    staged = DeltaTable(str(table(settings, "youtube_spam", "staging_labels").path)).to_pyarrow_table()
    assert sorted(set(staged["_run_id"].to_pylist())) == ["r1", "r2"]


def test_a_wrong_retention_is_a_one_line_config_error(tmp_path: Path) -> None:
    for retention, key in (({"days": -1}, "retention.days"), ({"min_versions": 0}, "retention.min_versions")):
        config = write_config(tmp_path / "bad.toml", {"youtube_spam": {**YOUTUBE, "retention": retention}})
        with pytest.raises(ConfigError, match=key):
            load_datasets(config)
    config = write_config(tmp_path / "typo.toml", {"youtube_spam": {**YOUTUBE, "retention": {"day": 3}}})
    cli = subprocess.run(
        [sys.executable, "-m", "jobs.cli.main", "vacuum", "--dataset", "youtube_spam"],
        env={**os.environ, "LABELLAKE_HOME": str(tmp_path / "lake"), "LABELLAKE_CONFIG": str(config)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert cli.returncode == 2 and "retention has unknown keys ['day']" in cli.stderr, cli.stderr
    assert len(cli.stderr.strip().splitlines()) == 1
