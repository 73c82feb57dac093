"""Label model: votes -> vote-pattern counts -> candidate labels (staging).

When nothing that determines the labels changed since the published version
(same source and votes versions, LF set, dataset config, gold and code: the
*fit key*), the stage fits nothing and records that the published labels are
current; validate and publish then pass through, and the quiet night adds no
labels version. ``--mode full`` always refits.

The only data that reaches the driver is the table of *distinct* vote patterns
and their counts (at most one row per pattern, whatever the row count). The
model is fitted and evaluated on those patterns, and its per-pattern
predictions are broadcast-joined back to the rows in Spark, or, above
200,000 patterns, computed per row on the executors from the fitted model's
per-LF scores (:func:`predicted_rows`, :mod:`jobs.stages.fit.predict_on_executors`).

A pattern is written as a sorted ``lf=vote`` list, e.g.
``keyword_my=1,short_comment=0``; the empty string means no LF voted.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, DoubleType, IntegerType, LongType, StringType, StructField, StructType

from jobs.core.datasets import DatasetConfig
from jobs.core.errors import StageOrderError
from jobs.core.lineage import RunContext, code_version
from jobs.core.settings import Settings
from jobs.hand_labels.annotator_sources import annotator_votes, label_source
from jobs.hand_labels.gold_set import GOLD_SOURCE, GoldSet, evaluation_gold, refresh_gold_set, train_gold, withheld_ids
from jobs.label_models import LabelModel
from jobs.lake.runs import run_record
from jobs.lake.tables import TableRef, commit_at, commit_metadata, latest_commit, replace_run_rows, table
from jobs.patterns.incremental import UpdatedPatterns, store_patterns, updated_patterns
from jobs.patterns.label_transitions import RECORD_KEY as TRANSITIONS_KEY
from jobs.patterns.label_transitions import (
    LabelTransitions,
    pattern_labels_run,
    pattern_transitions,
    stored_label_counts,
    with_pattern_labels,
)
from jobs.patterns.vote_patterns import RowPatterns, pattern_matrix, row_patterns
from jobs.stages.fit import on_executors as fit_on_executors
from jobs.stages.fit import predict_on_executors
from jobs.stages.fit import staging as staging_files
from jobs.stages.fit.choose_model import Choice, choose_model, dev_pattern_counts, gold_pattern_counts
from jobs.stages.fit.end_model import add_end_model
from jobs.stages.fit.lf_analysis import lf_summary, write_lf_analysis
from jobs.stages.fit.on_executors import fit_dawid_skene_on_executors, patterns_from_strings, predict_pattern_rows

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

PREDICTION_FIELDS = [
    StructField("label", IntegerType(), False),
    StructField("probs", ArrayType(DoubleType(), False), False),
    StructField("confidence", DoubleType(), False),
    StructField("_lf_versions", StringType(), False),
]
"""A prediction per pattern, after the pattern's key columns (see :func:`prediction_frame`)."""


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
class FitResult:
    rows: int
    patterns: int
    labeled: int
    staging_version: int
    label_model: str
    current_from: str | None = None
    """Set when nothing changed: the run whose published labels are still current (nothing fitted)."""
    end_model: str | None = None
    gold_set_version: int | None = None


def pattern_labels(model: LabelModel, L: np.ndarray, uncovered: str) -> tuple[np.ndarray, np.ndarray]:
    """(labels, probs) per pattern. With ``uncovered = "abstain"`` (the default) a row no LF
    voted on gets label -1 and the model's class prior as ``probs``: a model may have an
    opinion about such rows (Dawid-Skene reads "every LF abstained" as weak evidence), but
    a label nobody's rule supports should be asked for, not silently published.
    ``"predict"`` keeps the model's prediction for them."""
    probs = model.predict_proba(L)
    labels = model.predict(L)
    if uncovered == "abstain" and len(L):
        empty = (L == -1).all(axis=1)
        probs[empty] = model.class_prior()
        labels[empty] = -1
    return labels, probs


def label_distribution(
    classes: tuple[str, ...], counts: np.ndarray, labels: np.ndarray, probs: np.ndarray
) -> dict[str, object]:
    """Rows per class (``-1``: unlabeled) and the sum of ``confidence`` over all rows, from the
    pattern counts: exactly what the staged rows hold when every label is the label model's.

    Recorded on the staging commit, it travels with the files into the labels commit, so the
    next run's drift checks read the published distribution from the commit instead of
    aggregating 10M published rows (``expectations.labels_suite.published_stats``).
    """
    per_class = {name: int(counts[labels == i].sum()) for i, name in enumerate(classes)}
    return {
        "rows": int(counts.sum()),
        "unlabeled": int(counts[labels < 0].sum()),
        "classes": per_class,
        "confidence_sum": float((counts * probs.max(axis=1)).sum()) if len(counts) else 0.0,
    }


