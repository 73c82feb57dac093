"""What each check asks, in words: the text Data Docs show for an expectation instead of GX's
generic "values in column share_0 must be ..." line, so a reader needs no internal column names."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import great_expectations as gx

DESCRIPTIONS: dict[str, str] = {
    "source_id_not_null": "Input rows have an id (threshold: {threshold})",
    "source_text_not_null": "Input rows have a non-blank text (threshold: {threshold})",
    "source_id_unique": "Each accepted input row has its own id",
    "source_quarantined_share": "Few input rows are quarantined ({threshold})",
    "source_quarantined_bytes_share": "Few input bytes are quarantined ({threshold})",
    "source_file_quarantined_share": "No input file is mostly quarantined ({threshold})",
    "source_row_count": "The input has about as many rows as the previous ingest: {threshold}",
    "votes_in_label_space": "Every LF vote is a class that LF may vote",
    "votes_lf_fires": "Every LF votes on some row ({threshold})",
    "rows_present": "The candidate labels have at least one row",
    "id_unique": "Each candidate label row has its own id",
    "rows_valid": "Every candidate label row is well formed: {threshold}",
    "coverage": "At least {threshold} of the rows get a label",
    "class_share_min": "At least {threshold} of the labeled rows are {cls}",
    "class_share_max": "At most {threshold} of the labeled rows are {cls}",
    "gold_accuracy": "Labels agree with the gold labels on {threshold} of the gold rows",
    "drift_kl": "The label distribution stays close to the published one (KL divergence {threshold})",
    "drift_mean_confidence": "The mean confidence does not drop much from the published labels: {threshold}",
    "drift_label_changes": "Few labels change since the published version (share changed {threshold})",
    "drift_lf_coverage": "No LF's coverage moves far since the published labels ({threshold})",
}


def describe(check: str, threshold: object) -> str:
    """The sentence for ``check`` (``class_share_max[SPAM]`` names its class) at ``threshold``.

    GX reads a description as a ``string.Template`` (``$column`` is a parameter), so a
    ``$`` in a class name or threshold is doubled to stay a plain ``$``.
    """
    base, _, rest = check.partition("[")
    text = DESCRIPTIONS[base].format(threshold=threshold, cls=rest.rstrip("]"))
    return text.replace("$", "$$")


def checked_suite(name: str, checks: list[tuple[gx.expectations.Expectation, str, object]]) -> gx.ExpectationSuite:
    """A suite of ``(expectation, check name, threshold)`` built in one call.

    ``suite.add_expectation`` on a suite whose name the context's store already holds (every run
    after the first) rewrites the stored suite once per expectation; the suite is stored once, by
    the runner, instead."""
    import great_expectations as gx

    return gx.ExpectationSuite(name=name, expectations=[with_check(e, check, t) for e, check, t in checks])


def with_check(expectation: gx.expectations.Expectation, check: str, threshold: object) -> gx.expectations.Expectation:
    """``expectation`` carrying its check name and threshold (read back from the results) and
    the sentence Data Docs show for it."""
    expectation.meta = {"check": check, "threshold": threshold}
    expectation.description = describe(check, threshold)
    return expectation
