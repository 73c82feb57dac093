"""Row patterns after an LF edit: the last fit's patterns plus the edited LFs' vote changes.

Building every row's vote pattern is a ``groupBy(id)`` over every source id and
every vote (:mod:`jobs.patterns.vote_patterns`), the fit's largest per-row cost. When
only LFs changed since the last fit (same source version, same LF list), a
row's packed code changes by exactly its edited LFs' digits: new code = old
code - old digit + new digit. So the row codes are kept as a table
(``<dataset>/row_patterns``, tagged with the source and votes versions it
describes; written by a full recompute's apply, or by the fit that built
them) and a rerun after an LF edit reads them back and adds the
difference, computed from the edited LFs' votes alone (their partitions of
the old and new votes versions), joined to the rows by broadcast when it is
small. The result is the same codes a full rebuild gives; anything else
(source rows changed, LFs added or removed, votes rewritten in full,
annotators voting, the table missing or vacuumed) rebuilds from scratch, and
the log says why.

The storing run's labels are kept per pattern, not per row (``<dataset>/pattern_labels``):
a rerun counts its label changes against them from aggregates, grouping its rows
by (stored pattern, difference) (``jobs/patterns/label_transitions.py``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import reduce
from typing import TYPE_CHECKING

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.utils import AnalysisException

from jobs.lake.table_files import partition_parquet_files, plain_parquet_files
from jobs.lake.tables import TableRef, commit_at, commit_metadata, latest_commit
from jobs.patterns.vote_changes import code_changes, listed_votes
from jobs.patterns.vote_patterns import PatternCodec

if TYPE_CHECKING:
    import pyarrow as pa

log = logging.getLogger(__name__)

BROADCAST_ROWS = 2_000_000
"""Largest difference (rows whose code changed) joined by broadcast instead of a shuffle of every row."""


def _votes_commits(spark: SparkSession, votes_ref: TableRef, after: int, upto: int) -> list[dict]:
    """userMetadata of the votes commits ``after < version <= upto``, oldest first."""
    return [commit_at(spark, votes_ref, version) for version in range(int(after) + 1, int(upto) + 1)]


def _edited_lfs(
    spark: SparkSession, votes_ref: TableRef, after: int, upto: int, source_version: int, lf_names: list[str]
) -> list[str] | str:
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


VOTE_FILE_COLUMNS = "id string, vote int, lf_version string"
"""The columns of a votes file: ``lf``, the partition column, is in its path."""


def votes_of(spark: SparkSession, votes_ref: TableRef, version: int, lfs: list[str]) -> DataFrame:
    """``lfs``' votes at ``version``: their Parquet files read as such when delta-rs lists them
    (:func:`~jobs.lake.table_files.partition_parquet_files`: no log replay of an older version),
    else through Delta time travel."""
    files = partition_parquet_files(votes_ref, version, "lf", lfs)
    if files is None:
        return votes_ref.read(spark, version).where(F.col("lf").isin(lfs))
    parts = [
        spark.read.schema(VOTE_FILE_COLUMNS).parquet(*paths).withColumn("lf", F.lit(lf))
        for lf, paths in files.items()
        if paths
    ]
    if not parts:
        return spark.createDataFrame([], f"lf string, {VOTE_FILE_COLUMNS}")
    return reduce(DataFrame.unionByName, parts)


ARROW_CHANGE_ROWS = 1_000_000
"""Largest difference handed to Arrow readers of the stored files (:class:`StoredRowFiles`): it is
shipped to them through the driver, as Spark ships a broadcast join's side (about 40 MB at this size)."""


