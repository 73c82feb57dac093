"""Issue 29 item 11: runs of different datasets started at the same instant on a fresh lakehouse.

A run's first shared writes are its runs-table row (``begin_attempt``, the
first thing ingest does) and its Great Expectations project. Three processes,
one per dataset, are released by a barrier onto each of several fresh
lakehouses, so they race for the creation of the runs table and of the GX
folders and write their data sources and suites, as a validation does; every
one must succeed and every row must land. (Each dataset's
tables, lock and GX project live in their own folders; Spark shares nothing
else in the lakehouse.)
"""

from __future__ import annotations

import dataclasses
import multiprocessing
from pathlib import Path
from typing import Any

from deltalake import DeltaTable

from jobs.core.lineage import RunContext
from jobs.core.settings import Settings
from jobs.lake.tables import runs_table

DATASETS = ["alpha", "beta", "gamma"]
LAKEHOUSES = 3


def _start_runs(homes: list[str], dataset: str, barrier: Any, errors: Any) -> None:
    """In a child process: on every lakehouse, wait for the others, then start ``dataset``'s run."""
    import great_expectations as gx

    from expectations.gx_runner import _context, gx_root
    from jobs.lake.runs import begin_attempt

    for home in homes:
        barrier.wait(timeout=120)
        try:
            settings = dataclasses.replace(Settings.from_env(), home=Path(home))
            begin_attempt(settings, RunContext("night-1", dataset))
            context = _context(Path(home), dataset)
            for n in range(2):  # what run_suite writes into the project: a data source and a suite
                context.data_sources.add_spark(name=f"labellake_{dataset}_{n}", persist=False)
                context.suites.add_or_update(gx.ExpectationSuite(name=f"{dataset}_{n}"))
            assert {f"labellake_{dataset}_{n}" for n in range(2)} <= set(context.data_sources.all())
            assert (gx_root(Path(home), dataset) / "gx" / "great_expectations.yml").exists()
        except Exception as exc:  # reported to the parent, which names the dataset and lakehouse
            errors.put(f"{dataset} on {home}: {type(exc).__name__}: {exc}")


def test_runs_of_different_datasets_started_at_once_on_a_fresh_lakehouse_all_succeed(tmp_path: Path) -> None:
    homes = [str(tmp_path / f"lake-{i}") for i in range(LAKEHOUSES)]
    spawn = multiprocessing.get_context("spawn")
    barrier, errors = spawn.Barrier(len(DATASETS)), spawn.Queue()
    workers = [spawn.Process(target=_start_runs, args=(homes, d, barrier, errors)) for d in DATASETS]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=300)
    failures = []
    while not errors.empty():
        failures.append(errors.get())
    assert failures == [] and [w.exitcode for w in workers] == [0] * len(DATASETS)
    for home in homes:
        settings = dataclasses.replace(Settings.from_env(), home=Path(home))
        rows = DeltaTable(str(runs_table(settings).path)).to_pandas()
        assert sorted(rows["dataset"]) == DATASETS and set(rows["status"]) == {"running"}
        assert (rows["attempt"] == 1).all()
