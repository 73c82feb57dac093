"""What every validating stage does with its GX outcomes: log them, record them, stop on blocking ones.

Used by ingest (source suite), apply LFs (votes suite) and validate (candidate
labels, drift, LF health). A blocking failure is recorded on the run with every
failed expectation and raised as :class:`ValidationFailed`, so the publish stage
never runs for it; a warning is logged and recorded, and the run goes on.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import SparkSession

from expectations.gx_runner import data_docs_index
from jobs.core.errors import ValidationFailed
from jobs.core.lineage import RunContext
from jobs.core.settings import Settings
from jobs.lake.runs import record_run

log = logging.getLogger(__name__)


@dataclass
class ValidationReport:
    """Every expectation's outcome for a stage, the Data Docs pages, and the failed warnings."""

    outcomes: list[dict[str, Any]] = field(default_factory=list)
    docs_pages: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    thresholds: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    """Wall time of the GX validations (to hold validation's share of a run to account)."""

    def add(self, run: Any) -> None:
        """Fold one :class:`expectations.gx_runner.SuiteRun` into the report."""
        self.outcomes += run.outcomes
        self.docs_pages += [run.docs_page] if run.docs_page else []
        self.seconds += run.seconds

    @property
    def blocking_failures(self) -> list[dict[str, Any]]:
        return [o for o in self.outcomes if not o["success"] and o["severity"] == "blocking"]

    @property
    def warnings(self) -> list[dict[str, Any]]:
        return [o for o in self.outcomes if not o["success"] and o["severity"] == "warning"]


def describe_failures(failures: list[dict[str, Any]]) -> str:
    return "; ".join(
        f"{o['check']} ({o['expectation']} on {o['column']}): observed {o['observed']}, threshold {o['threshold']}"
        for o in failures
    )


def log_outcomes(stage: str, dataset: str, report: ValidationReport) -> None:
    for o in report.outcomes:
        state = "ok  " if o["success"] else ("FAIL" if o["severity"] == "blocking" else "WARN")
        log.info(
            "%s %s: %-28s %s observed=%s threshold=%s", stage, dataset, o["check"], state, o["observed"], o["threshold"]
        )
    for note in report.notes:
        log.info("%s %s: %s", stage, dataset, note)
    for page in report.docs_pages:
        log.info("%s %s: Data Docs %s", stage, dataset, page)


def enforce(
    spark: SparkSession,
    settings: Settings,
    run: RunContext,
    stage: str,
    subject: str,
    report: ValidationReport,
    column: str,
) -> None:
    """Record a blocking failure on the run and raise; log warnings. ``column`` names the runs-table column."""
    log_outcomes(stage, run.dataset, report)
    if report.warnings:
        log.warning("%s %s: warnings (published anyway): %s", stage, run.dataset, describe_failures(report.warnings))
    failed = report.blocking_failures
    if failed:
        message = f"validation of {subject} for run {run.run_id} failed; labels not published: " + describe_failures(
            failed
        )
        record_run(
            spark,
            settings,
            run,
            status="failed",
            stage=stage,
            error=message,
            # the same shape as a validated run's record: {index, pages}
            data_docs={"index": str(data_docs_index(settings.home, run.dataset)), "pages": report.docs_pages},
            **{column: report.outcomes, "thresholds": report.thresholds},
        )
        raise ValidationFailed(message, failed)
