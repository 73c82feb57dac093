"""One writer per dataset: an OS file lock held while a run changes the dataset's tables.

Delta's optimistic concurrency already keeps every single commit atomic, but a
relabel is several commits (votes, pattern counts, staging, labels). Two runs
interleaving them could publish labels fitted on the other run's votes. The
stages refuse to read a commit written by another run, so that would fail
anyway; the lock makes the second run fail *before* it changes anything, with
a message naming the run that holds the dataset.

``fcntl.flock`` is released by the kernel when the holder dies, so a killed run
(SIGKILL, OOM, a lost Airflow worker) never leaves a stale lock behind. The
holder writes a note naming its run into the lock file and empties it on a
normal release, so a note found by the next holder (or ``labellake runs
--reap``) is a run that died holding the lock: it is marked ``killed`` in the
runs table, instead of staying ``running`` forever. The
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
from typing import TextIO

from jobs.core.errors import DatasetBusy
from jobs.core.lineage import RunContext, utc_now
from jobs.core.settings import Settings, env_setting
from jobs.lake.dead_holders import mark_dead_holder

log = logging.getLogger(__name__)

_HELD: dict[str, str] = {}
"""Datasets this process holds, by lock path -> run id (a pipeline's stages share its lock)."""


def lock_path(settings: Settings, dataset: str) -> Path:
    """The lock file (a local lakehouse); with an object store, the key of the in-process registry."""
    return settings.home / "_locks" / f"{dataset}.lock"


@contextmanager
def dataset_lock(settings: Settings, run: RunContext, wait_s: float | None = None) -> Iterator[None]:
    """Hold ``run.dataset``'s lock for the block; raise :class:`DatasetBusy` if another run has it."""
    wait_s = float(env_setting("LABELLAKE_LOCK_WAIT_S")) if wait_s is None else wait_s
    path = lock_path(settings, run.dataset)
    if _HELD.get(str(path)) == run.run_id:
        yield  # the enclosing pipeline of the same run holds it
        return
    if settings.lake:  # no file system shared between machines: a lease on the object store
        from jobs.lake.lease_lock import dataset_lease

        with dataset_lease(settings, run, _holder_note(run), wait_s):
            _HELD[str(path)] = run.run_id
            try:
                yield
            finally:
                _HELD.pop(str(path), None)
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
        _reap_holder_that_died(settings, run.dataset, handle, found_by=run.run_id)
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps(_holder_note(run)))
        handle.flush()
        _HELD[str(path)] = run.run_id
        try:
            yield
        finally:
            _HELD.pop(str(path), None)
            handle.seek(0)
            handle.truncate()  # released normally: an empty note (a dead holder's stays behind)
            handle.flush()
    finally:
        handle.close()  # closing the descriptor releases the flock


def _holder_note(run: RunContext) -> dict[str, object]:
    """What the lock file says while ``run`` holds it: enough to name it, and to record it if it dies."""
    return {
        "run_id": run.run_id,
        "trigger": run.trigger,
        "dag_id": run.dag_id,
        "mode": run.mode,
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "since": utc_now().isoformat(timespec="seconds"),
    }


def _reap_holder_that_died(settings: Settings, dataset: str, handle: TextIO, found_by: str) -> dict | None:
    """With the lock just taken: a note left in the file is a holder that died holding it (SIGKILL,
    OOM, a lost worker; a normal release empties the note). Its run is marked ``killed``."""
    handle.seek(0)
    note = handle.read().strip()
    if not note:
        return None
    try:
        holder = json.loads(note)
    except ValueError:
        holder = None
    return mark_dead_holder(settings, dataset, holder, found_by)


def reap_killed_runs(settings: Settings) -> list[dict]:
    """Mark every run that died holding a dataset lock ``killed``, for locks nobody holds now
    (``labellake runs --reap``; a dataset's next run does the same for its own lock)."""
    reaped = []
    for path in sorted((settings.home / "_locks").glob("*.lock")):
        with open(path, "a+") as handle:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # held: its run is alive
            found = _reap_holder_that_died(settings, path.stem, handle, found_by="labellake runs --reap")
            handle.seek(0)
            handle.truncate()  # the note is dealt with (reaped, or its run had ended): not read again
            if found:
                reaped.append(found)
    return reaped
