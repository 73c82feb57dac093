"""The label model fitted on the pattern counts: on the driver, or on the executors for very many patterns.

Only the table of *distinct* vote patterns and their counts reaches the driver
(at most one row per pattern, whatever the row count). Nothing here writes a
table: the stage writes the LF analysis and the model record with its outputs.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.core.datasets import DatasetConfig
from jobs.core.settings import Settings
from jobs.hand_labels.gold_set import evaluation_gold
from jobs.label_models import LabelModel
from jobs.lake.tables import delta_rs_location, latest_commit
from jobs.patterns.label_transitions import LabelTransitions, pattern_transitions, transitions_in_hand
from jobs.patterns.vote_patterns import RowPatterns, pattern_matrix
from jobs.stages.fit import on_executors as fit_on_executors
from jobs.stages.fit.choose_model import Choice, choose_model, dev_pattern_counts, gold_pattern_counts
from jobs.stages.fit.fit_patterns import FitPatterns
from jobs.stages.fit.inputs import FitInputs, StepClock
from jobs.stages.fit.lf_analysis import lf_summary
from jobs.stages.fit.on_executors import fit_dawid_skene_on_executors, patterns_from_strings, predict_pattern_rows
from jobs.stages.fit.predictions import label_distribution, pattern_labels, predicted_and_per_pattern

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LFAnalysis:
    """The run's per-LF statistics, to be written to ``lf_analysis``."""

    stats: dict[str, dict[str, Any]]
    lfs: list[tuple[str, str, str]]
    """Every LF as (name, version, kind), so an LF that never voted still gets a row."""
    errors: dict[str, dict[str, Any]]
    """Apply's Python-LF error report, from the run's record."""


@dataclass(frozen=True)
class FittedModel:
    """The fitted model, how it was chosen, and its predictions (lazy Spark frames)."""

    model: LabelModel
    choice: Choice
    counts_version: int
    predicted: DataFrame
    """Every row with ``label``, ``probs``, ``confidence`` and ``_lf_versions``."""
    per_pattern: DataFrame | None
    """The per-pattern predictions the rows were joined from (None when predicted per row)."""
    distribution: dict[str, Any] | None
    """Rows per class counted from the patterns (None when fitted on the executors)."""
    patterns: int
    rows: int
    lf_analysis: LFAnalysis | None
    transitions: LabelTransitions | None

    @property
    def model_id(self) -> str:
        return f"{self.model.name}@{self.model.version()}"

    @property
    def on_driver(self) -> bool:
        """Fitted on the patterns collected to the driver (they counted the label distribution)."""
        return self.distribution is not None


