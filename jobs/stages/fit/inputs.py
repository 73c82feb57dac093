"""What the fit reads: the votes version this run settled on, the gold set, annotators as sources.

Everything is read by time travel at the versions recorded for this run, so a
later run rewriting the votes cannot change what this run fits on.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pyspark.sql import DataFrame, SparkSession

from jobs.core.datasets import DatasetConfig
from jobs.core.errors import StageOrderError
from jobs.core.lineage import RunContext
from jobs.core.settings import Settings
from jobs.hand_labels.annotator_sources import AnnotatorVotes, annotator_votes
from jobs.hand_labels.gold_set import GoldSet, refresh_gold_set, withheld_ids
from jobs.lake.runs import run_record
from jobs.lake.tables import DatasetTables, TableRef, commit_at, dataset_tables
from jobs.stages.fit.fit_key import fit_key, table_version


class StepClock:
    """Seconds per step of the fit, for its log line: where a slow fit spends its time."""

    def __init__(self) -> None:
        self._last = time.monotonic()
        self.laps: dict[str, float] = {}

    def lap(self, step: str) -> None:
        now = time.monotonic()
        self.laps[step] = self.laps.get(step, 0.0) + now - self._last
        self._last = now

    def __str__(self) -> str:
        return ", ".join(f"{step} {seconds:.1f}s" for step, seconds in self.laps.items())


@dataclass(frozen=True)
class FitInputs:
    """The fit's inputs at the versions this run settled on (annotators merged in as sources)."""

    tables: DatasetTables
    """The dataset's tables, resolved once for the run."""
    record: dict[str, Any]
    """The run's record (apply's votes version and LF errors)."""
    source_ref: TableRef
    source_version: int
    votes_ref: TableRef
    votes_version: int
    votes_meta: dict[str, Any]
    """The votes commit's metadata: ``lfs``, ``lf_versions``, ``lf_kinds``, ``lf_set_version``."""
    read_rows: Callable[[], tuple[DataFrame, DataFrame]]
    """``(ids, votes)`` at this run's versions, annotator votes merged in: read when first asked
    (:attr:`ids`, :attr:`votes`). An LF edit's fit updates the stored row patterns and never asks,
    and a Spark read of a table version replays its Delta log in small jobs."""
    gold_set: GoldSet | None
    annotators: AnnotatorVotes | None
    key: str
    """The fit key (:func:`jobs.stages.fit.fit_key.fit_key`)."""

    @property
    def lf_names(self) -> list[str]:
        return list(self.votes_meta["lfs"])

    @functools.cached_property
    def _rows(self) -> tuple[DataFrame, DataFrame]:
        return self.read_rows()

    @property
    def ids(self) -> DataFrame:
        """Every source row's id at the votes' source version."""
        return self._rows[0]

    @property
    def votes(self) -> DataFrame:
        """The votes at this run's version, annotator sources' votes included."""
        return self._rows[1]

    @property
    def annotator_sources(self) -> list[str]:
        return self.annotators.sources if self.annotators is not None else []


def settled_votes(
    spark: SparkSession, settings: Settings, ds: DatasetConfig, run: RunContext, votes: TableRef
) -> tuple[dict, int]:
    """The run's record and the votes version apply settled on for it; a StageOrderError without them."""
    if not votes.exists():
        raise StageOrderError(f"fit_label_model {ds.name}: votes table missing; run apply_lfs first")
    record = run_record(spark, settings, run.run_id, run.dataset) or {}
    if record.get("votes_version") is None:
        raise StageOrderError(
            f"fit_label_model {ds.name}: run {run.run_id!r} has no votes version on record; "
            "run apply_lfs for this run first"
        )
    return record, int(record["votes_version"])


def with_annotator_votes(votes: DataFrame, annotators: AnnotatorVotes) -> DataFrame:
    """Hand labels as sources of their own (:mod:`jobs.hand_labels.annotator_sources`)."""
    return votes.select("id", "lf", "vote").unionByName(annotators.votes)


def with_annotator_sources_meta(votes_meta: dict, annotators: AnnotatorVotes) -> dict:
    """The votes commit's metadata with the annotator sources as LFs of their own: their version is
    the annotations table's, so new annotations change the fit key and the lineage."""
    version = f"annotations@v{annotators.version}"
    return {
        **votes_meta,
        "lfs": list(votes_meta["lfs"]) + annotators.sources,
        "lf_versions": {**votes_meta["lf_versions"], **{name: version for name in annotators.sources}},
        "lf_kinds": {**(votes_meta.get("lf_kinds") or {}), **{name: "annotator" for name in annotators.sources}},
    }


def read_fit_inputs(spark: SparkSession, settings: Settings, ds: DatasetConfig, run: RunContext) -> FitInputs:
    """Read the votes and source ids at this run's versions, and refresh the gold set first: its
    evaluation rows' annotations must stay out of the fit (:mod:`jobs.hand_labels.gold_set`)."""
    tables = dataset_tables(settings, ds.name)
    votes_ref, source_ref = tables.votes, tables.source
    record, votes_version = settled_votes(spark, settings, ds, run, votes_ref)
    votes_meta = commit_at(spark, votes_ref, votes_version)
    source_version = int(votes_meta["source_version"])
    gold_set = refresh_gold_set(spark, settings, ds, run.run_id)
    annotators = annotator_votes(spark, settings, ds, withheld_ids(spark, gold_set))

    def read_rows() -> tuple[DataFrame, DataFrame]:
        votes = votes_ref.read(spark, votes_version)
        if annotators is not None:
            votes = with_annotator_votes(votes, annotators)
        return source_ref.read(spark, source_version).select("id"), votes

    if annotators is not None:
        votes_meta = with_annotator_sources_meta(votes_meta, annotators)
    gold_version = gold_set.version if gold_set else table_version(tables.gold)
    key = fit_key(
        ds,
        source_version,
        votes_version,
        votes_meta["lf_set_version"],
        gold_version,
        None if annotators is None else annotators.version,
    )
    return FitInputs(
        tables,
        record,
        source_ref,
        source_version,
        votes_ref,
        votes_version,
        votes_meta,
        read_rows,
        gold_set,
        annotators,
        key,
    )
