"""Every check name the suites give their expectations: what ``expectations.severity`` may name.

A severity entry is matched by name, so a misspelt one would silently leave its
check blocking; the config loader refuses names not listed here, and looking
up the severity of a check not listed is an error (a new check must be added
here to be configurable).
"""

from __future__ import annotations

CHECKS = frozenset(
    {
        # source suite (ingest)
        "source_id_not_null",
        "source_text_not_null",
        "source_id_unique",
        "source_quarantined_share",
        "source_quarantined_bytes_share",
        "source_file_quarantined_share",
        "source_row_count",
        # votes suite (apply LFs)
        "votes_in_label_space",
        "votes_lf_fires",
        # labels suite (validate)
        "rows_present",
        "id_unique",
        "rows_valid",
        "coverage",
        "class_share_min",
        "class_share_max",
        "gold_accuracy",
        "drift_kl",
        "drift_mean_confidence",
        "drift_label_changes",
        "drift_lf_coverage",
    }
)
"""Check names; ``class_share_min`` and ``class_share_max`` also take one class: ``class_share_max[SPAM]``."""


def unknown_check(check: str, classes: tuple[str, ...] | None = None) -> str | None:
    """Why ``check`` is not a check name (None when it is); ``classes`` bounds a ``[class]`` suffix."""
    base, bracket, rest = check.partition("[")
    if base not in CHECKS:
        return f"unknown check {check!r}; known: {sorted(CHECKS)}"
    if bracket and not (base.startswith("class_share_") and rest.endswith("]")):
        return f"check {check!r}: only class_share_min and class_share_max take a [class]"
    if bracket and classes is not None and rest[:-1] not in classes:
        return f"check {check!r}: {rest[:-1]!r} is not one of the classes {list(classes)}"
    return None
