"""Dawid-Skene fitted on the executors, for pattern sets too large for the driver.

The pattern trick (fit on distinct vote patterns and their counts) breaks with
many sources: with 1,000 LFs x 20 classes over 1M rows, 905,388 of the rows
have a pattern of their own. Collected to the driver, those patterns are a
(P, m) matrix that grows with the rows. Here the patterns stay in Spark. Each
is a sparse list of vote columns (``j * k + v`` for LF ``j`` voting ``v``)
with its count, cached once. Every EM iteration is one pass over them in
Arrow batches. Each partition computes its patterns' posteriors (E-step) and
adds up the M-step's sufficient statistics: rows per class, and votes per LF,
true class and vote. The driver adds the partitions' sums and runs the M-step.

The driver holds the parameters (m x k x (k + 1)) and one statistics array per
partition, never a pattern. The iterations are :class:`DawidSkene`'s: the
same start from majority vote, the same M-step
(:meth:`DawidSkene.m_step_from_statistics`), the same stopping rule on the
largest posterior change. So the fit equals the driver's on the same patterns,
up to the order of floating-point sums (``tests/stages/fit/test_fit_on_executors.py``).
"""

from __future__ import annotations

import copy
import json
import logging
import time
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import scipy.sparse as sp
from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, DoubleType, IntegerType, StringType, StructField, StructType

from jobs.core.settings import env_setting
from jobs.label_models.dawid_skene import DawidSkene
from jobs.label_models.majority import majority_posteriors
from jobs.label_models.onehot import OneHotVotes, normalize_log

log = logging.getLogger(__name__)

_PASS_SCHEMA = "class_mass binary, stats binary, change double, patterns long"


def sparse_vote_patterns(
    spark: SparkSession, ids: DataFrame, votes: DataFrame, lf_names: list[str], n_classes: int
) -> DataFrame:
    """``(cols array<int>, count long)``: every distinct pattern as its sorted vote columns.

    One ``groupBy(id)`` over the source ids (tagged, contributing nothing, so rows
    without a vote get the empty pattern) and the votes, then one ``groupBy`` of
    the patterns. LF names become positions through a broadcast join; votes of
    LFs not in ``lf_names`` are dropped.
    """
    positions = spark.createDataFrame([(name, j) for j, name in enumerate(lf_names)], "lf string, _j int")
    voted = votes.join(F.broadcast(positions), "lf").select(
        "id", (F.col("_j") * n_classes + F.col("vote")).cast("int").alias("_col"), F.lit(False).alias("_in_source")
    )
    tagged = ids.select("id", F.lit(None).cast("int").alias("_col"), F.lit(True).alias("_in_source"))
    per_row = (
        tagged.unionByName(voted)
        .groupBy("id")
        .agg(F.array_sort(F.collect_list("_col")).alias("cols"), F.max("_in_source").alias("_in_source"))
        .where(F.col("_in_source"))
    )
    return per_row.groupBy("cols").agg(F.count(F.lit(1)).alias("count"))


def _one_hot(batch: pa.RecordBatch, n_lfs: int, k: int) -> OneHotVotes:
    """A batch of ``(cols, count)`` as the sparse one-hot votes every model works on (no copy of
    the vote columns: Arrow's list offsets are already CSR's row pointers)."""
    cols = batch.column(0)
    offsets = np.asarray(cols.offsets, dtype=np.int64)
    values = np.asarray(cols.values, dtype=np.int64)[offsets[0] : offsets[-1]]
    offsets = offsets - offsets[0]
    S = sp.csr_matrix((np.ones(len(values)), values, offsets), shape=(len(batch), n_lfs * k))
    return OneHotVotes(S, np.asarray(batch.column(1), dtype=np.float64), n_lfs, k)


