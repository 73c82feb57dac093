"""The fit's unit of work: every row's vote pattern, and each distinct pattern's count.

The counts are materialised in the ``pattern_counts`` table (one row per
distinct pattern), which the driver-side fit collects and the executor-side fit
aggregates. After an LF edit the rows are the last fit's stored patterns plus
the edited LFs' changes (:mod:`jobs.patterns.incremental`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession

from jobs.core.datasets import DatasetConfig
from jobs.core.lineage import RunContext
from jobs.core.settings import Settings
from jobs.lake.table_files import table_rows
from jobs.lake.tables import TableRef, commit_metadata, latest_commit, local_path, overwrite_small_table, table
from jobs.patterns.incremental import UpdatedPatterns, updated_patterns
from jobs.patterns.label_transitions import (
    pattern_labels_run,
    stored_label_counts,
    stored_pattern_labels,
    stored_pattern_table,
)
from jobs.patterns.moved_counts import counts_by_stored_label, moved_counts, origin_counts, pattern_counts
from jobs.patterns.vote_patterns import PatternCodec, RowPatterns, row_patterns
from jobs.stages.fit.inputs import FitInputs

log = logging.getLogger(__name__)

COUNTS_IN_HAND = 200_000
"""Most distinct patterns collected as Arrow and written by delta-rs (tens of MB with their strings)."""


@dataclass(frozen=True)
class FitPatterns:
    """The rows as patterns, their counts on record, and what the labels are compared against."""

    patterned: RowPatterns
    rows: DataFrame
    """Every row's pattern codes (cached when built from the votes; see :func:`count_patterns`)."""
    updated: UpdatedPatterns | None
    """The stored patterns plus the LF edit's changes, on an incremental rerun; else None."""
    against: str | None
    """The published run whose stored pattern labels the label changes are counted against."""
    split: DataFrame | pa.Table | None
    """Pattern counts split by the stored (published) label, when ``against`` is set (cached, or in
    hand when counted from the rows an edit moved)."""
    counts_ref: TableRef
    counts: DataFrame | None
    """The ``pattern_counts`` table as Spark wrote it for this run (None when ``counted``)."""
    counted: pa.Table | None
    """The pattern counts as collected and written by delta-rs (None when Spark wrote them)."""

    def unpersist(self) -> None:
        self.rows.unpersist()
        if isinstance(self.split, DataFrame):
            self.split.unpersist()


def published_pattern_labels_run(
    spark: SparkSession, settings: Settings, ds: DatasetConfig, updated: UpdatedPatterns | None
) -> str | None:
    """The run whose labels are published, when they are the pattern labels of the run that stored
    ``updated``'s row patterns: that run's labels are its pattern labels."""
    if updated is None or updated.stored_run is None:
        return None
    labels_ref = table(settings, ds.name, "labels")
    if not labels_ref.exists():
        return None
    _, meta = latest_commit(spark, labels_ref)
    return updated.stored_run if pattern_labels_run(meta) == updated.stored_run else None


def split_by_stored_label(
    spark: SparkSession, updated: UpdatedPatterns | None, stored: pa.Table | None, against: str | None, keys: list[str]
) -> DataFrame | None:
    """The pattern counts split by the label ``against`` (the run that stored the patterns) gave
    each row, when its pattern labels are on record (cached); else None."""
    if updated is None or against is None:
        return None
    if stored is None:
        log.info("fit_label_model: label changes not counted from patterns (no pattern labels of run %s)", against)
        return None
    return stored_label_counts(updated.origins, keys, stored_pattern_labels(spark, stored, keys)).persist()


def counted_from_moves(
    spark: SparkSession,
    patterned: RowPatterns,
    updated: UpdatedPatterns | None,
    stored: pa.Table | None,
    against: str | None,
    patterns_ref: TableRef,
) -> tuple[pa.Table, pa.Table | None] | None:
    """After an LF edit, when the stored run's rows per pattern are on record: the pattern counts
    and, with ``against``, their split by stored label, from the rows the edit moved
    (:mod:`jobs.patterns.moved_counts`); else None."""
    if updated is None or stored is None or "count" not in stored.column_names or patterned.codec is None:
        return None
    moved = moved_counts(updated, patterned.keys, COUNTS_IN_HAND)
    if moved is None:
        return None
    by_origin = origin_counts(stored, moved, patterned.keys)
    total = table_rows(spark, patterns_ref, updated.stored_version)
    if by_origin is None or int(by_origin["count"].sum()) != total:
        log.warning(
            "fit_label_model: pattern_labels' counts do not describe the stored row patterns; counting every row"
        )
        return None
    log.info(
        "fit_label_model: pattern counts from the stored run's counts and %d moved rows", int(moved["count"].sum())
    )
    split = counts_by_stored_label(by_origin, stored, patterned.keys) if against is not None else None
    return pattern_counts(by_origin, patterned), split