def voting_lf_versions(L: np.ndarray, lf_names: list[str], lf_versions: dict[str, str]) -> np.ndarray:
    """JSON ``{lf: version}`` of the LFs that voted, per pattern (``{}`` when none did).

    Built once per distinct *set* of voting LFs (patterns differing only in the
    votes share it), found with ``np.unique`` over the packed voting masks: one
    JSON per pattern took 11 s at 2.7M patterns.
    """
    if not len(L):
        return np.array([], dtype=object)
    voting = L >= 0
    packed = np.ascontiguousarray(np.packbits(voting, axis=1))
    keys = packed.view(np.dtype((np.void, packed.shape[1]))).ravel()
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    texts = np.array(
        [
            json.dumps({lf_names[j]: lf_versions[lf_names[j]] for j in np.flatnonzero(voting[i])}, sort_keys=True)
            for i in first
        ],
        dtype=object,
    )
    return texts[inverse.ravel()]


def prediction_frame(
    spark: SparkSession,
    keys: pd.DataFrame,
    L: np.ndarray,
    lf_names: list[str],
    labels: np.ndarray,
    probs: np.ndarray,
    lf_versions: dict[str, str],
) -> DataFrame:
    """The per-pattern predictions as a Spark DataFrame keyed by the pattern key columns
    (:mod:`jobs.patterns.vote_patterns`) and numbered by ``_pattern`` (0..n-1, the index the Arrow
    staging writer looks rows up by), shipped through Arrow (hundreds of thousands of
    patterns in a second, where a list of Python tuples takes ten).

    ``_lf_versions`` is computed here, per pattern, not per row: the versions of
    the LFs that voted on rows with this pattern. (The whole LF set of 136 LFs as a
    per-row literal made the staging write 6x slower; the set is ``_lf_set_version``.)
    """
    import pandas as pd

    frame = keys.reset_index(drop=True).copy()
    key_fields = [StructField(name, StringType() if name == "pattern" else LongType(), False) for name in frame.columns]
    frame[staging_files.PATTERN] = np.arange(len(frame), dtype=np.int64)
    key_fields.append(StructField(staging_files.PATTERN, LongType(), False))
    frame["label"] = labels.astype(np.int32)
    frame["probs"] = list(probs.astype(np.float64))
    frame["confidence"] = probs.max(axis=1) if len(probs) else np.zeros(0)
    frame["_lf_versions"] = pd.Series(voting_lf_versions(L, lf_names, lf_versions), dtype=object)
    return spark.createDataFrame(frame, StructType(key_fields + PREDICTION_FIELDS))


def predicted_rows(
    spark: SparkSession,
    rows: DataFrame,
    patterned: RowPatterns,
    counted: pd.DataFrame,
    model: LabelModel,
    L: np.ndarray,
    lf_names: list[str],
    labels: np.ndarray,
    probs: np.ndarray,
    uncovered: str,
    lf_versions: dict[str, str],
) -> DataFrame:
    """Every row with its ``label``, ``probs``, ``confidence`` and ``_lf_versions``
    (:func:`predicted_and_per_pattern`)."""
    return predicted_and_per_pattern(
        spark, rows, patterned, counted, model, L, lf_names, labels, probs, uncovered, lf_versions
    )[0]


def predicted_and_per_pattern(
    spark: SparkSession,
    rows: DataFrame,
    patterned: RowPatterns,
    counted: pd.DataFrame,
    model: LabelModel,
    L: np.ndarray,
    lf_names: list[str],
    labels: np.ndarray,
    probs: np.ndarray,
    uncovered: str,
    lf_versions: dict[str, str],
) -> tuple[DataFrame, DataFrame | None]:
    """Every row with its ``label``, ``probs``, ``confidence`` and ``_lf_versions``, and the
    per-pattern predictions they were joined from (None when predicted per row).

    Few distinct patterns (real LF sets: hundreds to thousands): the per-pattern
    predictions made on the driver, broadcast-joined to the rows. Very many
    (independent LFs, 2.7M patterns in 10M rows): the same prediction computed per
    row on the executors from the model's linear scores (:mod:`jobs.stages.fit.predict_on_executors`),
    which needs no per-pattern table on the driver and no join.
    """
    scores = predict_on_executors.usable(model, patterned.codec, len(L))
    if scores is not None:
        assert patterned.codec is not None
        log.info("fit_label_model: %d distinct patterns; predicting on the executors", len(L))
        return predict_on_executors.predict_rows(
            rows, scores, patterned.codec, model.class_prior(), uncovered, lf_versions
        ), None
    predictions = prediction_frame(spark, counted[patterned.keys], L, lf_names, labels, probs, lf_versions)
    return rows.join(F.broadcast(predictions), patterned.keys, "left"), predictions