def fits_on_executors(
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


def fit_model(
    spark: SparkSession, settings: Settings, ds: DatasetConfig, inputs: FitInputs, fp: FitPatterns, clock: StepClock
) -> FittedModel:
    """Fit where the patterns fit: the executors for very many, else the driver."""
    gold = evaluation_gold(spark, settings, ds, inputs.gold_set.version if inputs.gold_set else None)
    counts_version, _ = latest_commit(spark, fp.counts_ref)
    if fp.counts is None:  # collected already: a fit on the driver
        return fit_on_driver(spark, ds, inputs, fp, gold, counts_version, clock)
    sizes = fits_on_executors(ds, fp.patterned, inputs.annotators is not None, fp.counts, len(inputs.lf_names))
    if sizes is None:
        return fit_on_driver(spark, ds, inputs, fp, gold, counts_version, clock)
    clock.lap("patterns")
    lf_names, k = inputs.lf_names, len(ds.classes)
    model = fit_dawid_skene_on_executors(
        patterns_from_strings(fp.counts, lf_names, k),
        len(lf_names),
        k,
        **(dict(ds.label_model_options) if ds.label_model == "dawid_skene" else {}),
        class_balance=ds.class_balance,
    )
    clock.lap("model")
    predicted = predict_pattern_rows(fp.rows, model, lf_names, ds.uncovered, inputs.votes_meta["lf_versions"])
    choice = Choice(model, "patterns on the executors")
    return FittedModel(model, choice, counts_version, predicted, None, None, *sizes, None, None)


def dev_votes(
    ds: DatasetConfig, gold_counts: list[tuple[str, int, bool, int]], lf_names: list[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(L, gold, weights) of the dev share of the gold rows' patterns, for model selection."""
    dev_counts = dev_pattern_counts(gold_counts)
    if ds.uncovered == "abstain":  # uncovered rows get -1 whatever the model: do not score them
        dev_counts = [entry for entry in dev_counts if entry[0]]
    return (
        pattern_matrix([p for p, _, _ in dev_counts], lf_names),
        np.array([g for _, g, _ in dev_counts], dtype=np.int64),
        np.array([n for _, _, n in dev_counts], dtype=np.float64),
    )


def lf_stats(
    L: np.ndarray, counts: np.ndarray, lf_names: list[str], gold_counts: list[tuple[str, int, bool, int]]
) -> dict[str, dict[str, Any]]:
    """Snorkel's per-LF statistics of the patterns ``L`` with their row ``counts``, and, from the
    ``(pattern, gold, dev, rows)`` gold counts, each LF's correct and incorrect votes."""
    gold = None
    if gold_counts:
        gold = (
            pattern_matrix([p for p, _, _, _ in gold_counts], lf_names),
            np.array([g for _, g, _, _ in gold_counts], dtype=np.int64),
            np.array([n for _, _, _, n in gold_counts], dtype=np.int64),
        )
    return lf_summary(L, counts, int(counts.sum()), lf_names, gold)


def lf_analysis_of(
    L: np.ndarray,
    counts: np.ndarray,
    lf_names: list[str],
    votes_meta: dict,
    gold_counts: list[tuple[str, int, bool, int]],
    record: dict,
) -> LFAnalysis:
    """Coverage, overlaps, conflicts and gold accuracy from the pattern counts in hand."""
    stats = lf_stats(L, counts, lf_names, gold_counts)
    kinds = votes_meta.get("lf_kinds") or {}
    lfs = [(n, votes_meta["lf_versions"][n], kinds.get(n, "")) for n in lf_names]
    return LFAnalysis(stats, lfs, json.loads(record.get("lf_errors") or "{}"))


def counts_as_written(fp: FitPatterns, version: int) -> pd.DataFrame | DataFrame:
    """The pattern counts' keys and counts at ``version``: the ones in hand, or read with delta-rs
    (a Spark read of the table this stage just wrote replays its log in several small jobs,
    docs/decisions/0007). On a store delta-rs does not open, or a log it cannot read, Spark's frame."""
    if fp.counted is not None:
        return fp.counted.select([*fp.patterned.keys, "count"]).to_pandas()
    assert fp.counts is not None  # one of the two is set
    location = delta_rs_location(fp.counts_ref.path)
    if location is None:
        return fp.counts
    from deltalake import DeltaTable

    try:
        return DeltaTable(location, version=version).to_pandas(columns=[*fp.patterned.keys, "count"])
    except Exception:  # noqa: BLE001 - a reader feature delta-rs lacks: Spark reads it
        log.info("fit_label_model: pattern counts read with Spark (delta-rs cannot read %s)", fp.counts_ref.name)
        return fp.counts


def fit_on_driver(
    spark: SparkSession,
    ds: DatasetConfig,
    inputs: FitInputs,
    fp: FitPatterns,
    gold: DataFrame | None,
    counts_version: int,
    clock: StepClock,
) -> FittedModel:
    """The fit on the distinct patterns collected to the driver (one row per pattern, sorted so
    the fit sees the same order whatever Spark's partitioning): LF analysis, model (chosen on dev
    gold when configured), per-pattern prediction and the label changes."""
    lf_names, lf_versions = inputs.lf_names, inputs.votes_meta["lf_versions"]
    counted = fp.patterned.collect_counts(counts_as_written(fp, counts_version))
    clock.lap("patterns")
    counts = counted["count"].to_numpy(dtype=np.int64)
    if len(counts) and counts.min() <= 0:  # counts updated from stored ones that did not match the rows
        raise ValueError(f"{fp.counts_ref.name}: a pattern counts {counts.min()} rows; rerun with --mode full")
    L = fp.patterned.matrix(counted, lf_names)
    gold_counts = gold_pattern_counts(fp.patterned, gold, ds.dev_percent) if gold is not None else []
    dev = dev_votes(ds, gold_counts, lf_names) if ds.model_selection and gold is not None else None
    analysis = lf_analysis_of(L, counts, lf_names, inputs.votes_meta, gold_counts, inputs.record)
    clock.lap("LF analysis")
    blind = tuple(j for j, name in enumerate(lf_names) if name in inputs.annotator_sources)
    choice = choose_model(ds, L, counts, dev, blind)
    clock.lap("model")
    labels, probs = pattern_labels(choice.model, L, ds.uncovered)
    predicted, per_pattern = predicted_and_per_pattern(
        spark, fp.rows, fp.patterned, counted, choice.model, L, lf_names, labels, probs, ds.uncovered, lf_versions
    )
    transitions = None
    if fp.split is not None and per_pattern is not None:
        assert fp.against is not None  # split is only built when there is a run to compare with
        keys = fp.patterned.keys
        if isinstance(fp.split, DataFrame):
            transitions = pattern_transitions(fp.split, per_pattern, keys, fp.against)
        else:
            transitions = transitions_in_hand(fp.split, counted[keys].assign(label=labels), keys, fp.against)
    distribution = label_distribution(ds.classes, counts, labels, probs)
    return FittedModel(
        choice.model, choice, counts_version, predicted, per_pattern, distribution, len(L), int(counts.sum()),
        analysis, transitions,
    )  # fmt: skip