def count_patterns(
    spark: SparkSession, settings: Settings, ds: DatasetConfig, run: RunContext, inputs: FitInputs
) -> FitPatterns:
    """Row patterns (reusing the stored ones after an LF edit) and their counts, written to
    ``pattern_counts``. Annotator votes are not in the votes table's versions, so with annotators
    the patterns are rebuilt."""
    codec = PatternCodec.for_lfs(inputs.lf_names, len(ds.classes))
    updated = None
    if inputs.annotators is None:
        # A full run takes only the codes its own apply stored with the votes it wrote.
        updated = updated_patterns(
            spark,
            inputs.tables.row_patterns,
            inputs.votes_ref,
            codec,
            inputs.source_version,
            inputs.votes_version,
            inputs.lf_names,
            stored_by=run.run_id if run.mode == "full" else None,
        )
    if updated is not None and codec is not None:  # the votes and ids are never read
        patterned = RowPatterns(updated.rows, codec.columns, codec)
    else:
        patterned = row_patterns(inputs.ids, inputs.votes, inputs.lf_names, len(ds.classes))
    # Rows built from the votes are a pivot worth caching for their second pass (the staging write);
    # updated rows are a read of the stored codes plus a broadcast join, cheaper to read twice.
    rows = patterned.rows if updated is not None else patterned.rows.persist()
    # When the published labels are the pattern labels of the run that stored the rows, count the
    # patterns split by them: the label changes come from aggregates (jobs/patterns/label_transitions.py).
    against = published_pattern_labels_run(spark, settings, ds, updated)
    stored = None
    if updated is not None:
        ref, version = inputs.tables.pattern_labels, updated.stored_version
        stored = stored_pattern_table(spark, ref, patterned.keys, updated.stored_run, version)
    counts_ref = inputs.tables.pattern_counts
    meta = commit_metadata(
        run_id=run.run_id,
        stage="fit_label_model",
        dataset=ds.name,
        source_version=inputs.source_version,
        votes_version=inputs.votes_version,
    )
    in_hand = counted_from_moves(spark, patterned, updated, stored, against, inputs.tables.row_patterns)
    if in_hand is not None:
        counted, split = in_hand
        if local_path(counts_ref.path) is not None and _written_by_delta_rs(counts_ref, counted, meta):
            return FitPatterns(patterned, rows, updated, against, split, counts_ref, None, counted)
        counts_ref.overwrite(spark.createDataFrame(counted), meta)
        return FitPatterns(patterned, rows, updated, against, split, counts_ref, counts_ref.read(spark), None)
    split = split_by_stored_label(spark, updated, stored, against, patterned.keys)
    against = against if split is not None else None
    distinct = patterned.distinct_counts(split)
    counted = written_in_hand(distinct, counts_ref, meta) if patterned.codec is not None else None
    if counted is not None:
        return FitPatterns(patterned, rows, updated, against, split, counts_ref, None, counted)
    counts_ref.overwrite(distinct, meta)
    return FitPatterns(patterned, rows, updated, against, split, counts_ref, counts_ref.read(spark), None)


def written_in_hand(distinct: DataFrame, counts_ref: TableRef, user_metadata: str) -> pa.Table | None:
    """The pattern counts collected and written by delta-rs, when the table is on local disk, has
    at most :data:`COUNTS_IN_HAND` patterns and no feature delta-rs cannot write (column mapping);
    else None (Spark writes them). Packed codes mean a fit on the driver, which collects the
    counts anyway: Spark's overwrite of a small table and the read back cost a snapshot, a write
    job and a commit (docs/decisions/0015)."""
    if local_path(counts_ref.path) is None:
        return None
    counted = distinct.limit(COUNTS_IN_HAND + 1).toArrow()
    if counted.num_rows > COUNTS_IN_HAND:
        log.info("fit_label_model: over %d distinct patterns, written by Spark", COUNTS_IN_HAND)
        return None
    return counted if _written_by_delta_rs(counts_ref, counted, user_metadata) else None


def _written_by_delta_rs(counts_ref: TableRef, counted: pa.Table, user_metadata: str) -> bool:
    """Whether delta-rs overwrote ``pattern_counts`` with ``counted`` (not a table it refuses)."""
    try:
        overwrite_small_table(counts_ref, counted, user_metadata)
    except Exception as exc:  # noqa: BLE001 - a table feature delta-rs does not write: Spark's writer does
        log.info("fit_label_model: pattern counts written by Spark (delta-rs: %s)", str(exc).splitlines()[0])
        return False
    return True
