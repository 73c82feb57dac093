"""Stages whose outputs are already on record: found from Delta logs alone, with no Spark job.

On a quiet night (the same input files, the same LFs, the same config) every stage's
answer is in the tables already: the votes on record are this run's votes and the
published labels stay current. Both are decided here from commit metadata read with
delta-rs, so the DAG runs such a night without starting a JVM
(:func:`jobs.pipeline.stage_without_spark`), and an in-process run skips the Spark
reads it would make to learn the same thing. Anything these functions cannot decide
(a remote store, a table delta-rs cannot read, a gold-set rule, annotator sources)
answers None: the stage then runs with Spark as usual.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from jobs.core.datasets import DatasetConfig
from jobs.core.lineage import RunContext
from jobs.core.settings import Settings
from jobs.lake.runs import run_record
from jobs.lake.tables import TableRef, commit_at, delta_rs_location, latest_commit, table
from jobs.stages.apply.recompute_plan import RecomputePlan
from jobs.stages.apply.registry import upsert_registry
from jobs.stages.apply.stage import ApplyResult
from jobs.stages.apply.votes import load_dataset_pack
from jobs.stages.apply.votes_check import unvalidated_lfs
from jobs.stages.fit.fit_key import FitResult, current_labels, fit_key
from lf_library.core import LFPack

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CurrentVotes:
    """The votes on record, found to be exactly what ``apply_lfs`` would compute for a run now."""

    pack: LFPack
    source_version: int
    votes_version: int


def _local_rows(ref: TableRef, version: int | None = None) -> int:
    """Rows of ``ref`` (at ``version``) from its files' footers: no data is read."""
    from deltalake import DeltaTable

    return int(DeltaTable(str(ref.path), version=version).to_pyarrow_dataset().count_rows())


def current_votes(ds: DatasetConfig, settings: Settings, run: RunContext) -> CurrentVotes | None:
    """The votes on record when an incremental ``apply_lfs`` would change nothing: the source has
    the version they were computed from, the pack has their LF versions and classes, and every
    LF's votes passed their check. Reads Delta logs only; None when anything differs."""
    source, votes = table(settings, ds.name, "source"), table(settings, ds.name, "votes")
    if run.mode != "incremental" or delta_rs_location(votes.path) is None or not (source.exists() and votes.exists()):
        return None
    from deltalake import DeltaTable

    if DeltaTable(str(votes.path)).metadata().partition_columns != ["lf"]:
        return None
    votes_version, meta = latest_commit(None, votes)
    pack = load_dataset_pack(ds)
    source_version = DeltaTable(str(source.path)).version()
    unchanged = (
        meta.get("lf_versions") == pack.versions
        and meta.get("source_version") == source_version
        and list(meta.get("classes") or []) == list(pack.classes)
    )
    if not unchanged or unvalidated_lfs(None, settings, ds.name, votes):
        return None
    return CurrentVotes(pack, source_version, votes_version)


def reuse_votes(current: CurrentVotes, ds: DatasetConfig, settings: Settings, run: RunContext) -> ApplyResult:
    """``apply_lfs``'s result for a run whose votes are ``current``: no new votes version, no check
    to run; the LF registry records that this run used the pack."""
    pack = current.pack
    total_rows = _local_rows(table(settings, ds.name, "source"), current.source_version)
    plan = RecomputePlan(
        mode="incremental",
        reason="diff against the votes on record",
        previous_votes_version=current.votes_version,
        previous_source_version=current.source_version,
    )
    upsert_registry(settings, pack, ds, run)
    n_votes = _local_rows(table(settings, ds.name, "votes"), current.votes_version)
    log.info(
        "apply_lfs %s: nothing changed since votes@v%d (%d LFs over source@v%d): %d votes reused, none checked",
        ds.name,
        current.votes_version,
        len(pack),
        current.source_version,
        n_votes,
    )
    return ApplyResult(
        current.source_version,
        len(pack),
        n_votes,
        current.votes_version,
        {},
        pack.set_version,
        plan,
        plan.record(pack, total_rows),
        [],
        0.0,
    )


def labels_still_current(
    ds: DatasetConfig, settings: Settings, run: RunContext, quiet: bool = False
) -> FitResult | None:
    """The published labels when ``run``'s fit would reproduce them: they were fitted with the same
    fit key (config, source, votes, LF set, gold, code). Without a gold-set rule or annotator
    sources the key comes from Delta logs alone; with them, None (the fit reads them with Spark)."""
    if run.mode == "full" or ds.gold_set is not None or ds.annotator_sources:
        return None
    votes_ref, gold_ref = table(settings, ds.name, "votes"), table(settings, ds.name, "gold")
    if delta_rs_location(votes_ref.path) is None or not votes_ref.exists():
        return None
    record = run_record(None, settings, run.run_id, run.dataset) or {}
    if record.get("votes_version") is None:
        return None
    votes_version = int(record["votes_version"])
    votes_meta = commit_at(None, votes_ref, votes_version)
    from deltalake import DeltaTable

    gold_version = DeltaTable(str(gold_ref.path)).version() if gold_ref.exists() else None
    key = fit_key(ds, int(votes_meta["source_version"]), votes_version, votes_meta["lf_set_version"], gold_version)
    return current_labels(None, settings, ds, key, quiet=quiet)
