"""Commit metadata read without Spark: a log delta-rs cannot read is a clear error, not a crash."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobs.core.errors import StageOrderError
from jobs.lake.tables import TableRef, commit_at, commit_history, latest_commit


def test_an_unreadable_log_without_spark_names_the_table(tmp_path: Path) -> None:
    log = tmp_path / "votes" / "_delta_log"
    log.mkdir(parents=True)
    (log / "00000000000000000000.json").write_text("{not json\n")
    ref = TableRef("youtube_spam", "votes", tmp_path / "votes")
    for read in (lambda: latest_commit(None, ref), lambda: commit_at(None, ref, 0), lambda: commit_history(None, ref)):
        with pytest.raises(StageOrderError, match="youtube_spam_votes: delta-rs cannot read the Delta log"):
            read()
