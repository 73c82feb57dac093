"""Why a row is quarantined, if it is: parse errors, repeated headers, bad bytes, blank or repeated ids.

Reasons, in the order they are tested:

- ``malformed record``: the parser could not split the line into the header's
  columns (the raw line is kept in ``_corrupt_record``);
- ``a repeated header line`` (CSV): the id, text and gold values are their column names;
- ``null or empty id`` / ``null or empty text``;
- ``duplicate id``: a later row with an id already seen; the first row (by file
  name, then position in the file) is kept, and the reason says whether the
  duplicate is identical to it or conflicts with it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import reduce
from typing import Any

from pyspark.sql import Column, DataFrame, Row, Window
from pyspark.sql import functions as F

from expectations.fingerprint import combined_fingerprint, fingerprint_aggregates
from jobs.core.datasets import ROW_ID, DatasetConfig
from jobs.stages.ingest.read import CORRUPT, FILE_PROBLEM, INTERNAL_COLUMNS, REASON
from jobs.stages.ingest.utf8_check import INVALID_UTF8, invalid_columns, quoted_column

log = logging.getLogger(__name__)


def _blank(col: Column) -> Column:
    return col.isNull() | (F.trim(col) == F.lit(""))


def has_repeated_ids(raw: DataFrame, ds: DatasetConfig) -> bool:
    """Could a non-blank id occur on two input rows? (ids only: an aggregate, no sort, no text.)

    The duplicate rules below need a window over every row sorted by id, the
    most expensive step of an ingest (the whole row is shuffled and sorted);
    a nightly drop rarely repeats an id, so that window runs only when this
    says it must. ``@row`` ids are unique by construction.
    """
    if ds.id_column == ROW_ID:
        return False
    # Counted by a 64-bit hash of the id: a shuffle of longs, not of strings, and one reduce job (a
    # ``limit(1)`` on the counts ran several). Two ids that share a hash (about 3 in a million at 10M
    # ids) only send the ingest down the exact window path, which then finds no duplicate.
    # Shuffled by hash into the configured partitions first: left to AQE, the exchange of millions
    # of distinct hashes was coalesced into two tasks, whose hash maps spilled (docs/decisions/0013).
    hashes = raw.where(~_blank(quoted_column(ds.id_column))).select(
        F.xxhash64(quoted_column(ds.id_column)).alias("_id_hash")
    )
    partitions = int(raw.sparkSession.conf.get("spark.sql.shuffle.partitions") or 8)
    counts = hashes.repartition(partitions, "_id_hash").groupBy("_id_hash").count()
    most = counts.agg(F.max("count")).first()
    return most is not None and (most[0] or 0) > 1


def _repeats_header(ds: DatasetConfig) -> Column:
    """True on a CSV row whose id, text and gold values are their own column names: the header again,
    as when exports are concatenated (``cat a.csv b.csv``)."""
    if ds.format != "csv":
        return F.lit(False)
    named = [c for c in (ds.id_column, ds.text_column, ds.gold_column) if c and c != ROW_ID]
    return reduce(lambda a, b: a & b, [F.coalesce(quoted_column(c) == F.lit(c), F.lit(False)) for c in named])


def classify(raw: DataFrame, ds: DatasetConfig, repeated_ids: bool | None = None) -> DataFrame:
    """Add ``_reason``: null for accepted rows, else why the row is quarantined. ``repeated_ids``:
    :func:`has_repeated_ids`, when the caller already knows it."""
    data_columns = [c for c in raw.columns if c not in INTERNAL_COLUMNS]
    bad_bytes = F.col(INVALID_UTF8).isNotNull() & F.lit(ds.invalid_utf8 == "quarantine")
    first_reason = (
        F.when(F.col(FILE_PROBLEM).isNotNull(), F.concat(F.lit("file quarantined whole: "), F.col(FILE_PROBLEM)))
        .when(F.col(CORRUPT).isNotNull(), F.lit("malformed record"))
        .when(_repeats_header(ds), F.lit("a repeated header line"))
        .when(bad_bytes, F.concat(F.lit("invalid UTF-8 bytes in "), invalid_columns(F.col(INVALID_UTF8))))
        .when(_blank(quoted_column(ds.id_column)), F.lit("null or empty id"))
        .when(_blank(quoted_column(ds.text_column)), F.lit("null or empty text"))
    )
    if not (has_repeated_ids(raw, ds) if repeated_ids is None else repeated_ids):
        return raw.withColumn(REASON, first_reason)  # no id twice: no duplicate to find
    row_hash = F.sha2(
        F.concat_ws("\u0001", *[F.coalesce(quoted_column(c), F.lit("\u0000")) for c in data_columns]), 256
    )
    staged = raw.withColumn(REASON, first_reason).withColumn("_row_hash", row_hash)
    by_id = Window.partitionBy(quoted_column(ds.id_column)).orderBy(
        F.col(REASON).isNotNull(), F.col("_source_file"), F.col("_row_order")
    )
    ranked = (
        staged.withColumn("_rank", F.row_number().over(by_id))
        .withColumn("_first_hash", F.first("_row_hash").over(by_id))
        .withColumn("_first_file", F.first("_source_file").over(by_id))
    )
    duplicate = F.col(REASON).isNull() & (F.col("_rank") > 1)
    dup_reason = F.concat(
        F.when(F.col("_row_hash") == F.col("_first_hash"), F.lit("duplicate id (identical row)")).otherwise(
            F.lit("duplicate id (conflicting content)")
        ),
        F.lit(" first kept from "),
        F.col("_first_file"),
    )
    return ranked.withColumn(REASON, F.when(duplicate, dup_reason).otherwise(F.col(REASON))).drop(
        "_rank", "_first_hash", "_first_file", "_row_hash"
    )


MOSTLY_MALFORMED = 0.5
"""A file more than this share of whose records do not parse is not the declared format: all of it is quarantined."""


@dataclass(frozen=True)
class FileVerdicts:
    """What the per-file aggregate found: rows per reason ("" = accepted), each file's quarantined
    share, and the fingerprint of the accepted ids (:mod:`expectations.fingerprint`, as
    validation takes it of the candidate labels' ids)."""

    by_reason: dict[str, int]
    file_shares: dict[str, float]
    accepted_ids: dict[str, int]
    groups: list[dict[str, Any]]
    """One per file and reason: ``rows``, ``blank_ids``, ``blank_texts`` and whether they are
    ``quarantined`` (the source suite's rows, :func:`expectations.source_suite.source_suite_frame`)."""


def quarantine_unparseable_files(classified: DataFrame, ds: DatasetConfig) -> tuple[DataFrame, FileVerdicts]:
    """Quarantine whole files whose records mostly fail to parse; with them, what each file holds.

    One aggregate (a row per file and reason) gives the counts, the files to reject, the
    accepted ids' fingerprint and the blank ids and texts the source suite checks, so a file of
    another format cannot slip a few lucky rows through."""
    reason = F.coalesce(F.regexp_replace(F.col(REASON), " first kept from .*$", ""), F.lit(""))
    per_group = classified.groupBy("_source_file", reason.alias(REASON)).agg(
        F.count(F.lit(1)).alias("count"),
        F.count(F.when(_blank(quoted_column(ds.id_column)), 1)).alias("blank_ids"),
        F.count(F.when(_blank(quoted_column(ds.text_column)), 1)).alias("blank_texts"),
        *fingerprint_aggregates(quoted_column(ds.id_column)),
    )
    per_file: dict[str, dict[str, int]] = {}
    accepted_ids_of: dict[str, Row] = {}
    found = per_group.collect()
    for r in found:
        per_file.setdefault(r["_source_file"], {})[r[REASON]] = int(r["count"])
        if r[REASON] == "":
            accepted_ids_of[r["_source_file"]] = r
    rejected = {}
    for path, counts in per_file.items():
        malformed, total = counts.get("malformed record", 0), sum(counts.values())
        if malformed > MOSTLY_MALFORMED * total:
            rejected[path] = f"file quarantined whole: {malformed} of {total} records do not parse as {ds.format}"
            log.warning("ingest %s: %s: %s", ds.name, path, rejected[path])
    accepted_ids = combined_fingerprint(r for path, r in accepted_ids_of.items() if path not in rejected)
    groups = [
        {
            "file": r["_source_file"],
            "rows": int(r["count"]),
            "blank_ids": int(r["blank_ids"]),
            "blank_texts": int(r["blank_texts"]),
            "quarantined": r[REASON] != "" or r["_source_file"] in rejected,
        }
        for r in found
    ]
    verdicts = FileVerdicts(_by_reason(per_file, rejected), _shares(per_file, rejected), accepted_ids, groups)
    if not rejected:
        return classified, verdicts
    mapping = F.create_map(*[F.lit(x) for pair in rejected.items() for x in pair])
    return classified.withColumn(REASON, F.coalesce(mapping[F.col("_source_file")], F.col(REASON))), verdicts


def _by_reason(per_file: dict[str, dict[str, int]], rejected: dict[str, str]) -> dict[str, int]:
    by_reason: dict[str, int] = {}
    for path, counts in per_file.items():
        for why, n in counts.items():
            key = rejected.get(path, why)
            by_reason[key] = by_reason.get(key, 0) + n
    return by_reason


def _shares(per_file: dict[str, dict[str, int]], rejected: dict[str, str]) -> dict[str, float]:
    return {
        path: 1.0 if path in rejected else 1.0 - counts.get("", 0) / max(sum(counts.values()), 1)
        for path, counts in per_file.items()
    }


def warn_replaced_bytes(classified: DataFrame, ds: DatasetConfig) -> None:
    """``invalid_utf8 = "replace"``: the rows accepted with U+FFFD for bytes that were not UTF-8, counted."""
    replaced = classified.where(F.col(INVALID_UTF8).isNotNull()).count()
    if replaced:
        log.warning("ingest %s: %d rows had invalid UTF-8 bytes, accepted with U+FFFD", ds.name, replaced)