@dataclass(frozen=True)
class StoredRowFiles:
    """The stored row patterns' Parquet files plus the edit's code differences: the updated rows
    for a writer that reads them with Arrow on the executors (``jobs/stages/fit/staging.py``) rather
    than through Spark's slower Arrow conversion (docs/decisions/0005)."""

    files: tuple[str, ...]
    columns: tuple[str, ...]
    """The codec's code columns."""
    change: pa.Table | None
    """``id`` and ``_d<column>`` per row whose codes changed (None: no LF edited)."""

    def rows(self, path: str) -> pa.Table:
        """``id`` and the updated codes of one stored file's rows: the same arithmetic as
        :func:`updated_patterns`'s Spark rows (old code + the row's difference, 0 when none)."""
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        stored = pq.read_table(path, columns=["id", *self.columns])
        if self.change is None:
            return stored
        ids = stored.column("id")
        at = pc.index_in(ids, value_set=self.change.column("id").cast(ids.type))
        return pa.table(
            [
                stored.column("id"),
                *[
                    pc.add(stored.column(c), pc.fill_null(pc.take(self.change.column(f"_d{c}"), at), 0))
                    for c in self.columns
                ],
            ],
            names=["id", *self.columns],
        )

    def moved_pairs(self, path: str) -> pa.Table:
        """``(<column>..., _s<column>..., count)``: one stored file's rows whose codes the edit
        changed, counted by (new codes, stored codes)."""
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        assert self.change is not None  # only an edit moves rows
        stored = pq.read_table(path, columns=["id", *self.columns])
        change_ids = self.change.column("id").cast(stored.schema.field("id").type)
        moved = stored.filter(pc.is_in(stored.column("id"), value_set=change_ids))
        at = pc.index_in(moved.column("id"), value_set=change_ids)
        new = [pc.add(moved.column(c), pc.take(self.change.column(f"_d{c}"), at)) for c in self.columns]
        old = [moved.column(c) for c in self.columns]
        pairs = pa.table([*new, *old], names=[*self.columns, *[STORED_PREFIX + c for c in self.columns]])
        counted = pairs.group_by(pairs.column_names).aggregate([([], "count_all")])
        return pa.table({**{c: counted.column(c) for c in pairs.column_names}, "count": counted.column("count_all")})

    def indexed_rows(self, path: str, keys: pa.Table, index: str) -> pa.Table:
        """``id`` and ``index`` (looked up in ``keys``: the code columns and ``index``, one row per
        pattern) of one stored file's rows. A row whose pattern ``keys`` lacks is an error that
        names the file: it would otherwise be staged without a label."""
        rows = self.rows(path)
        joined = rows.join(keys.select([*self.columns, index]), list(self.columns), join_type="left outer")
        missing = joined.column(index).null_count
        if missing:
            raise ValueError(f"row patterns {path}: {missing} rows have a pattern the fit did not predict")
        return joined.select(["id", index])


STORED_PREFIX = "_s"
"""Prefix of :attr:`UpdatedPatterns.origins`' columns holding a row's stored codes."""


@dataclass(frozen=True)
class UpdatedPatterns:
    """Every row's codes after the edit (``id`` and codes), and where they came from."""

    rows: DataFrame
    stored_run: str | None
    """The run that stored the patterns (its labels per pattern may be in ``pattern_labels``)."""
    stored_version: int
    """The ``row_patterns`` version read."""
    origins: DataFrame
    """Per row, its codes now and its stored codes (``_s<column>``): grouped, the pattern counts
    split by stored pattern, which the stored run's pattern labels turn into label changes."""
    files: StoredRowFiles | None = None
    """The same rows as Parquet files plus a difference Arrow can apply, when there are such files
    (a local table on the plain protocol) and the difference is at most :data:`ARROW_CHANGE_ROWS`."""
    edited: tuple[str, ...] = ()
    """The LFs whose vote changes were added to the stored codes."""
    moved: DataFrame | None = None
    """``origins`` of the rows whose codes the edit changed, only (None: no LF edited). With the
    stored run's rows per pattern, their counts give every row's (pattern, stored pattern) counts
    without an aggregate over every row (:mod:`jobs.patterns.moved_counts`)."""


def _votes_written_by(spark: SparkSession, votes_ref: TableRef, meta: dict, votes_version: int) -> bool:
    """Whether the votes version apply's stored codes name (written before the votes) exists and
    was written by the run that stored them: a write that failed in between left codes that
    describe no votes on record."""
    version = meta.get("votes_version")
    if not isinstance(version, int) or version > votes_version:
        return False
    try:
        return commit_at(spark, votes_ref, version).get("run_id") == meta.get("run_id")
    except KeyError:
        return False


def updated_patterns(
    spark: SparkSession,
    patterns_ref: TableRef,
    votes_ref: TableRef,
    codec: PatternCodec | None,
    source_version: int,
    votes_version: int,
    lf_names: list[str],
    stored_by: str | None = None,
) -> UpdatedPatterns | None:
    """Every row's codes at ``votes_version`` from the stored ones, or None (with the reason
    logged) when they must be rebuilt. ``stored_by``: only patterns that run stored will do."""
    if codec is None or not patterns_ref.exists():
        return None
    version, meta = latest_commit(spark, patterns_ref)
    if stored_by is not None and meta.get("run_id") != stored_by:
        return None
    if meta.get("stage") == "apply_lfs" and not _votes_written_by(spark, votes_ref, meta, votes_version):
        log.info("fit_label_model: row patterns rebuilt (the stored ones name votes their run did not write)")
        return None
    if (
        meta.get("source_version") != source_version
        or meta.get("lfs") != lf_names
        or meta.get("base") != codec.base
        or meta.get("votes_version", votes_version + 1) > votes_version
    ):
        log.info("fit_label_model: row patterns rebuilt (stored ones describe another source, LF list or votes)")
        return None
    edited = _edited_lfs(spark, votes_ref, int(meta["votes_version"]), votes_version, source_version, lf_names)
    if isinstance(edited, str):
        log.info("fit_label_model: row patterns rebuilt (%s)", edited)
        return None
    try:
        stored = patterns_ref.read(spark, version).select("id", *codec.columns)
        files = plain_parquet_files(patterns_ref, version)
        if not edited:
            return UpdatedPatterns(
                stored,
                meta.get("run_id"),
                version,
                stored.select(*codec.columns, *[F.col(c).alias(STORED_PREFIX + c) for c in codec.columns]),
                None if files is None else StoredRowFiles(tuple(files), tuple(codec.columns), None),
            )

        versions = (int(meta["votes_version"]), votes_version)
        listed = listed_votes(votes_ref, versions, edited) if files is not None else None
        if listed is not None:  # the edited LFs' votes are few files: Arrow sums their differences
            in_hand = code_changes(codec, *listed)
            change = spark.createDataFrame(in_hand).persist()
        else:
            old, new = (votes_of(spark, votes_ref, v, edited) for v in versions)
            _ = (old.schema, new.schema, stored.schema)  # resolve now: a vacuumed version fails here, not mid-fit
            change, in_hand = _spark_change(codec, old, new), None
    except AnalysisException as e:
        log.info("fit_label_model: row patterns rebuilt (%s)", str(e).splitlines()[0])
        return None
    return _with_changes(stored, codec, files, (change, in_hand), edited, version, meta.get("run_id"))


