"""The ingest's cache of parsed rows, with the data's strings held as bytes.

Spark's columnar cache looks for an encoding (dictionary, run length) for every
string column of every batch it stores; on free text that search costs more than
parsing the files, and free text seldom repeats enough to gain from it
(docs/decisions/0013). Binary columns are stored as they are, so the data's
strings are cached as their UTF-8 bytes and read back as strings, byte for byte.
The ingest's own columns (file name, reason) repeat on every row of a file and
stay strings, which the encodings shrink to almost nothing.
"""

from __future__ import annotations

from collections.abc import Collection

from pyspark.sql import Column, DataFrame
from pyspark.sql.types import StringType

from jobs.stages.ingest.utf8_check import quoted_column


def cached_rows(frame: DataFrame, strings_kept: Collection[str]) -> tuple[DataFrame, DataFrame]:
    """``frame`` cached, every string column but ``strings_kept`` as bytes: a view of the cache with
    ``frame``'s schema, and the cached frame (to unpersist)."""
    as_bytes = {
        f.name for f in frame.schema.fields if isinstance(f.dataType, StringType) and f.name not in strings_kept
    }

    def cast(name: str, to: str) -> Column:
        return quoted_column(name).cast(to).alias(name) if name in as_bytes else quoted_column(name)

    cached = frame.select(*[cast(c, "binary") for c in frame.columns]).persist()
    return cached.select(*[cast(c, "string") for c in frame.columns]), cached
