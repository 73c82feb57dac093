"""Real SIGKILLs and real concurrent runs leave every table consistent.

``labellake run`` is started as a separate process group (Python driver plus
its JVM); the test waits for the log line that says the votes write (then the
publish) is under way and kills the whole group with SIGKILL. Every Delta
table must still be readable at a consistent version, the dataset lock must
be free, and the next run must publish exactly what an uninterrupted run
publishes. Then two runs start at once: one publishes, the other fails
cleanly naming the run that holds the dataset.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest
from deltalake import DeltaTable

from jobs.core.errors import DatasetBusy
from jobs.core.lineage import RunContext
from jobs.core.settings import PROJECT_ROOT, Settings
from jobs.lake.dataset_lock import dataset_lock
from jobs.lake.runs import recent_runs
from jobs.lake.tables import existing_tables, table
from jobs.pipeline import run_pipeline
from tests.conftest import YOUTUBE, shares_first_run, write_config

DATASET = "youtube_spam"


def _env(settings: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "LABELLAKE_HOME": str(settings.home),
        "LABELLAKE_CONFIG": str(settings.config_path),
        "LABELLAKE_DATA_ROOT": str(settings.data_root),
        "PYSPARK_PYTHON": sys.executable,
        "LABELLAKE_SPARK_MASTER": "local[2]",
        "LABELLAKE_SHUFFLE_PARTITIONS": "4",
    }


def _start(settings: Settings, run_id: str, mode: str = "incremental") -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "jobs.cli.main", "run", "--dataset", DATASET, "--run-id", run_id, "--mode", mode],
        cwd=PROJECT_ROOT,
        env=_env(settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _kill_after(proc: subprocess.Popen, marker: str, delay_s: float, timeout_s: float = 300) -> list[str]:
    """Read the run's log until ``marker`` appears, wait ``delay_s``, SIGKILL its process group."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout_s
    for line in proc.stdout:
        seen.append(line)
        if marker in line:
            time.sleep(delay_s)
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)
            return seen
        assert time.monotonic() < deadline, "".join(seen[-20:])
    raise AssertionError(f"run ended before {marker!r}:\n{''.join(seen[-30:])}")


def _assert_tables_readable(settings: Settings) -> None:
    for ref in existing_tables(settings):
        dt = DeltaTable(str(ref.path))
        dt.to_pyarrow_dataset().count_rows()  # every file the log names exists and is readable


def _labels(settings: Settings) -> pd.DataFrame:
    frame = DeltaTable(str(table(settings, DATASET, "labels").path)).to_pandas()
    frame["probs"] = frame["probs"].map(lambda p: tuple(round(float(x), 9) for x in p))
    return frame[["id", "label", "probs", "_lf_set_version"]].sort_values("id").reset_index(drop=True)


@pytest.fixture
def yt(tmp_path: Path, settings: Settings) -> Settings:
    config = write_config(tmp_path / "datasets.toml", {DATASET: YOUTUBE})
    return dataclasses.replace(settings, config_path=config)


@shares_first_run("youtube")
@pytest.mark.slow
def test_sigkill_during_votes_write_and_publish(spark, yt: Settings, lake_after_run) -> None:
    reference, _ = lake_after_run({DATASET: YOUTUBE}, RunContext("run-1", DATASET), home_name="reference")

    killed = _kill_after(_start(yt, "killed-in-apply"), "full recompute (no votes on record yet)", 1.5)
    assert not any("stage fit_label_model" in line for line in killed)
    _assert_tables_readable(yt)
    assert not table(yt, DATASET, "labels").exists()

    killed = _kill_after(_start(yt, "killed-in-publish"), "stage publish:", 1.0)
    _assert_tables_readable(yt)
    labels_ref = table(yt, DATASET, "labels")
    published_before = labels_ref.exists()
    if published_before:  # the kill landed after the commit: the whole labeling is there
        assert DeltaTable(str(labels_ref.path)).to_pandas()["_run_id"].eq("killed-in-publish").all()

    # The next runs, two at once (lock free, tables consistent): exactly one runs, the other fails
    # in seconds naming it and changes nothing; the labels are what an uninterrupted run publishes.
    first, second = _start(yt, "concurrent-a"), _start(yt, "concurrent-b")
    outputs = [p.communicate(timeout=600)[0] for p in (first, second)]
    codes = [first.returncode, second.returncode]
    assert sorted(codes) == [0, 2], outputs
    loser = outputs[codes.index(2)]
    assert "DatasetBusy" in loser and "is being relabeled by" in loser
    assert "stage ingest" not in loser  # refused before Spark started
    winner = ["concurrent-a", "concurrent-b"][codes.index(0)]
    _assert_tables_readable(yt)
    labels = DeltaTable(str(labels_ref.path))
    if not published_before:  # nothing was committed before: the winner published version 0
        assert labels.version() == 0 and labels.to_pandas()["_run_id"].eq(winner).all()
    pd.testing.assert_frame_equal(_labels(yt), _labels(reference))
    # Each killed run was found by the next holder of the lock and recorded as killed.
    runs = {r["run_id"]: r for r in recent_runs(yt, DATASET)}
    assert runs["killed-in-apply"]["status"] == "killed"
    assert "died holding the dataset lock" in runs["killed-in-apply"]["error"]
    # killed in publish: killed, unless the kill landed after the run had recorded its publish
    assert runs["killed-in-publish"]["status"] == "killed" or (
        published_before and runs["killed-in-publish"]["status"] == "published"
    ), runs["killed-in-publish"]
    assert runs[winner]["status"] == "published"