def run_fit_label_model(
    spark: SparkSession, ds: DatasetConfig, settings: Settings, run: RunContext, labeled_at: datetime
) -> FitResult:
    votes_ref = table(settings, ds.name, "votes")
    if not votes_ref.exists():
        raise StageOrderError(f"fit_label_model {ds.name}: votes table missing; run apply_lfs first")
    # The votes version apply_lfs settled on for *this* run (recorded on the run), read by
    # time travel: a later run rewriting the votes cannot change what this run fits on.
    record = run_record(spark, settings, run.run_id, run.dataset) or {}
    if record.get("votes_version") is None:
        raise StageOrderError(
            f"fit_label_model {ds.name}: run {run.run_id!r} has no votes version on record; "
            "run apply_lfs for this run first"
        )
    votes_version = int(record["votes_version"])
    votes_meta = commit_at(spark, votes_ref, votes_version)
    source_ref = table(settings, ds.name, "source")
    source_version = int(votes_meta["source_version"])
    lf_names: list[str] = list(votes_meta["lfs"])
    ids = spark.read.format("delta").option("versionAsOf", source_version).load(str(source_ref.path)).select("id")
    votes = spark.read.format("delta").option("versionAsOf", votes_version).load(str(votes_ref.path))
    # The gold set first: its evaluation rows' annotations must stay out of the fit (jobs/hand_labels/gold_set.py).
    clock = StepClock()
    gold_set = refresh_gold_set(spark, settings, ds, run.run_id)
    annotators = annotator_votes(spark, settings, ds, withheld_ids(spark, gold_set))
    if annotators is not None:
        # Hand labels vote as sources of their own (jobs/hand_labels/annotator_sources.py); their version is
        # the annotations table's, so new annotations change the fit key and the lineage.
        votes = votes.select("id", "lf", "vote").unionByName(annotators.votes)
        lf_names = lf_names + annotators.sources
        votes_meta = {
            **votes_meta,
            "lfs": lf_names,
            "lf_versions": {
                **votes_meta["lf_versions"],
                **{name: f"annotations@v{annotators.version}" for name in annotators.sources},
            },
            "lf_kinds": {**(votes_meta.get("lf_kinds") or {}), **{name: "annotator" for name in annotators.sources}},
        }

    gold_version = gold_set.version if gold_set else _table_version(table(settings, ds.name, "gold"))
    key = fit_key(
        ds,
        source_version,
        votes_version,
        votes_meta["lf_set_version"],
        gold_version,
        None if annotators is None else annotators.version,
    )
    if run.mode != "full":
        current = current_labels(spark, settings, ds, key)
        if current is not None:
            return current

    clock.lap("inputs")
    patterned = row_patterns(ids, votes, lf_names, len(ds.classes))
    patterns_ref = table(settings, ds.name, "row_patterns")
    # After an LF edit, the last fit's row patterns plus the edited LFs' changes (jobs/patterns/incremental.py).
    # Annotator votes are not in the votes table's versions, so with annotators the patterns are rebuilt.
    updated = (
        updated_patterns(spark, patterns_ref, votes_ref, patterned.codec, source_version, votes_version, lf_names)
        if run.mode != "full" and annotators is None
        else None
    )
    if updated is not None:
        patterned = dataclasses.replace(patterned, rows=updated.rows)
    # Rows built from the votes are a pivot worth caching for their second pass (the staging write).
    # Updated rows are a read of the stored codes plus a broadcast join, cheaper to read twice than
    # to cache: at 10M rows the rerun's fit took 22.0-22.8 s without the cache, 24.2-25.0 s with it.
    rows = patterned.rows if updated is not None else patterned.rows.persist()
    # The updated rows carry the published pattern labels: count the patterns split by them, and the
    # label changes come from aggregates (jobs/patterns/label_transitions.py).
    against = _published_pattern_labels_run(spark, settings, ds, updated)
    split = stored_label_counts(rows, patterned.keys).persist() if against is not None else None
    counts_ref = table(settings, ds.name, "pattern_counts")
    meta = commit_metadata(
        run_id=run.run_id,
        stage="fit_label_model",
        dataset=ds.name,
        source_version=source_version,
        votes_version=votes_version,
    )
    (
        patterned.distinct_counts(split)
        .write.format("delta")
        .mode("overwrite")
        .option("overwriteSchema", "true")
        .option("userMetadata", meta)
        .save(str(counts_ref.path))
    )
    counts_table = spark.read.format("delta").load(str(counts_ref.path))
    gold = evaluation_gold(spark, settings, ds, gold_set.version if gold_set else None)
    transitions: LabelTransitions | None = None
    on_executors = _fits_on_executors(ds, patterned, annotators is not None, counts_table, len(lf_names))
    if on_executors is not None:
        # Many sources: the patterns stay in Spark (jobs/stages/fit/on_executors.py).
        clock.lap("patterns")
        n_patterns, total = on_executors
        on_executors_model = fit_dawid_skene_on_executors(
            patterns_from_strings(counts_table, lf_names, len(ds.classes)),
            len(lf_names),
            len(ds.classes),
            **(dict(ds.label_model_options) if ds.label_model == "dawid_skene" else {}),
            class_balance=ds.class_balance,
        )
        model: LabelModel = on_executors_model
        choice = Choice(model, "patterns on the executors")
        counts_version, _ = latest_commit(spark, counts_ref)
        model_id = record_label_model(spark, settings, ds, run, model, choice, lf_names, votes_meta, counts_version)
        clock.lap("model")
        predicted = predict_pattern_rows(rows, on_executors_model, lf_names, ds.uncovered, votes_meta["lf_versions"])
        per_pattern = None
        distribution = None
    else:
        # One row per pattern (keys and counts only), sorted so the fit sees the same order
        # whatever Spark's partitioning.
        counted = patterned.collect_counts(counts_table)
        clock.lap("patterns")
        counts = counted["count"].to_numpy(dtype=np.int64)
        L = patterned.matrix(counted, lf_names)
        choice, model_id, predicted, per_pattern, distribution = _fit_on_driver(
            spark,
            settings,
            ds,
            run,
            record,
            patterned,
            counted,
            rows,
            L,
            counts,
            lf_names,
            votes_meta,
            gold,
            annotators.sources if annotators is not None else [],
            counts_ref,
            clock,
        )
        model = choice.model
        n_patterns, total = len(L), int(counts.sum())
        if annotators is None and updated is None:
            store_patterns(
                with_pattern_labels(rows, per_pattern, patterned.keys),
                patterns_ref,
                patterned.codec,
                run.run_id,
                source_version,
                votes_version,
                lf_names,
            )
            clock.lap("stored patterns")
        if split is not None and per_pattern is not None:
            assert against is not None  # split is only built when there is a run to compare with
            transitions = pattern_transitions(split, per_pattern, patterned.keys, against)
    candidates = _candidate_columns(predicted, annotators is not None)
    candidates = publish_gold(candidates, spark, gold_set, len(ds.classes))
    end_model = None
    if ds.end_model is not None:
        texts = (
            spark.read.format("delta")
            .option("versionAsOf", source_version)
            .load(str(source_ref.path))
            .select("id", "text")
        )
        end_model = add_end_model(
            candidates,
            texts,
            ds.end_model,
            key,
            F.col("_label_source") == GOLD_SOURCE,
            where=f"{ds.name} run {run.run_id}",
        )
        candidates = end_model.rows
        log.info(
            "fit_label_model %s: end model %s trained on %d weighted rows in %.1f s (publishes %s)",
            ds.name,
            end_model.model_id,
            end_model.training_rows,
            end_model.fit_seconds,
            ds.end_model.publish,
        )
    else:
        candidates = _without_end_model(candidates)
    end_model_id = end_model.model_id if end_model else None
    class_names = F.array(*[F.lit(c) for c in ds.classes])
    lineage = {
        "_source_table": F.lit(source_ref.name),
        "_source_version": F.lit(source_version).cast("long"),
        "_lf_set_version": F.lit(votes_meta["lf_set_version"]),
        "_lf_versions": F.col("_lf_versions"),
        "_label_source": F.col("_label_source"),
        "_label_model": F.lit(model_id),
        "_end_model": F.lit(end_model_id).cast("string"),
        "_labeled_at": F.lit(labeled_at).cast("timestamp"),
        "_code_version": F.lit(code_version()),
        "_run_id": F.lit(run.run_id),
        # The Airflow DAG that ran it (null from the CLI): with _run_id, the DAG run in Airflow's UI.
        "_dag_id": F.lit(run.dag_id or None).cast("string"),
    }

    def staged_columns(frame: DataFrame, *extra: str) -> DataFrame:
        return frame.select(
            "id",
            F.col("label"),
            F.when(F.col("label") >= 0, F.element_at(class_names, F.col("label") + 1)).alias("label_name"),
            "probs",
            "confidence",
            "label_model_label",
            "end_model_label",
            "end_model_confidence",
            *[value.alias(name) for name, value in lineage.items()],
            *extra,
        )

    staged = staged_columns(candidates)
    staging_ref = table(settings, ds.name, "staging_labels")
    _reset_staging_if_schema_changed(spark, staging_ref, staged)
    _limit_staging_stats(spark, staging_ref)
    publishes_gold = gold_set is not None and gold_set.publish
    user_metadata = commit_metadata(
        stage="fit_label_model",
        fit_key=key,
        end_model=end_model_id,
        gold_set_version=gold_set.version if gold_set else None,
        **(
            {}
            if end_model is not None or publishes_gold or distribution is None
            else {
                "label_distribution": distribution,
                **({TRANSITIONS_KEY: transitions.record()} if transitions is not None else {}),
            }
        ),
        **_lineage_json(ds, source_ref.name, source_version, votes_meta, model_id, run, labeled_at),
    )
    if (
        per_pattern is not None
        and end_model is None
        and not publishes_gold
        and distribution is not None
        and int(distribution["rows"]) > 0
        and staging_files.applies(staging_ref)
    ):
        # Every staged column is the row's pattern's: write them as pattern lookups (jobs/stages/fit/staging.py).
        if not staging_ref.exists():
            (
                spark.createDataFrame([], staged.schema)
                .write.format("delta")
                .partitionBy("_run_id")
                .option(STATS_COLUMNS_PROPERTY, STAGING_STATS_COLUMNS)
                .save(str(staging_ref.path))
            )
        unkeyed = per_pattern.withColumn("id", F.lit(None).cast("string"))
        pattern_table = staged_columns(
            _without_end_model(_candidate_columns(unkeyed, annotators is not None, staging_files.PATTERN)),
            staging_files.PATTERN,
        ).toArrow()
        staged_names = [c for c in staged.columns if c != "_run_id"]
        if updated is not None and updated.files is not None:
            # The rerun's rows are the stored row patterns' files plus the edit: read by Arrow in the tasks.
            stored_files = updated.files
            keys = per_pattern.select(*patterned.keys, staging_files.PATTERN).toArrow()
            log.info(
                "fit_label_model %s: staging rows read by Arrow from %d stored row-pattern files",
                ds.name,
                len(stored_files.files),
            )
            staging_files.write_run_partition_from_files(
                spark,
                list(stored_files.files),
                functools.partial(stored_files.indexed_rows, keys=keys, index=staging_files.PATTERN),
                pattern_table,
                staged_names,
                staging_ref,
                run.run_id,
                STAGING_STATS_COLUMNS.split(","),
                user_metadata,
            )
        else:
            indexed = rows.join(
                F.broadcast(per_pattern.select(*patterned.keys, staging_files.PATTERN)), patterned.keys, "left"
            )
            staging_files.write_run_partition(
                spark,
                indexed,
                pattern_table,
                staged_names,
                staging_ref,
                run.run_id,
                STAGING_STATS_COLUMNS.split(","),
                user_metadata,
            )
    else:
        (
            staged.write.format("delta")
            .mode("overwrite")
            .partitionBy("_run_id")
            .option(STATS_COLUMNS_PROPERTY, STAGING_STATS_COLUMNS)
            .option("replaceWhere", f"_run_id = '{run.run_id}'")
            .option("userMetadata", user_metadata)
            .save(str(staging_ref.path))
        )
    rows.unpersist()
    if split is not None:
        split.unpersist()
    clock.lap("staging write")
    if end_model is not None:
        end_model.cached.unpersist()
    staging_version, _ = latest_commit(spark, staging_ref)
    if distribution is not None:
        labeled = distribution["rows"] - distribution["unlabeled"]
    else:
        labeled = (
            spark.read.format("delta")
            .load(str(staging_ref.path))
            .where((F.col("_run_id") == run.run_id) & (F.col("label_model_label") >= 0))
            .count()
        )
    log.info(
        "fit_label_model %s: %s on %d rows, %d distinct patterns; %d labeled -> %s@v%d (%s)",
        ds.name,
        model.name,
        total,
        n_patterns,
        labeled,
        staging_ref.name,
        staging_version,
        clock,
    )
    return FitResult(
        total,
        n_patterns,
        labeled,
        staging_version,
        model_id,
        end_model=end_model_id,
        gold_set_version=gold_set.version if gold_set else None,
    )