def _em_pass(current: DawidSkene | None, previous: DawidSkene | None, n_lfs: int, k: int):
    """The function each partition runs: posteriors under ``current`` (majority vote when None),
    their sufficient statistics, and the largest change from ``previous``'s posteriors."""

    def run(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        class_mass, stats, change, patterns = np.zeros(k), np.zeros((n_lfs, k, k)), 0.0, 0
        for batch in batches:
            if len(batch) == 0:
                continue
            votes = _one_hot(batch, n_lfs, k)
            q = majority_posteriors(votes) if current is None else current._posteriors(votes)
            if current is not None:
                before = majority_posteriors(votes) if previous is None else previous._posteriors(votes)
                change = max(change, float(np.abs(q - before).max()))
            class_mass += votes.weights @ q
            stats += votes.weighted_counts(q)
            patterns += len(batch)
        yield pa.RecordBatch.from_pydict(
            {
                "class_mass": [class_mass.tobytes()],
                "stats": [stats.tobytes()],
                "change": [change],
                "patterns": [patterns],
            }
        )

    return run


def _sum_pass(
    patterns: DataFrame, current: DawidSkene | None, previous: DawidSkene | None, n_lfs: int, k: int
) -> tuple[np.ndarray, np.ndarray, float, int]:
    parts = patterns.mapInArrow(_em_pass(current, previous, n_lfs, k), _PASS_SCHEMA).collect()
    class_mass = sum((np.frombuffer(r["class_mass"]) for r in parts), np.zeros(k))
    stats = sum((np.frombuffer(r["stats"]).reshape(n_lfs, k, k) for r in parts), np.zeros((n_lfs, k, k)))
    return class_mass, stats, max((r["change"] for r in parts), default=0.0), sum(r["patterns"] for r in parts)


def _snapshot(model: DawidSkene) -> DawidSkene:
    """The fitted parameters alone, to ship to the executors with a pass."""
    shipped = copy.copy(model)
    shipped.mu, shipped.pi = model.mu.copy(), model.pi.copy()  # type: ignore[union-attr]
    return shipped


def fit_dawid_skene_on_executors(patterns: DataFrame, n_lfs: int, cardinality: int, **options: Any) -> DawidSkene:
    """:class:`DawidSkene` (with ``options``) fitted on ``(cols, count)`` patterns in Spark."""
    model = DawidSkene(cardinality, **options)
    if model.blind_abstain:
        raise ValueError("fit_on_executors: blind_abstain sources are not supported; fit on the driver")
    cached = patterns.select(F.col("cols").cast("array<int>"), F.col("count").cast("double")).persist(
        StorageLevel.MEMORY_AND_DISK
    )
    try:
        started = time.perf_counter()
        class_mass, stats, _, n_patterns = _sum_pass(cached, None, None, n_lfs, cardinality)
        previous: DawidSkene | None = None
        for iteration in range(1, model.max_iter + 1):
            model.iterations = iteration
            model.m_step_from_statistics(class_mass, stats)
            current = _snapshot(model)
            class_mass, stats, change, _ = _sum_pass(cached, current, previous, n_lfs, cardinality)
            previous = current
            if change < model.tol:
                break
        log.info(
            "dawid_skene on the executors: %d patterns, %d LFs x %d classes, %d iterations in %.1f s",
            n_patterns,
            n_lfs,
            cardinality,
            model.iterations,
            time.perf_counter() - started,
        )
    finally:
        cached.unpersist()
    return model


def threshold() -> int:
    """Distinct patterns above which a wide pack's Dawid-Skene is fitted here, not on the driver."""
    return int(env_setting("LABELLAKE_FIT_ON_EXECUTORS_ABOVE"))


def patterns_from_strings(counts_table: DataFrame, lf_names: list[str], n_classes: int) -> DataFrame:
    """``(cols, count)`` from the ``(pattern, count)`` table of a pack too wide for packed codes
    (``lf=vote`` entries joined by commas, :func:`jobs.patterns.vote_patterns.string_patterns`)."""
    position = F.create_map(*[x for j, name in enumerate(lf_names) for x in (F.lit(name), F.lit(j))])
    entries = F.filter(F.split(F.col("pattern"), ","), lambda e: e != "")
    cols = F.transform(
        entries,
        lambda e: (
            F.element_at(position, F.substring_index(e, "=", 1)) * n_classes + F.substring_index(e, "=", -1).cast("int")
        ).cast("int"),
    )
    return counts_table.select(F.array_sort(cols).alias("cols"), F.col("count"))


def predict_pattern_rows(
    rows: DataFrame, model: DawidSkene, lf_names: list[str], uncovered: str, lf_versions: dict[str, str]
) -> DataFrame:
    """``(id, label, probs, confidence, _lf_versions)`` for every ``(id, pattern)`` row, in Arrow
    batches on the executors: the driver path's prediction (``pattern_labels`` and
    ``voting_lf_versions`` in :mod:`jobs.stages.fit.stage`) without a per-pattern table."""
    scores = model.linear_scores()
    if scores is None:
        raise ValueError("predict_pattern_rows: fit the model first")
    k, m = model.cardinality, len(lf_names)
    table = scores.table.reshape(m * k, k)
    bias, prior = scores.bias, model.class_prior()
    index = {name: j for j, name in enumerate(lf_names)}
    id_field = rows.schema["id"]
    # The driver path's types and nullability (fit_label_model.PREDICTION_FIELDS), so staging keeps
    # one schema whichever path a run takes.
    schema = StructType(
        [
            StructField("id", id_field.dataType, id_field.nullable),
            StructField("label", IntegerType(), False),
            StructField("probs", ArrayType(DoubleType(), False), False),
            StructField("confidence", DoubleType(), False),
            StructField("_lf_versions", StringType(), False),
        ]
    )

    def run(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            indptr, indices, texts = [0], [], []
            for pattern in batch.column(1).to_pylist():
                voted = []
                for entry in filter(None, (pattern or "").split(",")):
                    name, vote = entry.split("=")
                    indices.append(index[name] * k + int(vote))
                    voted.append(name)
                indptr.append(len(indices))
                texts.append(json.dumps({name: lf_versions[name] for name in voted}, sort_keys=True))
            n = len(batch)
            S = sp.csr_matrix(
                (np.ones(len(indices)), np.array(indices, dtype=np.int64), np.array(indptr)), shape=(n, m * k)
            )
            probs = normalize_log(bias[None, :] + np.asarray(S @ table))
            unique = np.isclose(probs, probs.max(axis=1, keepdims=True)).sum(axis=1) == 1
            labels = np.where(unique, probs.argmax(axis=1), -1)
            if uncovered == "abstain":
                empty = np.diff(indptr) == 0
                probs[empty] = prior
                labels[empty] = -1
            yield pa.RecordBatch.from_arrays(
                [
                    batch.column(0),
                    pa.array(labels.astype(np.int32)),
                    pa.ListArray.from_arrays(
                        pa.array(np.arange(0, n * k + 1, k, dtype=np.int32)), pa.array(probs.ravel())
                    ),
                    pa.array(probs.max(axis=1) if n else np.zeros(0)),
                    pa.array(texts, type=pa.string()),
                ],
                names=["id", "label", "probs", "confidence", "_lf_versions"],
            )

    return rows.select("id", "pattern").mapInArrow(run, schema)