def _spark_change(codec: PatternCodec, old: DataFrame, new: DataFrame) -> DataFrame:
    """``(id, _d<column>...)`` per row whose codes the edit changed, by Spark (cached)."""
    return (
        _digits(codec, new, 1)
        .unionByName(_digits(codec, old, -1))
        .groupBy("id")
        .agg(*[F.sum(c).alias(c) for c in codec.columns])
        .where(" OR ".join(f"`{c}` <> 0" for c in codec.columns))
        .select("id", *[F.col(c).alias(f"_d{c}") for c in codec.columns])
    ).persist()


def _with_changes(
    stored: DataFrame,
    codec: PatternCodec,
    files: list[str] | None,
    changes: tuple[DataFrame, pa.Table | None],
    edited: list[str],
    version: int,
    stored_run: str | None,
) -> UpdatedPatterns:
    """The stored codes plus each row's code difference (``changes``: cached, and in Arrow when
    computed there) between the edited LFs' old and new votes."""
    change, in_hand = changes
    changed_rows = in_hand.num_rows if in_hand is not None else change.count()
    log.info(
        "fit_label_model: row patterns updated from v%d: %d LFs edited (%s), %d rows changed pattern",
        version,
        len(edited),
        ", ".join(edited),
        changed_rows,
    )
    side = F.broadcast(change) if changed_rows <= BROADCAST_ROWS else change
    joined = stored.join(side, "id", "left")
    arrow = (
        StoredRowFiles(tuple(files), tuple(codec.columns), in_hand if in_hand is not None else change.toArrow())
        if files is not None and changed_rows <= ARROW_CHANGE_ROWS
        else None
    )
    codes = [(F.col(c) + F.coalesce(F.col(f"_d{c}"), F.lit(0))).alias(c) for c in codec.columns]
    stored_codes = [F.col(c).alias(STORED_PREFIX + c) for c in codec.columns]
    origins = joined.select(*codes, *stored_codes)
    moved = stored.join(side, "id", "inner").select(*codes, *stored_codes)
    return UpdatedPatterns(joined.select("id", *codes), stored_run, version, origins, arrow, tuple(edited), moved)


ROW_PATTERN_FILE_ROWS = 1_000_000
"""Most rows per stored row-pattern file: a rerun's staging writer takes one file per task
(``StoredRowFiles``), and apply's two LF tasks at 10M rows would otherwise leave two 5M-row files."""


def store_patterns(
    rows: DataFrame,
    patterns_ref: TableRef,
    codec: PatternCodec | None,
    run_id: str,
    source_version: int,
    votes_version: int,
    lf_names: list[str],
    stage: str = "fit_label_model",
    extra: list[str] | None = None,
) -> None:
    """Keep this run's row codes (and ``extra`` columns of ``rows``) for its fit and the next
    rerun (no statistics: nothing filters on them)."""
    if codec is None:
        return
    (
        rows.select("id", *codec.columns, *(extra or []))
        .write.format("delta")
        .mode("overwrite")
        .option("overwriteSchema", "true")
        .option("delta.dataSkippingNumIndexedCols", "0")
        .option("maxRecordsPerFile", ROW_PATTERN_FILE_ROWS)
        .option(
            "userMetadata",
            commit_metadata(
                run_id=run_id,
                stage=stage,
                source_version=source_version,
                votes_version=votes_version,
                lfs=lf_names,
                base=codec.base,
            ),
        )
        .save(str(patterns_ref.path))
    )
