"""The fingerprint of a multiset of values: how many, and the exact sum of their 64-bit hashes.

Kept apart from :mod:`expectations.unique_values` (which imports GX) so the ingest, which
records the fingerprint of the ids it found unique, and validation, which compares the
candidate labels' ids with it, build it from one definition (docs/decisions/0006).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pyspark.sql import Column
from pyspark.sql import functions as F

FINGERPRINT_KEYS = ("values", "hash_sum_low", "hash_sum_high")


def fingerprint_aggregates(value: Column) -> list[Column]:
    """Aggregates of ``value``'s non-null values, named :data:`FINGERPRINT_KEYS`: their count and
    the sum of their xxhash64 values as low and high 32-bit halves, so no sum overflows."""
    hashed = F.when(value.isNotNull(), F.xxhash64(value))
    return [
        F.count(value).alias("values"),
        F.sum(hashed.bitwiseAND(F.lit(0xFFFFFFFF))).alias("hash_sum_low"),
        F.sum(F.shiftright(hashed, 32)).alias("hash_sum_high"),
    ]


def combined_fingerprint(parts: Iterable[Any]) -> dict[str, int]:
    """The fingerprint of the union of multisets, from their aggregate rows (Spark ``Row``s or
    mappings with :data:`FINGERPRINT_KEYS`): counts and hash sums add up."""
    rows = list(parts)
    return {key: sum(int(row[key] or 0) for row in rows) for key in FINGERPRINT_KEYS}
