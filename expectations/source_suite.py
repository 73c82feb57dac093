"""The contract an input batch must meet before it replaces the source table.

Validated in ingest on every input row (before the quarantine split), so a
source whose text column went empty fails here, naming the column and the
observed null share, instead of quietly quarantining every row. Blank values
count as null. ``accepted_id`` (null for quarantined rows) must be unique: the
source table's key (when the ingest counted every input id and none repeats,
that count answers it: :func:`unique_input_ids`). The row count is held
against the previous ingest's input count (a sudden halving fails); the first
ingest has nothing to compare with.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from expectations.descriptions import checked_suite
from jobs.core.dataset_sections import ExpectationConfig

if TYPE_CHECKING:  # GX takes seconds to import: only a stage that validates pays for it
    import great_expectations as gx


def _blank_to_null(column: Column) -> Column:
    return F.when(F.trim(column) != F.lit(""), column)


def source_view(
    classified: DataFrame,
    id_column: str,
    text_column: str,
    file_shares: dict[str, float] | None = None,
    bytes_share: float = 0.0,
) -> DataFrame:
    """Input rows with blank id/text as null, the accepted rows' id (the source key), whether the
    row was quarantined (0/1), the quarantined share of the row's file (from ``file_shares``) and
    the quarantined share of the input's bytes (``bytes_share``: a file quarantined whole is one
    row but all its bytes, so losing a whole file cannot hide under the row share)."""
    shares = file_shares or {}
    by_file = F.create_map(*[F.lit(x) for pair in shares.items() for x in pair]) if shares else None
    return classified.select(
        _blank_to_null(F.col(id_column)).alias(id_column),
        _blank_to_null(F.col(text_column)).alias(text_column),
        F.when(F.col("_reason").isNull(), F.col(id_column)).alias("accepted_id"),
        F.col("_reason").isNotNull().cast("int").alias("quarantined"),
        (F.coalesce(by_file[F.col("_source_file")], F.lit(0.0)) if by_file is not None else F.lit(0.0)).alias(
            "file_quarantined_share"
        ),
        F.lit(float(bytes_share)).alias("quarantined_bytes_share"),
    )


def build_source_suite(
    name: str,
    id_column: str,
    text_column: str,
    thresholds: ExpectationConfig,
    previous_input_rows: int | None,
    ids_counted_unique: bool = False,
) -> gx.ExpectationSuite:
    """The source suite; with ``ids_counted_unique`` (the ingest counted every input id and found
    none twice) ``source_id_unique`` is that count's (:func:`unique_input_ids`), not a second one."""
    import great_expectations as gx

    E = gx.expectations
    checks: list[tuple[gx.expectations.Expectation, str, object]] = []

    def add(expectation: gx.expectations.Expectation, check: str, threshold: object) -> None:
        checks.append((expectation, check, threshold))

    mostly = round(1.0 - thresholds.max_null_share, 12)
    add(
        E.ExpectColumnValuesToNotBeNull(column=id_column, mostly=mostly),
        "source_id_not_null",
        f"null share <= {thresholds.max_null_share}",
    )
    add(
        E.ExpectColumnValuesToNotBeNull(column=text_column, mostly=mostly),
        "source_text_not_null",
        f"null or blank share <= {thresholds.max_null_share}",
    )
    if not ids_counted_unique:
        add(E.ExpectColumnValuesToBeUnique(column="accepted_id"), "source_id_unique", SOURCE_ID_UNIQUE_THRESHOLD)
    add(
        E.ExpectColumnMeanToBeBetween(column="quarantined", min_value=0, max_value=thresholds.max_quarantine_share),
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
            E.ExpectTableRowCountToBeBetween(min_value=low, max_value=high),
            "source_row_count",
            f"[{low}, {high if high is not None else 'inf'}] (previous ingest: {previous_input_rows} rows)",
        )
    else:
        add(E.ExpectTableRowCountToBeBetween(min_value=1), "source_row_count", ">= 1 (first ingest)")
    return checked_suite(name, checks)


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


def observed_source_value(check: str, result: dict) -> object:
    if check in ("source_id_not_null", "source_text_not_null"):
        return {
            "null_share": round((result.get("unexpected_percent") or 0.0) / 100, 6),
            "null_rows": result.get("unexpected_count", 0),
        }
    if "observed_value" in result:
        return result["observed_value"]
    return {
        "unexpected_count": result.get("unexpected_count", 0),
        "sample": result.get("partial_unexpected_list", [])[:5],
    }
