"""The contract a candidate labeling must meet before it is published.

The suite checks the candidate labels grouped by label, class, row problem and gold agreement
(:mod:`expectations.label_summary`: one Spark pass, then a pandas frame of a few rows), with
stock GX expectations:

- ``ExpectColumnValuesToBeNull`` over ``row_problem`` (null when the row is sound, else what is
  wrong: id or label missing, label out of range, ``probs`` unsound), reported with the broken
  rows' count, problems and some of their ids;
- shares as sums of the groups' parts (``ExpectColumnSumToBeBetween``): ``labeled_share``
  (coverage) and ``share_<class>`` (the class's share among labeled rows);
- drift against the last published labels (their distribution, recorded on their commit or
  read by Delta time travel): the sum of the groups' KL(candidate || published) terms, and the
  mean confidence (``confidence_share``); the gold-accuracy floor (``gold_agreement_share``).

Why groups and not rows (what this suite used to check): every one of these is a property of
the distribution, and GX over every row cost a cache of the rows plus a Spark job per metric.

Unique ids are the one row-level property: ``id_unique`` is a unique proportion of 1 over
``id``, counted per hash bucket (``expectations/unique_values.py``: GX's
``ExpectColumnValuesToBeUnique`` is a window over every row; docs/decisions/0006), in its own
suite over the ids (:func:`build_ids_suite`); when it fails, :func:`name_duplicate_ids` adds the
duplicated ids. When the ids are the multiset a validated run or the ingest found unique (same
count and hash sum, ``values_fingerprint``), that outcome is carried instead
(:func:`carried_id_unique`) and the ids are not counted.

The share of labels changed since the published labels has its own suite
(:func:`build_label_change_suite`) over the label transition table
(``jobs/patterns/label_transitions.py``): one row per (published label, candidate label)
pair, counted from vote patterns when the fit could, else by one join, instead
of joining every candidate id with every published id (docs/decisions/0006).

Each expectation carries ``meta`` (what it checks, the threshold) so a failure
can be reported as "class_share_max[SPAM]: observed 0.97 > 0.95".
"""

from __future__ import annotations

import functools
import operator
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from expectations.descriptions import checked_suite
from jobs.core.dataset_sections import ExpectationConfig

if TYPE_CHECKING:  # GX takes seconds to import: only a stage that validates pays for it
    import great_expectations as gx

PROB_SUM_TOLERANCE = 1e-6
SUM_TOLERANCE = 1e-12


@dataclass(frozen=True)
class PublishedStats:
    """What drift is measured against: the last published labeling, aggregated once."""

    version: int
    run_id: str | None
    class_shares: dict[str, float]
    mean_confidence: float


def published_stats(published: DataFrame, version: int, run_id: str | None) -> PublishedStats:
    """Class shares among labeled rows and mean confidence of a published labels version (one pass)."""
    groups = (
        published.groupBy("label", "label_name")
        .agg(F.count(F.lit(1)).alias("n"), F.sum("confidence").alias("confidence"))
        .collect()
    )
    rows = sum(int(g["n"]) for g in groups)
    mean = sum(float(g["confidence"] or 0.0) for g in groups) / rows if rows else 0.0
    counts = {g["label_name"]: int(g["n"]) for g in groups if g["label"] is not None and g["label"] >= 0}
    total = sum(counts.values())
    shares = {k: v / total for k, v in counts.items()} if total else {}
    return PublishedStats(version, run_id, shares, float(mean or 0.0))


def recorded_published_stats(meta: dict[str, Any], version: int) -> PublishedStats | None:
    """:class:`PublishedStats` from a labels commit's ``label_distribution`` (recorded by the fit
    from its pattern counts, see ``jobs.stages.fit.predictions.label_distribution``), or None when the
    commit has none (older labels, gold or end-model labels): then :func:`published_stats` scans."""
    recorded = meta.get("label_distribution")
    if not isinstance(recorded, dict) or not recorded.get("rows"):
        return None
    counts = {name: int(n) for name, n in recorded["classes"].items() if int(n) > 0}
    total = sum(counts.values())
    shares = {name: n / total for name, n in counts.items()} if total else {}
    return PublishedStats(
        version, meta.get("run_id"), shares, float(recorded["confidence_sum"]) / int(recorded["rows"])
    )


