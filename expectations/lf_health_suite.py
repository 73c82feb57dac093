"""Per-LF coverage drift: no LF's coverage moves more than a configured amount between publishes.

One row per LF of this run's LF analysis, with the coverage it had in the run
that produced the published labels (null for an LF that is new); the map
expectation lists the LFs whose coverage moved too far, by name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from expectations.descriptions import checked_suite
from jobs.core.dataset_sections import ExpectationConfig

if TYPE_CHECKING:  # GX takes seconds to import: only a stage that validates pays for it
    import great_expectations as gx
    import pandas as pd


def lf_health_view(current: pd.DataFrame, published: pd.DataFrame) -> pd.DataFrame:
    """``(lf, coverage, published_coverage, coverage_change)`` per LF of ``current`` (the LF analyses,
    a row per LF: pandas)."""
    previous = published[["lf", "coverage"]].rename(columns={"coverage": "published_coverage"})
    view = current[["lf", "coverage"]].merge(previous, on="lf", how="left")
    view["coverage_change"] = view["coverage"] - view["published_coverage"]
    return view.reset_index(drop=True)


def build_lf_health_suite(name: str, thresholds: ExpectationConfig, published_run: str) -> gx.ExpectationSuite:
    import great_expectations as gx

    limit = thresholds.max_lf_coverage_change
    expectation = gx.expectations.ExpectColumnValuesToBeBetween(
        column="coverage_change", min_value=-limit, max_value=limit
    )
    return checked_suite(name, [(expectation, "drift_lf_coverage", f"|change| <= {limit} vs run {published_run}")])


def observed_lf_health_value(check: str, result: dict) -> object:
    moved = result.get("partial_unexpected_index_list") or []
    return {"lfs_moved": [row.get("lf") for row in moved][:20], "unexpected_count": result.get("unexpected_count", 0)}
