"""Row patterns after an LF edit: the last fit's patterns plus the edited LFs' vote changes.

Building every row's vote pattern is a ``groupBy(id)`` over every source id and
every vote (:mod:`jobs.vote_patterns`), the fit's largest per-row cost. When
only LFs changed since the last fit (same source version, same LF list), a
row's packed code changes by exactly its edited LFs' digits: new code = old
code - old digit + new digit. So the fit keeps its row codes as a table
(``<dataset>/row_patterns``, tagged with the source and votes versions it
describes) and a rerun after an LF edit reads them back and adds the
difference, computed from the edited LFs' votes alone (their partitions of
the old and new votes versions), joined to the rows by broadcast when it is
small. The result is the same codes a full rebuild gives; anything else
(source rows changed, LFs added or removed, votes rewritten in full,
annotators voting, the table missing or vacuumed) rebuilds from scratch, and
the log says why.

The stored rows also carry the label the storing fit gave each row, when it
labeled by pattern: a rerun then counts its label changes against those labels
from aggregates (``jobs/label_transitions.py``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.utils import AnalysisException

from jobs.label_transitions import STORED_LABEL
from jobs.tables import TableRef, commit_at, commit_metadata, latest_commit
from jobs.vote_patterns import PatternCodec

log = logging.getLogger(__name__)

BROADCAST_ROWS = 2_000_000
"""Largest difference (rows whose code changed) joined by broadcast instead of a shuffle of every row."""


def _votes_commits(spark: SparkSession, votes_ref: TableRef, after: int, upto: int) -> list[dict]:
    """userMetadata of the votes commits ``after < version <= upto``, oldest first."""
    return [commit_at(spark, votes_ref, version) for version in range(int(after) + 1, int(upto) + 1)]


def _edited_lfs(spark: SparkSession, votes_ref: TableRef, after: int, upto: int, source_version: int,
                lf_names: list[str]) -> list[str] | str:
    """The LFs whose votes changed between two votes versions, or why that cannot be told from
    the commits (then the patterns are rebuilt)."""
    edited: set[str] = set()
    for meta in _votes_commits(spark, votes_ref, after, upto):
        if meta.get("mode") != "incremental":
            return f"the votes were rewritten in {meta.get('mode') or 'an unknown'} mode"
        if meta.get("source_version") != source_version or any((meta.get("row_changes") or {}).values()):
            return "source rows changed"
        if meta.get("removed") or list(meta.get("lfs") or []) != lf_names:
            return "LFs were added or removed"
        edited.update(meta.get("recomputed") or [])
    return sorted(edited)


def _digits(codec: PatternCodec, votes: DataFrame, sign: int) -> DataFrame:
    """``(id, _p0, ...)`` per vote: the vote's digit in its column, ``sign`` times."""
    return codec.vote_digits(votes).select("id", *[(F.col(c) * sign).alias(c) for c in codec.columns])


@dataclass(frozen=True)
class UpdatedPatterns:
    """Every row's codes after the edit (``id``, codes, and the stored label when there is one)."""

    rows: DataFrame
    stored_run: str | None
    """The run whose fit stored the patterns (and the labels in :data:`STORED_LABEL`)."""

    @property
    def has_stored_labels(self) -> bool:
        return STORED_LABEL in self.rows.columns


def updated_patterns(spark: SparkSession, patterns_ref: TableRef, votes_ref: TableRef, codec: PatternCodec | None,
                     source_version: int, votes_version: int, lf_names: list[str]) -> UpdatedPatterns | None:
    """Every row's codes at ``votes_version`` from the stored ones, or None (with the reason
    logged) when they must be rebuilt."""
    if codec is None or not patterns_ref.exists():
        return None
    version, meta = latest_commit(spark, patterns_ref)
    if (meta.get("source_version") != source_version or meta.get("lfs") != lf_names
            or meta.get("base") != codec.base or meta.get("votes_version", votes_version + 1) > votes_version):
        log.info("fit_label_model: row patterns rebuilt (stored ones describe another source, LF list or votes)")
        return None
    edited = _edited_lfs(spark, votes_ref, int(meta["votes_version"]), votes_version, source_version, lf_names)
    if isinstance(edited, str):
        log.info("fit_label_model: row patterns rebuilt (%s)", edited)
        return None
    try:
        stored = spark.read.format("delta").option("versionAsOf", version).load(str(patterns_ref.path))
        if not edited:
            return UpdatedPatterns(stored, meta.get("run_id"))
        def edited_votes(version: int) -> DataFrame:
            return (spark.read.format("delta").option("versionAsOf", version).load(str(votes_ref.path))
                    .where(F.col("lf").isin(edited)))

        old, new = edited_votes(int(meta["votes_version"])), edited_votes(votes_version)
        old.schema, new.schema, stored.schema  # resolve now: a vacuumed version fails here, not mid-fit
    except AnalysisException as e:
        log.info("fit_label_model: row patterns rebuilt (%s)", str(e).splitlines()[0])
        return None
    change = (_digits(codec, new, 1).unionByName(_digits(codec, old, -1))
              .groupBy("id").agg(*[F.sum(c).alias(c) for c in codec.columns])
              .where(" OR ".join(f"`{c}` <> 0" for c in codec.columns))
              .select("id", *[F.col(c).alias(f"_d{c}") for c in codec.columns])).persist()
    changed_rows = change.count()
    log.info("fit_label_model: row patterns updated from v%d: %d LFs edited (%s), %d rows changed pattern",
             version, len(edited), ", ".join(edited), changed_rows)
    joined = stored.join(F.broadcast(change) if changed_rows <= BROADCAST_ROWS else change, "id", "left")
    carried = [STORED_LABEL] if STORED_LABEL in stored.columns else []
    return UpdatedPatterns(joined.select("id", *[(F.col(c) + F.coalesce(F.col(f"_d{c}"), F.lit(0))).alias(c)
                                                 for c in codec.columns], *carried), meta.get("run_id"))


def store_patterns(rows: DataFrame, patterns_ref: TableRef, codec: PatternCodec | None, run_id: str,
                   source_version: int, votes_version: int, lf_names: list[str]) -> None:
    """Keep this fit's row codes for the next rerun (no statistics: nothing filters on them), with
    each row's label in :data:`STORED_LABEL` when ``rows`` has it."""
    if codec is None:
        return
    labels = [STORED_LABEL] if STORED_LABEL in rows.columns else []
    (rows.select("id", *codec.columns, *labels)
     .write.format("delta").mode("overwrite").option("overwriteSchema", "true")
     .option("delta.dataSkippingNumIndexedCols", "0")
     .option("userMetadata", commit_metadata(run_id=run_id, stage="fit_label_model", source_version=source_version,
                                             votes_version=votes_version, lfs=lf_names, base=codec.base))
     .save(str(patterns_ref.path)))
