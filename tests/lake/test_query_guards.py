"""The read-only query tool refuses what would mislead or damage (issue 29, items 12, 13).

A labels table written with delta-rs (no Spark) under a throwaway lakehouse.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from jobs.cli.main import main
from jobs.core.settings import Settings
from jobs.lake.query import QueryError, check_output_path, query


@pytest.fixture
def lake(tmp_path: Path, monkeypatch) -> Settings:
    settings = dataclasses.replace(Settings.from_env(), home=tmp_path / "lake")
    write_deltalake(str(settings.home / "yt" / "labels"), pa.table({"id": ["a", "b"], "label": [0, 1]}))
    monkeypatch.setenv("LABELLAKE_HOME", str(settings.home))
    return settings


def test_as_of_before_the_first_commit_is_an_error_naming_it(lake: Settings) -> None:
    assert query("SELECT count(*) AS n FROM yt_labels", lake, as_of="2999-01-01T00:00:00")["n"].tolist() == [2]
    with pytest.raises(QueryError, match=r"did not exist at 2000-01-01T00:00:00\+00:00: its first commit"):
        query("SELECT count(*) FROM yt_labels", lake, as_of="2000-01-01")


def test_output_inside_the_lakehouse_or_over_a_file_is_refused(lake: Settings, tmp_path: Path) -> None:
    log = lake.home / "yt" / "labels" / "_delta_log" / "00000000000000000000.json"
    before = log.read_bytes()
    link = tmp_path / "innocent"
    os.symlink(lake.home / "yt" / "labels" / "_delta_log", link)
    for target in (log, link / "00000000000000000000.json", lake.home / "new.csv"):
        with pytest.raises(QueryError, match="inside the lakehouse"):
            check_output_path(target, lake)
        assert main(["query", "SELECT * FROM yt_labels", "--format", "csv", "--output", str(target)]) == 2
    assert log.read_bytes() == before and DeltaTable(str(lake.home / "yt" / "labels")).to_pyarrow_table().num_rows == 2

    existing = tmp_path / "out.csv"
    existing.write_text("keep me\n")
    assert main(["query", "SELECT * FROM yt_labels", "--format", "csv", "--output", str(existing)]) == 2
    assert existing.read_text() == "keep me\n"
    assert main(["query", "SELECT * FROM yt_labels", "--format", "csv", "--output", str(existing), "--force"]) == 0
    assert existing.read_text().splitlines()[0].replace('"', "") == "id,label"


def test_csv_output_writes_list_columns_as_json_cells(lake: Settings, tmp_path: Path) -> None:
    """``probs`` is a list column: CSV has no nested cells, so each becomes JSON text (it crashed,
    leaving an empty file)."""
    import csv
    import json

    probs = pa.table({"id": ["a", "b"], "probs": [[0.25, 0.75], None], "meta": [{"k": 1}, {"k": 2}]})
    write_deltalake(str(lake.home / "yt" / "staging_labels"), probs)
    out = tmp_path / "probs.csv"
    sql = "SELECT id, probs, meta FROM yt_staging_labels ORDER BY id"
    assert main(["query", sql, "--format", "csv", "--output", str(out)]) == 0
    rows = list(csv.DictReader(out.open()))
    assert [json.loads(r["probs"]) if r["probs"] else None for r in rows] == [[0.25, 0.75], None]
    assert json.loads(rows[1]["meta"]) == {"k": 2}


def test_a_runaway_query_stops_at_the_timeout(lake: Settings, tmp_path: Path) -> None:
    import time

    started = time.monotonic()
    code = main(["query", "SELECT count(*) FROM yt_labels, range(100000000000)", "--timeout", "1"])
    assert code == 2 and time.monotonic() - started < 30
    out = tmp_path / "n.json"
    sql = "SELECT count(*) AS n FROM yt_labels"
    assert main(["query", sql, "--memory-limit", "256MB", "--format", "json", "--output", str(out)]) == 0
    assert out.read_text().replace(" ", "").strip() == '{"n":2}'


def test_duckdb_errors_keep_every_line_on_one(lake: Settings) -> None:
    with pytest.raises(QueryError) as raised:
        query("SELECT labl FROM yt_labels", lake)
    message = str(raised.value)
    assert "\n" not in message and "labl" in message and "Candidate bindings" in message and "label" in message


def test_bad_limits_and_a_missing_output_folder_are_one_line_refusals(lake: Settings, tmp_path: Path, caplog) -> None:
    for extra, message in [
        (["--memory-limit", "lots"], "--memory-limit 'lots': must be a size such as 4GB"),
        (["--timeout", "0"], "--timeout 0: must be a number of seconds above 0"),
        (["--format", "csv", "--output", str(tmp_path / "no" / "x.csv")], f"no folder {tmp_path / 'no'}"),
    ]:
        caplog.clear()
        assert main(["query", "SELECT count(*) FROM yt_labels", *extra]) == 2
        errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
        assert len(errors) == 1 and message in errors[0] and "\n" not in errors[0], errors


def test_the_query_command_exits_zero_every_time(lake: Settings) -> None:
    """DuckDB's and delta-rs's native threads aborted the interpreter's teardown (exit 134) in about
    one `labellake query` in four; the command now ends without that teardown."""
    import subprocess
    import sys

    command = [sys.executable, "-c", "from jobs.cli.main import console_main; console_main()", "query"]
    codes = [
        subprocess.run([*command, "SELECT count(*) FROM yt_labels"], capture_output=True).returncode for _ in range(8)
    ]
    assert codes == [0] * 8