def _published_pattern_labels_run(
    spark: SparkSession, settings: Settings, ds: DatasetConfig, updated: UpdatedPatterns | None
) -> str | None:
    """The run whose labels are published, when they are the labels stored with ``updated``'s row
    patterns: that run stored them, and its labels are its pattern labels."""
    if updated is None or not updated.has_stored_labels or updated.stored_run is None:
        return None
    labels_ref = table(settings, ds.name, "labels")
    if not labels_ref.exists():
        return None
    _, meta = latest_commit(spark, labels_ref)
    return updated.stored_run if pattern_labels_run(meta) == updated.stored_run else None


def _fits_on_executors(
    ds: DatasetConfig, patterned: RowPatterns, annotators: bool, counts_table: DataFrame, n_lfs: int
) -> tuple[int, int] | None:
    """``(distinct patterns, rows)`` when this fit keeps its patterns in Spark, else None: a pack
    too wide for packed codes (hundreds of LFs), more distinct patterns than
    ``LABELLAKE_FIT_ON_EXECUTORS_ABOVE`` (almost every row its own pattern), and Dawid-Skene asked
    for (or ``auto``, whose other families need the patterns on the driver). Another configured
    model is fitted as configured, on the driver. Both numbers come from one aggregate."""
    if patterned.codec is not None or annotators or ds.label_model not in ("auto", "dawid_skene"):
        return None
    patterns, rows = (int(x or 0) for x in counts_table.agg(F.count(F.lit(1)), F.sum("count")).first())
    if patterns <= fit_on_executors.threshold():
        return None
    log.warning(
        "fit_label_model %s: %d distinct patterns over %d LFs: fitting dawid_skene on the executors "
        "(no model selection%s, no LF analysis for this run: both need the patterns on the driver)",
        ds.name,
        patterns,
        n_lfs,
        ", label_model auto" if ds.label_model == "auto" else "",
    )
    return patterns, rows


