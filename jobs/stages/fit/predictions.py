"""Per-pattern predictions and how they reach the rows: broadcast-joined, or computed per row.

The model is fitted and evaluated on the distinct vote patterns; its per-pattern
predictions are broadcast-joined back to the rows in Spark, or, above 200,000
patterns, computed per row on the executors from the fitted model's per-LF
scores (:mod:`jobs.stages.fit.predict_on_executors`).
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING

import numpy as np
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, DoubleType, IntegerType, LongType, StringType, StructField, StructType

from jobs.label_models import LabelModel
from jobs.patterns.vote_patterns import RowPatterns
from jobs.stages.fit import predict_on_executors
from jobs.stages.fit import staging as staging_files

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
    votes share it), found with ``np.unique`` over the packed voting masks.
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
    the LFs that voted on rows with this pattern (the whole LF set is ``_lf_set_version``;
    docs/decisions/0005).
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
