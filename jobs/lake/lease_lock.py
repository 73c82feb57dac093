"""The dataset lock on an object store: a lease object written with a conditional PUT.

Machines that share only the object store cannot share an OS file lock. A run takes
``<lakehouse>/_locks/<dataset>.lock`` by creating it with ``If-None-Match: *`` (exactly one
creator wins, on S3 and on S3-compatible stores that implement conditional writes), then renews
its lease every ``LEASE_S / 3`` seconds with ``If-Match`` on the ETag it wrote. A run that dies
stops renewing; once its lease has run out the next run takes the object over (again with
``If-Match``, so two successors cannot both win) and marks the dead run ``killed``, as the local
lock does. A normal release deletes the object.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from jobs.core.errors import DatasetBusy
from jobs.core.lineage import RunContext
from jobs.core.settings import Settings
from jobs.lake.dead_holders import mark_dead_holder
from jobs.lake.object_store import create_object, delete_object, read_object, replace_object

log = logging.getLogger(__name__)

LEASE_S = 60.0
"""How long a lease lasts without renewal: a dead holder blocks its dataset at most this long."""


def lease_uri(settings: Settings, dataset: str) -> str:
    assert settings.lake, "a lease lives on the object store"
    return f"{settings.lake}/_locks/{dataset}.lock"


@contextmanager
def dataset_lease(settings: Settings, run: RunContext, note: dict[str, object], wait_s: float) -> Iterator[None]:
    """Hold ``run.dataset``'s lease for the block; :class:`DatasetBusy` names the holder."""
    uri = lease_uri(settings, run.dataset)
    etag = _acquire(settings, uri, run, note, time.monotonic() + wait_s)
    renewal = _Renewal(uri, note, etag)
    renewal.start()
    try:
        yield
    finally:
        renewal.stop()
        current = read_object(uri)
        if current is not None and current.etag == renewal.etag:
            delete_object(uri)


def _encoded(note: dict[str, object]) -> bytes:
    return json.dumps({**note, "expires": time.time() + LEASE_S}).encode()


def _acquire(settings: Settings, uri: str, run: RunContext, note: dict[str, object], deadline: float) -> str:
    while True:
        etag = create_object(uri, _encoded(note))
        if etag is not None:
            return etag
        held = read_object(uri)
        if held is None:
            continue  # released between the two calls: try again at once
        holder = _decoded(held.data)
        if float(str(holder.get("expires", 0))) < time.time():
            taken = replace_object(uri, _encoded(note), held.etag)
            if taken is not None:
                _reap(settings, run, holder)
                return taken
            continue
        if time.monotonic() >= deadline:
            raise DatasetBusy(
                f"dataset {run.dataset!r} is being relabeled by {json.dumps(holder)}; run {run.run_id} "
                f"changed nothing (lease {uri}; set LABELLAKE_LOCK_WAIT_S to wait)"
            )
        time.sleep(1.0)


def _decoded(data: bytes) -> dict[str, object]:
    try:
        found = json.loads(data)
        return found if isinstance(found, dict) else {}
    except ValueError:
        return {}


def _reap(settings: Settings, run: RunContext, holder: dict[str, object]) -> None:
    """The previous holder's lease ran out while it held the dataset: its run is marked killed."""
    mark_dead_holder(settings, run.dataset, holder, found_by=run.run_id)


class _Renewal:
    """Renews the lease in a daemon thread until stopped; a lost lease is logged as an error."""

    def __init__(self, uri: str, note: dict[str, object], etag: str) -> None:
        self.uri, self.note, self.etag = uri, note, etag
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="labellake-lease", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(LEASE_S / 3):
            renewed = replace_object(self.uri, _encoded(self.note), self.etag)
            if renewed is None:
                log.error("lost the lease %s: another run took it over; stop this run", self.uri)
                return
            self.etag = renewed