def _fit_on_driver(
    spark: SparkSession,
    settings: Settings,
    ds: DatasetConfig,
    run: RunContext,
    record: dict,
    patterned: RowPatterns,
    counted: pd.DataFrame,
    rows: DataFrame,
    L: np.ndarray,
    counts: np.ndarray,
    lf_names: list[str],
    votes_meta: dict,
    gold: DataFrame | None,
    annotator_sources: list[str],
    counts_ref: TableRef,
    clock: StepClock,
) -> tuple[Choice, str, DataFrame, DataFrame | None, dict[str, Any]]:
    """The fit on the distinct patterns collected to the driver: LF analysis, model (chosen on dev
    gold when configured), per-pattern prediction; returns the choice, the model id, the predicted
    rows, the per-pattern predictions (None when predicted per row) and the label distribution
    counted from the patterns."""
    gold_counts = gold_pattern_counts(patterned, gold, ds.dev_percent) if gold is not None else []
    dev = None
    if ds.model_selection and gold is not None:
        dev_counts = dev_pattern_counts(gold_counts)
        if ds.uncovered == "abstain":  # uncovered rows get -1 whatever the model: do not score them
            dev_counts = [entry for entry in dev_counts if entry[0]]
        dev = (
            pattern_matrix([p for p, _, _ in dev_counts], lf_names),
            np.array([g for _, g, _ in dev_counts], dtype=np.int64),
            np.array([n for _, _, n in dev_counts], dtype=np.float64),
        )
    analyse_lfs(spark, settings, ds, run, L, counts, lf_names, votes_meta, gold_counts, record)
    clock.lap("LF analysis")
    blind = tuple(j for j, name in enumerate(lf_names) if name in annotator_sources)
    choice = choose_model(ds, L, counts, dev, blind)
    model = choice.model
    counts_version, _ = latest_commit(spark, counts_ref)
    model_id = record_label_model(spark, settings, ds, run, model, choice, lf_names, votes_meta, counts_version)
    clock.lap("model")
    labels, probs = pattern_labels(model, L, ds.uncovered)
    predicted, per_pattern = predicted_and_per_pattern(
        spark, rows, patterned, counted, model, L, lf_names, labels, probs, ds.uncovered, votes_meta["lf_versions"]
    )
    return choice, model_id, predicted, per_pattern, label_distribution(ds.classes, counts, labels, probs)


