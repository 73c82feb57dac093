"""Runs that died holding their dataset (a lock file's note, or an expired lease) are recorded
``killed``, by whichever run or command finds them first."""

from __future__ import annotations

import logging
from typing import Any

from jobs.core.lineage import RunContext, utc_now
from jobs.core.settings import Settings

log = logging.getLogger(__name__)


def mark_dead_holder(settings: Settings, dataset: str, holder: Any, found_by: str) -> dict | None:
    """Record the run in a dead holder's note (a lock file's, or an expired lease's) as ``killed``,
    unless it had ended; what was recorded, or None."""
    try:
        dead = RunContext(str(holder["run_id"]), dataset, holder["trigger"], holder["dag_id"], holder["mode"])
    except (KeyError, TypeError, ValueError):
        log.warning("lock of %s: unreadable note from an earlier holder, ignored: %r", dataset, str(holder)[:200])
        return None
    from jobs.lake.runs import record_run, run_record

    recorded = run_record(None, settings, dead.run_id, dataset) or {}
    if recorded.get("status") in ("published", "failed", "killed"):
        log.warning("dataset %s: run %s died after it ended (%s); left as is", dataset, dead.run_id, recorded["status"])
        return None
    error = (
        f"killed: process {holder.get('pid')} on {holder.get('host')} died holding the dataset lock "
        f"(held since {holder.get('since')}); found by run {found_by}"
    )
    record_run(None, settings, dead, status="killed", error=error, finished_at=utc_now())
    log.warning("dataset %s: run %s was %s", dataset, dead.run_id, error)
    return {"run_id": dead.run_id, "dataset": dataset, "error": error}
