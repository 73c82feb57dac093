"""The contract an input batch must meet before it replaces the source table.

Validated in ingest on every input row (before the quarantine split), so a
source whose text column went empty fails here, naming the column and the
observed null share, instead of quietly quarantining every row. Blank values
count as null. The accepted ids must be unique: the source table's key (when the
ingest counted every input id and none repeats, that count answers it:
:func:`unique_input_ids`; else :func:`build_source_ids_suite` counts them). The row count is
held against the previous ingest's input count (a sudden halving fails); the
first ingest has nothing to compare with.

Every other check is a property of the input's files and reasons, so the suite runs on the
ingest's per-file aggregate (one row per file and reason, with its blank ids and texts:
:func:`source_suite_frame`), a pandas frame of a few rows: no Spark job of its own. Shares are
sums of the rows' parts (``ExpectColumnSumToBeBetween``), as in the candidate-labels suite
(:mod:`expectations.label_summary`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from expectations.descriptions import checked_suite
from expectations.labels_suite import share_at_most
from jobs.core.dataset_sections import ExpectationConfig

if TYPE_CHECKING:  # GX takes seconds to import: only a stage that validates pays for it
    import great_expectations as gx


def null_share_column(column: str) -> str:
    return f"{column}_null_share"


def source_suite_frame(
    groups: Sequence[dict[str, Any]],
    id_column: str,
    text_column: str,
    file_shares: dict[str, float] | None = None,
    bytes_share: float = 0.0,
) -> pd.DataFrame:
    """The suite's rows: one per file and reason (``groups``: ``file``, ``rows``, ``blank_ids``,
    ``blank_texts``, ``quarantined``), with each one's part of the blank-id, blank-text and
    quarantined shares, its file's quarantined share (``file_shares``) and the quarantined share
    of the input's bytes (``bytes_share``: a file quarantined whole is one row but all its bytes,
    so losing a whole file cannot hide under the row share)."""
    total = sum(g["rows"] for g in groups)
    shares = file_shares or {}
    columns = ["rows", null_share_column(id_column), null_share_column(text_column), "quarantined_share"]
    columns += ["file_quarantined_share", "quarantined_bytes_share"]
    records = [
        (
            g["rows"],
            g["blank_ids"] / total,
            g["blank_texts"] / total,
            g["rows"] / total if g["quarantined"] else 0.0,
            float(shares.get(g["file"], 0.0)),
            float(bytes_share),
        )
        for g in groups
    ]
    return pd.DataFrame.from_records(records, columns=columns)


def accepted_ids_view(classified: DataFrame, id_column: Column) -> DataFrame:
    """The accepted rows' ids (null for quarantined rows): what :func:`build_source_ids_suite` counts."""
    return classified.select(F.when(F.col("_reason").isNull(), id_column).alias("accepted_id"))


def build_source_suite(
    name: str,
    id_column: str,
    text_column: str,
    thresholds: ExpectationConfig,
    previous_input_rows: int | None,
) -> gx.ExpectationSuite:
    """The source suite over :func:`source_suite_frame`."""
    import great_expectations as gx

    E = gx.expectations
    checks: list[tuple[gx.expectations.Expectation, str, object]] = []

    def add(expectation: gx.expectations.Expectation, check: str, threshold: object) -> None:
        checks.append((expectation, check, threshold))

    null_share = thresholds.max_null_share
    add(share_at_most(null_share_column(id_column), null_share), "source_id_not_null", f"null share <= {null_share}")
    add(
        share_at_most(null_share_column(text_column), null_share),
        "source_text_not_null",
        f"null or blank share <= {null_share}",
    )
    add(
        share_at_most("quarantined_share", thresholds.max_quarantine_share),
        "source_quarantined_share",
        f"quarantined share of the input <= {thresholds.max_quarantine_share}",
    )
    add(
        E.ExpectColumnMaxToBeBetween(
            column="quarantined_bytes_share", min_value=0, max_value=thresholds.max_quarantine_share
        ),
        "source_quarantined_bytes_share",
        f"quarantined share of the input bytes <= {thresholds.max_quarantine_share}",
    )
    add(
        E.ExpectColumnMaxToBeBetween(
            column="file_quarantined_share", min_value=0, max_value=thresholds.max_file_quarantine_share
        ),
        "source_file_quarantined_share",
        f"quarantined share of each file <= {thresholds.max_file_quarantine_share}",
    )
    if previous_input_rows:
        low = math.ceil(previous_input_rows * thresholds.min_row_ratio)
        high = None if thresholds.max_row_ratio is None else math.floor(previous_input_rows * thresholds.max_row_ratio)
        add(
            E.ExpectColumnSumToBeBetween(column="rows", min_value=low, max_value=high),
            "source_row_count",
            f"[{low}, {high if high is not None else 'inf'}] (previous ingest: {previous_input_rows} rows)",
        )
    else:
        add(E.ExpectColumnSumToBeBetween(column="rows", min_value=1), "source_row_count", ">= 1 (first ingest)")
    return checked_suite(name, checks)


def build_source_ids_suite(name: str) -> gx.ExpectationSuite:
    """``source_id_unique`` over :func:`accepted_ids_view` (GX's window over every row: only when
    the ingest could not count the ids itself)."""
    import great_expectations as gx

    unique = gx.expectations.ExpectColumnValuesToBeUnique(column="accepted_id")
    return checked_suite(name, [(unique, "source_id_unique", SOURCE_ID_UNIQUE_THRESHOLD)])


SOURCE_ID_UNIQUE_THRESHOLD = "unique"


def unique_input_ids(severity_of: Callable[[str], str]) -> dict[str, Any]:
    """The ``source_id_unique`` outcome when no input id occurs twice: the accepted ids are some of
    them, so they are unique too. (GX's check is a window over every row: ~10 s at 10M rows.)"""
    return {
        "check": "source_id_unique",
        "expectation": "expect_column_values_to_be_unique",
        "column": "accepted_id",
        "success": True,
        "observed": {"unexpected_count": 0, "sample": [], "counted": "no input id occurs twice"},
        "threshold": SOURCE_ID_UNIQUE_THRESHOLD,
        "severity": severity_of("source_id_unique"),
    }


def observed_source_value(groups: Sequence[dict[str, Any]]) -> Callable[[str, dict], object]:
    """Observed values of the source suites; the null checks with the blank rows counted in ``groups``."""
    blank = {
        "source_id_not_null": sum(g["blank_ids"] for g in groups),
        "source_text_not_null": sum(g["blank_texts"] for g in groups),
    }

    def observed(check: str, result: dict) -> object:
        if check in blank:
            return {"null_share": round(float(result.get("observed_value") or 0.0), 6), "null_rows": blank[check]}
        if "observed_value" in result:
            return result["observed_value"]
        return {
            "unexpected_count": result.get("unexpected_count", 0),
            "sample": result.get("partial_unexpected_list", [])[:5],
        }

    return observed
