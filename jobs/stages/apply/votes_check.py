"""The votes suite: which LFs' votes a run checks, and the check itself (a blocking failure stops the run)."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from expectations.gx_runner import run_suite
from expectations.votes_suite import (
    build_votes_suite,
    in_space_from_ranges,
    observed_votes_value,
    vote_pairs,
    votes_view,
)
from jobs.core.datasets import DatasetConfig
from jobs.core.lineage import RunContext
from jobs.core.settings import Settings
from jobs.lake.table_files import partition_value_ranges
from jobs.lake.tables import TableRef, commit_history, runs_table
from jobs.stages.gate import ValidationReport, enforce
from lf_library.core import LFPack

log = logging.getLogger(__name__)


def computed_lfs(meta: dict[str, Any]) -> list[str]:
    """The LFs a votes commit computed votes for (every LF when rows changed or the run was full)."""
    changes = meta.get("row_changes") or {}
    if meta.get("mode") == "full" or any(changes.get(s, 0) for s in ("new", "changed")):
        return list(meta.get("lfs") or [])
    return list(meta.get("recomputed") or [])


def unvalidated_lfs(spark: SparkSession | None, settings: Settings, dataset: str, votes: TableRef) -> set[str]:
    """LFs with votes on record that no run has checked successfully since they were written.

    A run records ``votes_version`` with its votes outcomes only once its check
    passed. Walking back from the newest votes commit to the last one some run
    checked, every LF those commits computed is still unchecked: its check
    failed, or the run that wrote it died first. An edit of another LF in
    between does not clear it."""
    checked = _checked_votes_versions(settings, dataset)
    unchecked: set[str] = set()
    for version, meta in commit_history(spark, votes):
        if version in checked:
            break
        unchecked |= set(computed_lfs(meta))
    return unchecked


def _checked_votes_versions(settings: Settings, dataset: str) -> set[int]:
    """Votes versions some run of ``dataset`` recorded a passing votes check for."""
    ref = runs_table(settings)
    if not ref.exists():
        return set()
    from deltalake import DeltaTable

    rows = (
        DeltaTable(str(ref.path))
        .to_pyarrow_table(columns=["votes_version", "votes_validation"], filters=[("dataset", "=", dataset)])
        .to_pylist()
    )
    passed = set()
    for row in rows:
        outcomes = json.loads(row["votes_validation"] or "[]")
        if (
            row["votes_version"] is not None
            and outcomes
            and not any(not o["success"] and o["severity"] == "blocking" for o in outcomes)
        ):
            passed.add(int(row["votes_version"]))
    return passed


def validate_votes(
    spark: SparkSession,
    ds: DatasetConfig,
    settings: Settings,
    run: RunContext,
    pack: LFPack,
    votes: TableRef,
    votes_version: int,
) -> ValidationReport:
    """The votes suite on the version this run settled on, over the LFs of ``pack``: label
    spaces, and LFs that never fire. LFs whose file statistics settle their votes are not read
    (:func:`expectations.votes_suite.in_space_from_ranges`); an LF with no file in the version
    has no vote to read."""
    started = time.monotonic()
    space = pack.vote_space()
    ranges = partition_value_ranges(votes, votes_version, "lf", "vote")
    settled = in_space_from_ranges(ranges, space) if ranges is not None else []
    done = {r["lf"] for r in settled}
    to_count = [n for n in pack.names if n not in done and (ranges is None or n in ranges)]
    log.info(
        "apply_lfs %s: votes of %d LFs settled by file statistics, %d LFs' votes counted",
        ds.name,
        len(done),
        len(to_count),
    )
    if to_count:
        frame = votes.read(spark, votes_version).where(F.col("lf").isin(to_count))
        pairs = vote_pairs(spark, frame, {n: space[n] for n in to_count}).persist(StorageLevel.MEMORY_AND_DISK)
        try:
            view, outside = votes_view(frame, pairs, settled)
        finally:
            pairs.unpersist()
    else:
        view, outside = votes_view(None, None, settled)
    counting = time.monotonic() - started  # the pass over the votes is validation's cost too
    checked = run_suite(
        settings.home,
        ds.name,
        lambda: build_votes_suite(f"{ds.name}_votes", pack.names),
        view,
        run.run_id,
        ds.expectations.severity_of,
        observed_votes_value(pack.names, outside),
        index_columns=["lf", "vote"],
    )
    report = ValidationReport(thresholds=ds.expectations.record())
    report.add(checked)
    report.seconds += counting
    enforce(spark, settings, run, "apply_lfs", f"{votes.name}@v{votes_version}", report, "votes_validation")
    return report
