"""In local mode the Python workers are forked from labellake's daemon, which has pyarrow and
pandas imported before the fork (docs/decisions/0015)."""

from __future__ import annotations


def _worker_facts(_: int) -> tuple[str, bool]:
    import os
    import sys

    with open(f"/proc/{os.getppid()}/cmdline", "rb") as f:
        parent = f.read().replace(b"\0", b" ").decode()
    return parent, "pyarrow.parquet" in sys.modules and "pandas" in sys.modules


def test_workers_fork_from_the_preloaded_daemon(spark) -> None:
    assert spark.conf.get("spark.python.daemon.module") == "jobs.spark.preloaded_daemon"
    parent, loaded = spark.sparkContext.parallelize([0], 1).map(_worker_facts).first()
    assert "jobs.spark.preloaded_daemon" in parent, parent
    assert loaded