def _problems(n_classes: int) -> list[tuple[Any, str]]:
    """(condition, what is wrong) per row-level property: id and label present, label in [-1, k),
    and ``probs`` and ``confidence`` sound (length, range, sum, confidence = max)."""
    # The sum as k element reads, not ``aggregate`` with a lambda: Spark interprets
    # higher-order functions row by row, and at 10M rows that was most of the view's cost.
    total = sum((F.coalesce(F.try_element_at("probs", F.lit(i + 1)), F.lit(0.0)) for i in range(n_classes)), F.lit(0.0))
    return [
        (F.col("id").isNull(), "id is null"),
        (F.col("label").isNull(), "label is null"),
        ((F.col("label") < -1) | (F.col("label") >= n_classes), f"label not in [-1, {n_classes - 1}]"),
        (F.size("probs") != n_classes, f"length != {n_classes}"),
        ((F.array_min("probs") < 0) | (F.array_max("probs") > 1), "a prob outside [0, 1]"),
        (F.abs(total - 1.0) > PROB_SUM_TOLERANCE, "sum != 1"),
        (F.abs(F.col("confidence") - F.array_max("probs")) > 1e-9, "confidence != max prob"),
    ]


def row_problem(n_classes: int) -> Any:
    """Null when a row is sound, else what is wrong with it (:func:`_problems`).

    The row-level properties share one column so GX checks them in one pass over
    the rows (each expectation is at least one Spark job over 10M rows), and a
    failure still names the problem and, through the index column, the row ids.
    The text is built only for a broken row: a string per sound row cost a fifth
    of the validation pass.
    """
    problems = _problems(n_classes)
    broken = functools.reduce(operator.or_, [F.coalesce(c, F.lit(False)) for c, _ in problems])
    return F.when(broken, F.concat_ws(", ", *[F.when(c, F.lit(text)) for c, text in problems]))