def _candidate_columns(predicted: DataFrame, with_annotators: bool, *extra: str) -> DataFrame:
    """The model's candidate label columns of predicted rows (or of the per-pattern predictions)."""
    return predicted.select(
        "id",
        "label",
        "probs",
        "confidence",
        F.col("label").alias("label_model_label"),
        # Per pattern (see prediction_frame): JSON {lf: version} of the LFs that voted on the row.
        F.coalesce(F.col("_lf_versions"), F.lit("{}")).alias("_lf_versions"),
        *extra,
    ).withColumn("_label_source", label_source(with_annotators))


def _without_end_model(candidates: DataFrame) -> DataFrame:
    return candidates.select(
        "*", F.lit(None).cast("int").alias("end_model_label"), F.lit(None).cast("double").alias("end_model_confidence")
    )


def publish_gold(candidates: DataFrame, spark: SparkSession, gold_set: GoldSet | None, k: int) -> DataFrame:
    """With ``gold_set.publish``, the adjudicated *train* rows take their gold label
    (``probs`` one-hot, ``_label_source = 'gold'``); ``label_model_label`` keeps the model's."""
    gold = train_gold(spark, gold_set) if gold_set is not None and gold_set.publish else None
    if gold is None:
        return candidates
    is_gold = F.col("gold_label").isNotNull()
    one_hot = F.transform(
        F.sequence(F.lit(0), F.lit(k - 1)), lambda i: F.when(i == F.col("gold_label"), F.lit(1.0)).otherwise(F.lit(0.0))
    )
    return (
        candidates.join(F.broadcast(gold), "id", "left")
        .withColumn("label", F.when(is_gold, F.col("gold_label")).otherwise(F.col("label")))
        .withColumn("probs", F.when(is_gold, one_hot).otherwise(F.col("probs")))
        .withColumn("confidence", F.when(is_gold, F.lit(1.0)).otherwise(F.col("confidence")))
        .withColumn("_label_source", F.when(is_gold, F.lit(GOLD_SOURCE)).otherwise(F.col("_label_source")))
        .drop("gold_label")
    )