def test_a_run_that_died_holding_the_lock_is_reaped_as_killed(tmp_path: Path, monkeypatch, capsys) -> None:
    """No Spark: a note left in a free lock file is a holder that died; ``runs --reap`` records
    it (with no runs row yet: it died before ingest ended), and a normal release leaves no note."""
    from jobs.cli.main import main
    from jobs.lake.dataset_lock import lock_path

    settings = dataclasses.replace(Settings.from_env(), home=tmp_path / "lake")
    note = {"run_id": "gone", "trigger": "schedule", "dag_id": "nightly_relabel", "mode": "incremental"}
    lock_path(settings, DATASET).parent.mkdir(parents=True)
    lock_path(settings, DATASET).write_text(json.dumps({**note, "pid": 999999, "host": "h", "since": "2026-12-04"}))
    monkeypatch.setenv("LABELLAKE_HOME", str(settings.home))
    with dataset_lock(settings, RunContext("alive", DATASET)):  # takes the lock over the dead run's note
        assert main(["runs", "--reap", "--json"]) == 0  # the lock is held by a live run: left alone
        listed = capsys.readouterr()
        assert "reaped:" not in listed.err
    assert lock_path(settings, DATASET).read_text() == ""  # released normally: no note
    # The live run recorded the dead one before writing its own note.
    (gone,) = json.loads(listed.out)
    assert gone["run_id"] == "gone" and gone["status"] == "killed" and "found by run alive" in gone["error"]

    lock_path(settings, DATASET).write_text(json.dumps({**note, "run_id": "gone-2", "pid": 1, "host": "h"}))
    assert main(["runs", "--reap", "--json"]) == 0
    listed = capsys.readouterr()
    assert "reaped: youtube_spam run gone-2" in listed.err and lock_path(settings, DATASET).read_text() == ""
    assert {r["run_id"]: r["status"] for r in json.loads(listed.out)} == {"gone": "killed", "gone-2": "killed"}


def test_busy_dataset_fails_before_changing_anything(spark, yt: Settings) -> None:
    with dataset_lock(yt, RunContext("holder", DATASET)):
        with pytest.raises(DatasetBusy, match="holder"):
            run_pipeline(RunContext("second", DATASET), yt, spark)
    assert not table(yt, DATASET, "source").exists()


def _the_spark_jvm(pid: int) -> psutil.Process:
    """The one `java` process under the CLI; children that exit while listed are skipped."""

    def is_java(child: psutil.Process) -> bool:
        try:
            return child.name() == "java"
        except psutil.NoSuchProcess:  # a short-lived child (a shell, a worker) ended meanwhile
            return False

    (jvm,) = [c for c in psutil.Process(pid).children(recursive=True) if is_java(c)]
    return jvm


def test_a_dead_spark_jvm_is_one_line_exit_3_and_a_failed_run(yt: Settings) -> None:
    """Issue 29 item 16: the JVM dies under the run (OOM killer, kill -9): the CLI says so in one
    line naming the stage and exits 3 (retry-able), the run is recorded failed, the lock is free."""
    proc = _start(yt, "jvm-dies")
    seen: list[str] = []
    deadline = time.monotonic() + 300
    for line in proc.stdout:
        seen.append(line)
        if "stage ingest:" in line:
            break
        assert time.monotonic() < deadline, "".join(seen[-20:])
    _the_spark_jvm(proc.pid).kill()
    rest = proc.communicate(timeout=120)[0]
    output = "".join(seen) + rest
    assert proc.returncode == 3, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    errors = [line for line in output.splitlines() if " ERROR " in line]
    assert len(errors) == 1 and "SparkDied" in errors[0] and "stage ingest" in errors[0], output[-3000:]
    (run,) = [r for r in recent_runs(yt, DATASET) if r["run_id"] == "jvm-dies"]
    assert run["status"] == "failed" and "SparkDied" in run["error"]
    with dataset_lock(yt, RunContext("next", DATASET)):  # released: the next run may start
        pass
