"""Data Docs show each check as a sentence (issue 32): every check has one, and a ``$`` in a class
name cannot be taken for one of GX's template parameters."""

from __future__ import annotations

from expectations.descriptions import DESCRIPTIONS, describe
from expectations.labels_suite import share_column
from jobs.core.check_names import CHECKS


def test_every_check_has_a_sentence() -> None:
    assert set(DESCRIPTIONS) == CHECKS, set(CHECKS) ^ set(DESCRIPTIONS)


def test_a_class_check_names_its_class_and_escapes_dollars() -> None:
    assert describe("class_share_max[SPAM]", 0.45) == "At most 0.45 of the labeled rows are SPAM"
    assert describe("class_share_min[$column]", 0.1) == "At least 0.1 of the labeled rows are $$column"


def test_share_columns_use_plain_class_names_only() -> None:
    assert share_column(("HAM", "SPAM"), 1) == "share_SPAM"
    assert share_column(("not spam", "a.b", "`x`"), 1) == "share_1"
    assert share_column(("Spam", "SPAM"), 1) == "share_1"  # one column to Spark