def fit_key(
    ds: DatasetConfig,
    source_version: int,
    votes_version: int,
    lf_set_version: str,
    gold_version: int | None,
    annotations_version: int | None = None,
) -> str:
    """A hash of everything that determines the labels: equal keys, equal labels (models are seeded).

    The whole dataset config goes in (label model, options, selection, uncovered policy, and the
    expectation thresholds, so a tightened threshold is validated again), as does the code version.
    """
    config = {k: v for k, v in dataclasses.asdict(ds).items() if k not in ("nightly", "description", "review_queue")}
    material = json.dumps(
        {
            "config": config,
            "source_version": source_version,
            "votes_version": votes_version,
            "lf_set_version": lf_set_version,
            "gold_version": gold_version,
            "code_version": code_version(),
            **({} if annotations_version is None else {"annotations_version": annotations_version}),
        },
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(material.encode()).hexdigest()[:16]


def _table_version(ref: TableRef) -> int | None:
    from deltalake import DeltaTable

    return DeltaTable(str(ref.path)).version() if ref.exists() else None


def current_labels(
    spark: SparkSession | None, settings: Settings, ds: DatasetConfig, key: str, quiet: bool = False
) -> FitResult | None:
    """The published labels when they were fitted with ``key`` (nothing changed since), else None
    (``quiet``: without saying so in the log, for a check before the stage runs)."""
    labels_ref = table(settings, ds.name, "labels")
    if not labels_ref.exists():
        return None
    version, meta = latest_commit(spark, labels_ref)
    if meta.get("fit_key") != key:
        return None
    published = run_record(spark, settings, meta["run_id"], ds.name) or {}
    (log.debug if quiet else log.info)(
        "fit_label_model %s: nothing changed since run %s (fit key %s); %s@v%d stays current, nothing fitted",
        ds.name,
        meta["run_id"],
        key,
        labels_ref.name,
        version,
    )
    return FitResult(
        int(published.get("published_rows") or 0),
        int(published.get("patterns") or 0),
        int(published.get("labeled_rows") or 0),
        int(meta.get("staging_version", -1)),
        str(meta.get("label_model")),
        current_from=str(meta["run_id"]),
    )


def analyse_lfs(
    spark: SparkSession,
    settings: Settings,
    ds: DatasetConfig,
    run: RunContext,
    L: np.ndarray,
    counts: np.ndarray,
    lf_names: list[str],
    votes_meta: dict,
    gold_counts: list[tuple[str, int, bool, int]],
    record: dict,
) -> None:
    """Write the run's LF analysis (coverage, overlaps, conflicts, gold accuracy) from the pattern
    counts in hand; apply's Python-LF error report comes from the run's record."""
    gold = None
    if gold_counts:
        gold = (
            pattern_matrix([p for p, _, _, _ in gold_counts], lf_names),
            np.array([g for _, g, _, _ in gold_counts], dtype=np.int64),
            np.array([n for _, _, _, n in gold_counts], dtype=np.int64),
        )
    stats = lf_summary(L, counts, int(counts.sum()), lf_names, gold)
    kinds = votes_meta.get("lf_kinds") or {}
    errors = json.loads(record.get("lf_errors") or "{}")
    write_lf_analysis(
        stats,
        [(n, votes_meta["lf_versions"][n], kinds.get(n, "")) for n in lf_names],
        errors,
        table(settings, ds.name, "lf_analysis"),
        run.run_id,
    )


def _reset_staging_if_schema_changed(spark: SparkSession, ref: TableRef, staged: DataFrame) -> None:
    """Staging is scratch space: if an older labellake wrote it with other columns, start it afresh
    (a per-run ``replaceWhere`` cannot change the schema)."""
    if not ref.exists():
        return
    current = spark.read.format("delta").load(str(ref.path)).schema
    # Compare names and types, not nullability: Delta reads arrays back as containsNull=true,
    # and treating that as a change would drop the candidates kept from earlier (failed) runs.
    wanted = {f.name: f.dataType.simpleString() for f in staged.schema.fields}
    if {f.name: f.dataType.simpleString() for f in current.fields} != wanted:
        log.warning(
            "fit_label_model: %s has an older schema; rewriting it (its old runs' candidates are dropped; "
            "earlier versions stay readable by time travel)",
            ref.name,
        )
        (
            spark.createDataFrame([], staged.schema)
            .write.format("delta")
            .mode("overwrite")
            .option("overwriteSchema", "true")
            .partitionBy("_run_id")
            .save(str(ref.path))
        )


STATS_COLUMNS_PROPERTY = "delta.dataSkippingStatsColumns"
STAGING_STATS_COLUMNS = "id,label,confidence"
"""The columns whose min/max Delta records per staging (and, once published, labels) file: the
ones lookups filter on. Statistics on every column (long lineage strings, the probs array) cost
40% of the 10M-row staging write; the files are committed to the labels table as they are
(:mod:`jobs.stages.publish.commit_files`), so these are the labels table's data-skipping statistics too."""


def _limit_staging_stats(spark: SparkSession, ref: TableRef) -> None:
    """Set :data:`STAGING_STATS_COLUMNS` on a staging table created before it was a setting
    (a new table gets it from the write's option)."""
    if not ref.exists():
        return
    from deltalake import DeltaTable

    if DeltaTable(str(ref.path)).metadata().configuration.get(STATS_COLUMNS_PROPERTY) != STAGING_STATS_COLUMNS:
        spark.sql(
            f"ALTER TABLE delta.`{ref.path}` SET TBLPROPERTIES ('{STATS_COLUMNS_PROPERTY}' = '{STAGING_STATS_COLUMNS}')"
        )


def record_label_model(
    spark: SparkSession,
    settings: Settings,
    ds: DatasetConfig,
    run: RunContext,
    model: LabelModel,
    choice: Choice,
    lf_names: list[str],
    votes_meta: dict,
    counts_version: int,
) -> str:
    """Append the fitted model to the ``label_models`` table; return its id ``name@version``.

    One row per run: the parameters as JSON (enough to audit or reload the model),
    the LF versions it was fitted on, the pattern-counts version it read, the
    learned per-LF accuracies (shown by ``labellake lfs``) and how it was chosen.
    Re-running the same run id replaces its row, so retries do not duplicate.
    """

    model_id = f"{model.name}@{model.version()}"
    accuracies = model.lf_accuracies()
    row = {
        "_run_id": run.run_id,
        "model": model.name,
        "model_id": model_id,
        "params": json.dumps(model.params(), sort_keys=True),
        "lf_names": lf_names,
        "lf_versions": json.dumps(votes_meta["lf_versions"], sort_keys=True),
        "lf_accuracies": None if accuracies is None else [float(a) for a in accuracies],
        "pattern_counts_version": int(counts_version),
        "selection": json.dumps(choice.record(), sort_keys=True),
    }
    import pyarrow as pa

    schema = pa.schema(
        [
            ("_run_id", pa.string()),
            ("model", pa.string()),
            ("model_id", pa.string()),
            ("params", pa.string()),
            ("lf_names", pa.list_(pa.string())),
            ("lf_versions", pa.string()),
            ("lf_accuracies", pa.list_(pa.float64())),
            ("pattern_counts_version", pa.int64()),
            ("selection", pa.string()),
        ]
    )
    ref = table(settings, ds.name, "label_models")
    replace_run_rows(
        ref,
        pa.Table.from_pylist([row], schema=schema),
        run.run_id,
        commit_metadata(run_id=run.run_id, stage="fit_label_model", dataset=ds.name),
    )
    log.info("fit_label_model %s: %s (%s) recorded in %s", ds.name, model_id, choice.selected_by, ref.name)
    return model_id


def _lineage_json(
    ds: DatasetConfig,
    source_table: str,
    source_version: int,
    votes_meta: dict,
    model_id: str,
    run: RunContext,
    labeled_at: datetime,
) -> dict:
    """The lineage recorded on every labeled row, as a dict for commit metadata."""
    return {
        "run_id": run.run_id,
        "dataset": ds.name,
        "trigger": run.trigger,
        "dag_id": run.dag_id,
        "source_table": source_table,
        "source_version": source_version,
        "lf_set_version": votes_meta["lf_set_version"],
        "lf_versions": votes_meta["lf_versions"],
        "label_model": model_id,
        "labeled_at": labeled_at.isoformat(),
        "code_version": code_version(),
    }
