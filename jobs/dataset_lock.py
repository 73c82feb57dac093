"""One writer per dataset: an OS file lock held while a run changes the dataset's tables.

Delta's optimistic concurrency already keeps every single commit atomic, but a
relabel is several commits (votes, pattern counts, staging, labels). Two runs
interleaving them could publish labels fitted on the other run's votes. The
stages refuse to read a commit written by another run, so that would fail
anyway; the lock makes the second run fail *before* it changes anything, with
a message naming the run that holds the dataset.

``fcntl.flock`` is released by the kernel when the holder dies, so a killed run
(SIGKILL, OOM, a lost Airflow worker) never leaves a stale lock behind. The
lock file lives under ``<LABELLAKE_HOME>/_locks`` on the same storage as the
tables. ``LABELLAKE_LOCK_WAIT_S`` (default 0) makes a run wait that many
seconds for the lock instead of failing at once.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from jobs.errors import DatasetBusy
from jobs.lineage import RunContext, utc_now
from jobs.settings import Settings

log = logging.getLogger(__name__)

_HELD: dict[str, str] = {}
"""Datasets this process holds, by lock path -> run id (a pipeline's stages share its lock)."""


def lock_path(settings: Settings, dataset: str) -> Path:
    return settings.home / "_locks" / f"{dataset}.lock"


@contextmanager
def dataset_lock(settings: Settings, run: RunContext, wait_s: float | None = None) -> Iterator[None]:
    """Hold ``run.dataset``'s lock for the block; raise :class:`DatasetBusy` if another run has it."""
    wait_s = float(os.environ.get("LABELLAKE_LOCK_WAIT_S", "0")) if wait_s is None else wait_s
    path = lock_path(settings, run.dataset)
    if _HELD.get(str(path)) == run.run_id:
        yield  # the enclosing pipeline of the same run holds it
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+")
    deadline = time.monotonic() + wait_s
    try:
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    handle.seek(0)
                    holder = handle.read().strip() or "another process"
                    raise DatasetBusy(
                        f"dataset {run.dataset!r} is being relabeled by {holder}; run {run.run_id} "
                        f"changed nothing (lock {path}; set LABELLAKE_LOCK_WAIT_S to wait)"
                    ) from None
                time.sleep(0.5)
        handle.seek(0)
        handle.truncate()
        handle.write(
            json.dumps(
                {
                    "run_id": run.run_id,
                    "pid": os.getpid(),
                    "host": socket.gethostname(),
                    "since": utc_now().isoformat(timespec="seconds"),
                }
            )
        )
        handle.flush()
        _HELD[str(path)] = run.run_id
        try:
            yield
        finally:
            _HELD.pop(str(path), None)
    finally:
        handle.close()  # closing the descriptor releases the flock
