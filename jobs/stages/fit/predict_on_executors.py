"""Label-model predictions computed per row on the executors, from the packed vote codes.

The fit stage normally predicts each *distinct pattern* on the driver and
broadcast-joins the predictions back to the rows: cheap when a run has a few
thousand patterns (real LF sets). With many independent LFs almost every row
is its own pattern, and then building, shipping and joining a per-pattern table
costs more than the fit, and driver memory grows with the patterns
(docs/decisions/0005).

Every model here is additive over LFs (:class:`jobs.label_models.LinearScores`),
so the fitted model is a few hundred numbers. This module turns them into
Spark expressions over the code columns of :mod:`jobs.patterns.vote_patterns`: per class,
the bias plus one ``element_at`` per LF indexed by that LF's digit, then the
model's link. No Python runs per row and nothing row-level reaches the driver.
The columns reproduce :func:`jobs.stages.fit.predictions.pattern_labels` (labels
exactly, probabilities to float rounding; ``tests/stages/fit/test_predict_on_executors.py``),
including ``_lf_versions``, which is built from the same digits.
"""

from __future__ import annotations

import json

import numpy as np
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from jobs.core.settings import env_setting
from jobs.label_models import LabelModel, LinearScores
from jobs.patterns.vote_patterns import PatternCodec

# Predict on the executors when a run has more distinct patterns than
# ``LABELLAKE_PREDICT_ON_EXECUTORS_ABOVE`` (default 200,000; 0 = always) and the model and codec
# allow it. Below it the per-pattern broadcast join is as fast and keeps one path for ordinary runs.

MAX_TERMS = 160
"""LFs x classes above which the per-row expression is too large to build and compile (trec's
68 LFs x 6 classes: 16 s to analyse, and the generated class no longer compiles, so Spark
interprets it); such packs keep the per-pattern join, which at their pattern counts is cheap."""


def threshold() -> int:
    return int(env_setting("LABELLAKE_PREDICT_ON_EXECUTORS_ABOVE"))


def usable(model: LabelModel, codec: PatternCodec | None, patterns: int) -> LinearScores | None:
    """The model's linear scores when this run should predict on the executors, else None."""
    if codec is None or patterns <= threshold():
        return None
    scores = model.linear_scores()
    if scores is None or scores.table.shape[0] * scores.table.shape[2] > MAX_TERMS:
        return None
    return scores


def _is_close(a: Column, b: Column) -> Column:
    """``numpy.isclose(a, b)`` with its default tolerances, so ties are the driver's ties."""
    return F.abs(a - b) <= F.lit(1e-8) + F.lit(1e-5) * F.abs(b)


def predict_rows(
    rows: DataFrame,
    scores: LinearScores,
    codec: PatternCodec,
    class_prior: np.ndarray,
    uncovered: str,
    lf_versions: dict[str, str],
) -> DataFrame:
    """``(id, label, probs, confidence, _lf_versions)`` for a frame of ``id`` and the code columns.

    Built in three projections (class scores, then probabilities, then label) so
    each class score is computed once per row; Spark keeps projections apart
    rather than duplicate an expensive expression. ``uncovered = "abstain"``: a
    row no LF voted on gets label -1 and ``class_prior`` as its probabilities,
    as :func:`jobs.stages.fit.predictions.pattern_labels` does.
    """
    m, k = scores.table.shape[0], scores.table.shape[2]
    digits = [codec.digit(j).cast("int") for j in range(m)]
    # One flat literal for the whole table, [j, digit, c] at (j * (k + 1) + digit) * k + c with
    # digit 0 = abstained (adds 0): a single constant in the generated code. One literal array
    # per (LF, class) made 408 constants for trec's 68 LFs x 6 classes, and the generated class
    # no longer compiled (Spark then falls back to interpreting the expression).
    flat = np.zeros((m, k + 1, k))
    flat[:, 1:, :] = scores.table
    table = F.lit(None).cast("array<double>") if not flat.size else F.array(*[F.lit(float(x)) for x in flat.ravel()])
    class_scores = []
    for c in range(k):
        total = F.lit(float(scores.bias[c]))
        for j in range(m):
            if scores.table[j, :, c].any():
                total = total + F.get(table, (F.lit(j * (k + 1)) + digits[j]) * F.lit(k) + F.lit(c))
        class_scores.append(total.alias(f"_s{c}"))
    no_votes = F.lit(True)
    for name in codec.columns:
        no_votes = no_votes & (F.col(name) == 0)
    scored = rows.select(
        "id",
        no_votes.alias("_uncovered"),
        voting_lf_versions_column(codec, digits, lf_versions).alias("_lf_versions"),
        *class_scores,
    )

    s = [F.col(f"_s{c}") for c in range(k)]
    top = F.greatest(*s)
    if scores.link == "top_split":
        weights = [F.when(_is_close(x, top), F.lit(1.0)).otherwise(F.lit(0.0)) for x in s]
    else:
        weights = [F.exp(x - top) for x in s]
    total = weights[0]
    for w in weights[1:]:
        total = total + w
    probs = [w / total for w in weights]
    with_probs = scored.select("id", "_uncovered", "_lf_versions", F.array(*probs).alias("_p"))

    p = [F.col("_p")[c] for c in range(k)]
    best = F.array_max("_p")
    tied = F.lit(0)
    for x in p:
        tied = tied + F.when(_is_close(x, best), 1).otherwise(0)
    label = F.when(tied == 1, F.array_position("_p", best).cast("int") - 1).otherwise(F.lit(-1))
    probs_out = F.col("_p")
    if uncovered == "abstain":
        label = F.when(F.col("_uncovered"), F.lit(-1)).otherwise(label)
        probs_out = F.when(F.col("_uncovered"), F.array(*[F.lit(float(x)) for x in class_prior])).otherwise(probs_out)
    final = with_probs.select("id", label.cast("int").alias("label"), probs_out.alias("probs"), "_lf_versions")
    return final.select("id", "label", "probs", F.array_max("probs").alias("confidence"), "_lf_versions")


VERSION_CHUNK = 6
"""LFs per lookup when building ``_lf_versions``: 2^6 precomputed texts per chunk."""


def voting_lf_versions_column(codec: PatternCodec, digits: list[Column], lf_versions: dict[str, str]) -> Column:
    """JSON ``{lf: version}`` of the LFs that voted on the row, byte for byte what
    :func:`jobs.stages.fit.predictions.voting_lf_versions` writes (``json.dumps(..., sort_keys=True)``).

    The LFs (in key order) are cut into chunks of :data:`VERSION_CHUNK`; each chunk's
    voting mask picks one of its precomputed texts, and the chunks are joined: one
    lookup per chunk instead of one conditional string per LF.
    """
    order = sorted(range(len(codec.lf_names)), key=lambda j: codec.lf_names[j])
    entry = {j: json.dumps(codec.lf_names[j]) + ": " + json.dumps(lf_versions[codec.lf_names[j]]) for j in order}
    parts = []
    for start in range(0, len(order), VERSION_CHUNK):
        chunk = order[start : start + VERSION_CHUNK]
        mask = F.lit(0)
        for bit, j in enumerate(chunk):
            mask = mask + F.when(digits[j] > 0, F.lit(1 << bit)).otherwise(F.lit(0))
        texts = [
            ", ".join(entry[j] for bit, j in enumerate(chunk) if bits >> bit & 1) or None
            for bits in range(1 << len(chunk))
        ]
        parts.append(F.element_at(F.array(*[F.lit(text).cast("string") for text in texts]), mask + 1))
    return F.concat(F.lit("{"), F.concat_ws(", ", *parts), F.lit("}"))
