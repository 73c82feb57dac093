"""Pattern counts after an LF edit from the stored counts and the rows the edit moved.

An LF edit changes the pattern of the rows where the edited LFs' votes changed,
typically a small share of them. The stored run kept its rows per pattern beside
its labels per pattern (``pattern_labels``' ``count``), so every row's
(pattern, stored pattern) counts are those counts, less the rows that moved away
from each stored pattern, plus the moved rows' (new, stored) counts: one
aggregate of the moved rows instead of one of every row, and the small tables
combined on the driver (no Spark job per query stage of a join of aggregates).
The result equals the aggregate of every row. Stored counts that cannot describe the
stored rows (more rows moved away from a pattern than it had) are not used: every row
is aggregated instead, and the log says why.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

import pandas as pd
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from jobs.lake.table_files import file_slices
from jobs.patterns.incremental import STORED_PREFIX, StoredRowFiles, UpdatedPatterns
from jobs.patterns.label_transitions import STORED_LABEL
from jobs.patterns.vote_patterns import PATTERN, RowPatterns

if TYPE_CHECKING:
    import pyarrow as pa


def moved_counts(updated: UpdatedPatterns, keys: list[str], limit: int) -> pd.DataFrame | None:
    """``(*keys, _s<key>..., count)`` of the rows the edit moved (one Spark job), or None when
    there is no edit or more than ``limit`` such pairs (then every row is aggregated in Spark)."""
    if updated.moved is None:
        return None
    if updated.files is not None and updated.files.change is not None:
        return _moved_in_files(updated.moved.sparkSession, updated.files, keys, limit)
    stored_keys = [STORED_PREFIX + k for k in keys]
    grouped = updated.moved.groupBy(*keys, *stored_keys).agg(F.count(F.lit(1)).alias("count"))
    table = grouped.limit(limit + 1).toArrow()
    return None if table.num_rows > limit else table.to_pandas()


def origin_counts(stored: pa.Table, moved: pd.DataFrame, keys: list[str]) -> pd.DataFrame | None:
    """``(*keys, _s<key>..., count)`` of every row: the stored rows per pattern (``stored``'s keys
    and ``count``) less those that moved away, plus the moved rows. None when more rows moved
    away from a pattern than the stored counts give it: they do not describe the stored rows."""
    stored_keys = [STORED_PREFIX + k for k in keys]
    base = stored.select([*keys, "count"]).to_pandas().rename(columns=dict(zip(keys, stored_keys, strict=True)))
    left = moved.groupby(stored_keys, as_index=False)["count"].sum().rename(columns={"count": "_left"})
    merged = base.merge(left, on=stored_keys, how="outer")
    merged["count"] = (merged["count"].fillna(0) - merged["_left"].fillna(0)).astype("int64")
    if (merged["count"] < 0).any():
        return None
    stayed = merged[merged["count"] != 0]
    stayed = stayed.assign(**{k: stayed[s] for k, s in zip(keys, stored_keys, strict=True)})
    columns = [*keys, *stored_keys, "count"]
    return pd.concat([stayed[columns], moved[columns].astype({"count": "int64"})], ignore_index=True)


def counts_by_stored_label(by_origin: pd.DataFrame, stored: pa.Table, keys: list[str]) -> pa.Table:
    """``(*keys, _stored_label, count)``: :func:`origin_counts` by the stored run's label of each
    row's stored pattern (as :func:`jobs.patterns.label_transitions.stored_label_counts`; a pattern
    without a stored label keeps a null one, which the label transitions refuse)."""
    import pyarrow as pa

    stored_keys = [STORED_PREFIX + k for k in keys]
    labels = stored.select([*keys, "label"]).to_pandas()
    labels = labels.rename(columns={**dict(zip(keys, stored_keys, strict=True)), "label": STORED_LABEL})
    joined = by_origin.merge(labels, on=stored_keys, how="left")
    joined[STORED_LABEL] = joined[STORED_LABEL].astype("Int32")
    grouped = joined.groupby([*keys, STORED_LABEL], as_index=False, dropna=False)["count"].sum()
    return pa.Table.from_pandas(grouped, preserve_index=False)


def pattern_counts(by_origin: pd.DataFrame, patterned: RowPatterns) -> pa.Table:
    """``(pattern, count, *keys)`` per distinct pattern, as Spark's aggregate writes ``pattern_counts``."""
    import pyarrow as pa

    assert patterned.codec is not None  # the stored codes are packed codes
    keys = patterned.keys
    summed = by_origin.groupby(keys, as_index=False)["count"].sum()
    strings = patterned.codec.pattern_strings(summed[keys].to_numpy(dtype="int64"))
    columns = {PATTERN: pa.array(strings, pa.string()), "count": pa.array(summed["count"], pa.int64())}
    return pa.table({**columns, **{k: pa.array(summed[k], pa.int64()) for k in keys}})


def _moved_in_files(spark: SparkSession, files: StoredRowFiles, keys: list[str], limit: int) -> pd.DataFrame | None:
    """:func:`moved_counts` from the stored row-pattern files read by Arrow in one task per core, as the
    staging writer reads them (docs/decisions/0005): no Spark scan and join of every stored row."""
    import pyarrow as pa

    shipped = spark.sparkContext.broadcast(files)

    def count(paths: Iterable[str]) -> Iterator[pa.Table]:
        for path in paths:
            yield shipped.value.moved_pairs(path)

    try:
        parts = spark.sparkContext.parallelize(list(files.files), file_slices(spark, len(files.files))).mapPartitions(
            count
        )
        tables = parts.collect() if files.files else []
    finally:
        shipped.unpersist()
    stored_keys = [STORED_PREFIX + k for k in keys]
    if not tables:
        return pd.DataFrame({c: pd.Series(dtype="int64") for c in [*keys, *stored_keys, "count"]})
    summed = pa.concat_tables(tables).group_by([*keys, *stored_keys]).aggregate([("count", "sum")])
    if summed.num_rows > limit:
        return None
    return pd.DataFrame(
        {
            **{c: summed.column(c).to_numpy() for c in [*keys, *stored_keys]},
            "count": summed.column("count_sum").to_numpy(),
        }
    )
