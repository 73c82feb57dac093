"""A persistent catalog (issue 33): a publish registers new tables in the Hive metastore, and a plain
``spark-sql`` given only the printed settings reads ``labellake.youtube_spam_labels`` with time travel,
no labellake code running in it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pyspark

from jobs.core.lineage import RunContext
from jobs.lake.metastore import pending_tables, session_conf, sync_after_publish
from jobs.pipeline import run_stage
from tests.conftest import TEST_JVM_OPTIONS, shares_first_run
from tests.e2e.test_pipeline import FIRST_RUN


@shares_first_run("youtube")
def test_a_publish_registers_the_tables_and_plain_spark_sql_reads_them(lake_after_run, monkeypatch) -> None:
    yt, _ = lake_after_run(*FIRST_RUN)
    assert "youtube_spam_labels" in pending_tables(yt)  # the tests' runs skip the metastore
    monkeypatch.setenv("LABELLAKE_METASTORE", "on")
    run_stage("publish", RunContext("run-1", "youtube_spam"), yt)  # a retried publish: a no-op, then the sync
    assert pending_tables(yt) == [] and (yt.home / "_metastore" / "metastore_db").is_dir()
    assert sync_after_publish(yt) == []  # nothing new: no Spark process

    spark_sql = Path(pyspark.__file__).parent / "bin" / "spark-sql"
    conf = [arg for key, value in session_conf(yt).items() for arg in ("--conf", f"{key}={value}")]
    query = "SELECT count(*), min(_run_id) FROM labellake.youtube_spam_labels VERSION AS OF 0"
    done = subprocess.run(
        [str(spark_sql), "--driver-java-options", TEST_JVM_OPTIONS, *conf, "-e", query],
        env={**os.environ, "PYSPARK_PYTHON": sys.executable},
        cwd=yt.home,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split("\n")[-2] == "1953\trun-1", done.stdout[-500:]
