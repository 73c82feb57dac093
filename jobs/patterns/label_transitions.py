"""Label changes against the published labels, counted from vote patterns instead of joined by id.

Validation bounds the share of rows whose label changed since the published
labels (``drift_label_changes``). Counted per row, that is a join of every
candidate id with every published id: at 10M rows a shuffle of both sides,
most of an LF-edit rerun's validation (docs/decisions/0006).

The join is avoidable when the published labels are a function of vote
patterns the rerun already has. A fit that labels every row from its pattern
keeps, beside its row patterns (``jobs/patterns/incremental.py``), each pattern's
label (``pattern_labels``). A rerun after an LF edit reads the stored rows back
anyway, to update their codes, and groups them by pattern for the fit; grouping
by ``(pattern, stored pattern)`` instead is the same pass, and the stored
patterns' labels make that ``(pattern, stored label)``. With the rerun's own
per-pattern labels, that gives the ``(published label, candidate label, rows)``
table exactly, from aggregates. The fit records it on its staging commit,
naming the run whose labels it compared with; validate uses it only if that
run's pattern labels are still the published ones, and otherwise counts the
same table with one join (:func:`joined_transitions`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.lake.tables import TableRef, commit_metadata, delta_rs_location, latest_commit, overwrite_small_table
from jobs.patterns.incremental import STORED_PREFIX

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

STORED_LABEL = "_stored_label"
"""Column of the stored run's label of a row's stored pattern (``pattern_labels``' ``label``)."""

RECORD_KEY = "label_transitions"
"""Key of the staging commit's userMetadata that carries the transitions the fit counted."""


@dataclass(frozen=True)
class LabelTransitions:
    """How many rows went from each published label to each candidate label.

    ``counts`` holds ``(published label, candidate label, rows)``; the published
    label is None for ids the published labels do not have (new since then),
    which are not compared. ``against_run`` is the run whose labels were compared.
    """

    against_run: str | None
    counts: tuple[tuple[int | None, int, int], ...]

    @property
    def compared(self) -> int:
        return sum(n for published, _, n in self.counts if published is not None)

    @property
    def changed(self) -> int:
        return sum(n for published, label, n in self.counts if published is not None and published != label)

    def record(self) -> dict[str, Any]:
        return {"against_run": self.against_run, "counts": [list(c) for c in self.counts]}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> LabelTransitions:
        return cls(
            record.get("against_run"),
            tuple((None if p is None else int(p), int(label), int(n)) for p, label, n in record["counts"]),
        )

    def frame(self) -> pd.DataFrame:
        """One row per transition with ``changed_share`` (its rows over the compared rows when the
        label changed, else 0): the share of changed labels is that column's sum, which is what
        the ``drift_label_changes`` expectation checks. A few rows: pandas, no Spark job."""
        import pandas as pd

        compared = self.compared
        rows = [
            (p, label, n, n / compared if p is not None and p != label and compared else 0.0)
            for p, label, n in self.counts
        ]
        # GX needs a row to sum over; with no candidate rows the share is 0 (rows_present fails anyway).
        frame = pd.DataFrame(
            rows or [(None, -1, 0, 0.0)], columns=["published_label", "label", "rows", "changed_share"]
        )
        return frame.astype({"published_label": "Int32", "label": "int32", "rows": "int64", "changed_share": "float64"})


def _sorted(counts: dict[tuple[int | None, int], int]) -> tuple[tuple[int | None, int, int], ...]:
    return tuple(
        sorted(((p, label, n) for (p, label), n in counts.items() if n), key=lambda c: (c[0] is None, c[0] or 0, c[1]))
    )


def stored_label_counts(origins: DataFrame, keys: list[str], stored_labels: DataFrame) -> DataFrame:
    """``(*keys, _stored_label, count)``: the pattern counts split by the rows' stored label, from
    the rows' (pattern, stored pattern) counts and the stored run's label per pattern (a join of
    aggregates: :func:`stored_pattern_labels`)."""
    stored_keys = [STORED_PREFIX + k for k in keys]
    by_origin = origins.groupBy(*keys, *stored_keys).agg(F.count(F.lit(1)).alias("count"))
    return (
        by_origin.join(stored_labels.select(*stored_keys, STORED_LABEL), stored_keys, "left")
        .groupBy(*keys, STORED_LABEL)
        .agg(F.sum("count").cast("long").alias("count"))
    )


def store_pattern_labels(
    per_pattern: DataFrame, keys: list[str], ref: TableRef, run_id: str, version: int, counts: pa.Table | None
) -> None:
    """Keep each pattern's label of ``run_id``, whose rows are ``row_patterns`` version ``version``,
    and its rows (``counts``: the keys and ``count``) when given (a few thousand rows, one delta-rs
    commit; the next rerun reads them back)."""
    labels = per_pattern.select(*keys, F.col("label").cast("int").alias("label")).toArrow()
    if counts is not None:
        labels = labels.join(counts.select([*keys, "count"]), keys, join_type="inner")
        labels = labels.set_column(labels.schema.get_field_index("count"), "count", labels["count"].cast("int64"))
    meta = commit_metadata(run_id=run_id, stage="fit_label_model", row_patterns_version=int(version))
    overwrite_small_table(ref, labels, meta)


def stored_pattern_table(
    spark: SparkSession, ref: TableRef, keys: list[str], run_id: str | None, patterns_version: int
) -> pa.Table | None:
    """``pattern_labels`` as stored by ``run_id`` for ``row_patterns`` version ``patterns_version``
    (the keys, ``label`` and, when recorded, ``count``: its rows per pattern); None when that run's
    labels are not on record."""
    if run_id is None or not ref.exists():
        return None
    version, meta = latest_commit(spark, ref)
    if meta.get("run_id") != run_id or meta.get("row_patterns_version") != patterns_version:
        return None
    stored = _small_table(spark, ref, version)
    return None if any(k not in stored.column_names for k in keys) else stored


def stored_pattern_labels(spark: SparkSession, stored: pa.Table, keys: list[str]) -> DataFrame:
    """``(_s<key>..., _stored_label)``: the stored run's label per pattern (:func:`stored_pattern_table`)."""
    renamed = stored.select([*keys, "label"]).rename_columns([*[STORED_PREFIX + k for k in keys], STORED_LABEL])
    return spark.createDataFrame(renamed)


def _small_table(spark: SparkSession, ref: TableRef, version: int) -> pa.Table:
    """A table of a few thousand rows at ``version``: read by delta-rs when it can (the table is
    written by delta-rs, so Spark's Delta reader would first replay a log it has not seen), else by Spark."""
    location = delta_rs_location(ref.path)
    if location is not None:
        from deltalake import DeltaTable

        try:
            return DeltaTable(location, version=version).to_pyarrow_table()
        except Exception:  # noqa: BLE001 - what delta-rs cannot read, Spark may (and reports)
            pass
    return ref.read(spark, version).toArrow()


def pattern_transitions(
    split: DataFrame, per_pattern: DataFrame, keys: list[str], against_run: str
) -> LabelTransitions:
    """The transitions from ``split`` (:func:`stored_label_counts`, one row per pattern and stored
    label) and the fit's per-pattern predictions: a join of two small tables."""
    grouped = (
        split.join(per_pattern.select(*keys, "label"), keys, "left")
        .groupBy(STORED_LABEL, "label")
        .agg(F.sum("count").alias("rows"))
        .collect()
    )
    if any(r["label"] is None for r in grouped):
        raise ValueError("label transitions: a stored-label count has a pattern the fit did not predict")
    if any(r[STORED_LABEL] is None for r in grouped):
        raise ValueError(f"label transitions: a stored pattern has no label of run {against_run} in pattern_labels")
    counts = {
        (None if r[STORED_LABEL] is None else int(r[STORED_LABEL]), int(r["label"])): int(r["rows"]) for r in grouped
    }
    return LabelTransitions(against_run, _sorted(counts))


def transitions_in_hand(
    split: pa.Table, predicted: pd.DataFrame, keys: list[str], against_run: str
) -> LabelTransitions:
    """:func:`pattern_transitions` of a split in hand (``jobs/patterns/moved_counts.py``) and the
    fit's label per pattern (``predicted``: the keys and ``label``), on the driver."""
    joined = split.to_pandas().merge(predicted[[*keys, "label"]], on=keys, how="left")
    if joined["label"].isna().any():
        raise ValueError("label transitions: a stored-label count has a pattern the fit did not predict")
    if joined[STORED_LABEL].isna().any():
        raise ValueError(f"label transitions: a stored pattern has no label of run {against_run} in pattern_labels")
    grouped = joined.groupby([STORED_LABEL, "label"])["count"].sum()
    counts: dict[tuple[int | None, int], int] = {(int(p), int(label)): int(n) for (p, label), n in grouped.items()}
    return LabelTransitions(against_run, _sorted(counts))


def joined_transitions(candidates: DataFrame, published: DataFrame, against_run: str | None) -> LabelTransitions:
    """The transitions by joining the candidate rows with the published ones by id (one aggregate job)."""
    grouped = (
        candidates.select("id", "label")
        .join(published.select("id", F.col("label").alias("_published_label")), "id", "left")
        .groupBy("_published_label", "label")
        .count()
        .collect()
    )
    counts = {
        (None if r["_published_label"] is None else int(r["_published_label"]), int(r["label"])): int(r["count"])
        for r in grouped
        if r["label"] is not None
    }
    return LabelTransitions(against_run, _sorted(counts))


def pattern_labels_run(published_meta: dict[str, Any]) -> str | None:
    """The run whose pattern labels a labels commit published, or None when its labels are not
    pattern labels: the fit records a ``label_distribution`` only when no gold or end-model label
    overrides a pattern's, and publish carries it onto the labels commit."""
    return published_meta.get("run_id") if published_meta.get("label_distribution") else None


def recorded_transitions(
    staging_meta: dict[str, Any], run_id: str, published_meta: dict[str, Any]
) -> LabelTransitions | None:
    """The transitions the fit of ``run_id`` recorded, if they compare with the labels published
    now: the run they were counted against is still the one whose pattern labels are published
    (:func:`pattern_labels_run`; checked again here, as another run may have published since the fit)."""
    record = staging_meta.get(RECORD_KEY)
    if staging_meta.get("run_id") != run_id or not isinstance(record, dict):
        return None
    if record.get("against_run") is None or record.get("against_run") != pattern_labels_run(published_meta):
        return None
    return LabelTransitions.from_record(record)