def share_column(classes: tuple[str, ...], index: int) -> str:
    """The view's 0/1 column "is this labeled row of class ``index``": ``share_SPAM`` in Data Docs,
    or ``share_<index>`` when a class name is not a plain identifier or two differ only in case
    (Spark resolves column names without case)."""
    plain = all(re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", c) for c in classes)
    distinct = len({c.lower() for c in classes}) == len(classes)
    return f"share_{classes[index]}" if plain and distinct else f"share_{index}"


def build_suite(
    name: str,
    classes: tuple[str, ...],
    thresholds: ExpectationConfig,
    published: PublishedStats | None = None,
    with_gold: bool = False,
) -> gx.ExpectationSuite:
    """The candidate-labels suite for a dataset with ``classes`` and ``thresholds``, over the
    labels' groups (``LabelGroups.suite_frame``).

    With ``published`` (the last published labeling), the drift expectations are
    added; a first run has none and says so in its log. With ``with_gold`` and a
    ``min_gold_accuracy``, the accuracy floor is added.
    """
    import great_expectations as gx

    E = gx.expectations
    k = len(classes)
    checks: list[tuple[gx.expectations.Expectation, str, object]] = []

    def add(expectation: gx.expectations.Expectation, check: str, threshold: object) -> None:
        checks.append((expectation, check, threshold))

    add(E.ExpectColumnSumToBeBetween(column="rows", min_value=1), "rows_present", ">= 1")
    add(
        E.ExpectColumnValuesToBeNull(column="row_problem"),
        "rows_valid",
        f"id and label not null, label in [-1, {k - 1}], probs: len == {k}, each in [0, 1], "
        f"sum 1 +/- {PROB_SUM_TOLERANCE}, confidence == max prob",
    )
    add(share_at_least("labeled_share", thresholds.min_coverage), "coverage", thresholds.min_coverage)
    for cls, (low, high) in thresholds.class_share.items():
        share = share_column(classes, classes.index(cls))
        add(share_at_least(share, low), f"class_share_min[{cls}]", low)
        add(share_at_most(share, high), f"class_share_max[{cls}]", high)
    if published is not None:
        add_drift(add, thresholds, published)
    if with_gold and thresholds.min_gold_accuracy is not None:
        add(
            share_at_least("gold_agreement_share", thresholds.min_gold_accuracy),
            "gold_accuracy",
            f">= {thresholds.min_gold_accuracy}",
        )
    return checked_suite(name, checks)


def share_at_least(column: str, low: float) -> gx.expectations.Expectation:
    """The sum of ``column`` (a share's parts) is at least ``low``, give or take float error."""
    import great_expectations as gx

    return gx.expectations.ExpectColumnSumToBeBetween(column=column, min_value=low - SUM_TOLERANCE)


def share_at_most(column: str, high: float) -> gx.expectations.Expectation:
    import great_expectations as gx

    return gx.expectations.ExpectColumnSumToBeBetween(column=column, max_value=high + SUM_TOLERANCE)


def build_ids_suite(name: str) -> gx.ExpectationSuite:
    """``id_unique`` over the candidate ids (a Spark frame of ``id``): every id once."""
    from expectations.unique_values import ExpectColumnProportionOfUniqueValuesByHashBucketsToBeBetween

    unique = ExpectColumnProportionOfUniqueValuesByHashBucketsToBeBetween(column="id", min_value=1.0)
    return checked_suite(name, [(unique, "id_unique", ID_UNIQUE_THRESHOLD)])


KL_FLOOR = 1e-6
"""Weight given to a class the published labeling never used, so KL stays finite and a class
appearing from nowhere reads as large drift, not as an error."""


def add_drift(add: Any, thresholds: ExpectationConfig, published: PublishedStats) -> None:
    """KL(candidate || published class distribution) at most the threshold, as the sum of the
    groups' terms (``kl_divergence_term``); the mean confidence no more than the allowed drop."""
    add(
        share_at_most("kl_divergence_term", thresholds.max_kl_divergence),
        "drift_kl",
        f"<= {thresholds.max_kl_divergence} vs v{published.version}",
    )
    floor = max(published.mean_confidence - thresholds.max_confidence_drop, 0.0)
    add(
        share_at_least("confidence_share", round(floor, 6)),
        "drift_mean_confidence",
        f">= {floor:.4f} (v{published.version}: {published.mean_confidence:.4f} - {thresholds.max_confidence_drop})",
    )


def build_label_change_suite(name: str, thresholds: ExpectationConfig, published_version: int) -> gx.ExpectationSuite:
    """ "Share of labels changed since the published version <= max", over the label transition
    table (``LabelTransitions.frame``): the sum of its ``changed_share`` column. Ids new since
    that version are not compared; when every id is new the share is 0."""
    import great_expectations as gx

    # The shares of several transitions add up with float error: 0.1 + 0.15 must pass "<= 0.25".
    expectation = gx.expectations.ExpectColumnSumToBeBetween(
        column="changed_share", max_value=thresholds.max_label_change_share + SUM_TOLERANCE
    )
    threshold = f"<= {thresholds.max_label_change_share} vs v{published_version}"
    return checked_suite(name, [(expectation, "drift_label_changes", threshold)])


ID_UNIQUE_THRESHOLD = "unique"
ID_UNIQUE_EXPECTATION = "expect_column_proportion_of_unique_values_by_hash_buckets_to_be_between"
"""The type of the expectation that counts ``id_unique`` (the one a carried outcome stands for)."""
IDS_KEY = "ids"
"""Where an ``id_unique`` outcome keeps the fingerprint of the ids it found unique."""


def validated_unique_ids(outcomes: list[dict[str, Any]]) -> dict[str, int] | None:
    """The fingerprint of the ids a run's ``id_unique`` passed on, from its recorded outcomes."""
    for outcome in outcomes:
        if outcome.get("check") == "id_unique" and outcome.get("success") and isinstance(outcome.get(IDS_KEY), dict):
            return dict(outcome[IDS_KEY])
    return None


def carried_id_unique(ids: dict[str, int], severity: str, validated_in: str) -> dict[str, Any]:
    """The ``id_unique`` outcome of ids whose fingerprint equals that of ids ``validated_in`` found unique."""
    return {
        "check": "id_unique",
        "expectation": ID_UNIQUE_EXPECTATION,
        "column": "id",
        "success": True,
        "observed": {"unique_share": 1.0, "same_ids_as": validated_in},
        "threshold": ID_UNIQUE_THRESHOLD,
        "severity": severity,
        IDS_KEY: ids,
    }


def name_duplicate_ids(outcomes: list[dict[str, Any]], view: DataFrame, limit: int = 5) -> None:
    """When ``id_unique`` failed, make its observed value name up to ``limit`` duplicated ids.

    The distinct-count expectation only observes the unique share; finding which ids repeat is
    a second pass over the rows, worth paying only when there is something to report.
    """
    for outcome in outcomes:
        if outcome["check"] == "id_unique" and not outcome["success"]:
            repeated = view.groupBy("id").count().where(F.col("count") > 1).orderBy("id").limit(limit).collect()
            outcome["observed"] = {
                "unique_share": outcome["observed"],
                "duplicate_ids": [row["id"] for row in repeated],
            }


def observed_value(check: str, result: dict) -> object:
    """A human-readable observed value for one expectation result."""
    if "observed_value" in result:
        value = result["observed_value"]
        return round(value, 6) if isinstance(value, float) else value
    sample = result.get("partial_unexpected_list", [])[:5]
    observed: dict[str, object] = {"unexpected_count": result.get("unexpected_count", 0), "sample": sample}
    ids = [row.get("id") for row in (result.get("partial_unexpected_index_list") or [])[:5] if isinstance(row, dict)]
    if ids:
        observed["ids"] = ids
    return observed
