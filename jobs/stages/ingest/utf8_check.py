"""Bytes that are not UTF-8, caught with the bytes kept (issue 29, item 14).

Spark's CSV reader decodes UTF-8 by replacing invalid bytes with U+FFFD, and
the original bytes are gone. So a file declared UTF-8 (the default) is read as
ISO-8859-1, one character per byte, and each column is turned back into text
here: its bytes are checked with ``is_valid_utf8`` and decoded exactly, or
with U+FFFD for the invalid sequences. A row with invalid bytes carries them,
base64, in :data:`INVALID_UTF8` (``column=<base64>; ...``), which the ingest
quarantines or accepts with a counted warning (the dataset's ``invalid_utf8``).
A literal U+FFFD in valid UTF-8 is valid text and is kept.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

INVALID_UTF8 = "_invalid_utf8"
BYTES_ENCODING = "ISO-8859-1"


def read_as_bytes(options: dict[str, str]) -> dict[str, str] | None:
    """Reader options that keep every byte, or None when the dataset declares another encoding."""
    declared = options.get("encoding", options.get("charset", "UTF-8"))
    if declared.replace("-", "").replace("_", "").lower() != "utf8":
        return None
    kept = {k: v for k, v in options.items() if k.lower() not in ("encoding", "charset")}
    return {**kept, "encoding": BYTES_ENCODING}


def decode_utf8(frame: DataFrame, columns: list[str], also: list[str]) -> DataFrame:
    """``columns`` and ``also`` decoded from their bytes as UTF-8; invalid bytes of ``columns``
    named, base64, in :data:`INVALID_UTF8` (null when every column is valid)."""
    decoded, found = utf8_expressions(columns, also)
    # One projection: every expression reads the columns as they were read (bytes), not decoded.
    return frame.withColumns({**decoded, INVALID_UTF8: found})


def utf8_expressions(columns: list[str], also: list[str]) -> tuple[dict[str, Column], Column]:
    """Each column of ``columns`` and ``also`` (read as ISO-8859-1, one character per byte) decoded as
    UTF-8, and the :data:`INVALID_UTF8` value naming the ``columns`` whose bytes are not UTF-8."""
    found = []
    decoded = {}
    for name in [*columns, *also]:
        raw = F.encode(quoted_column(name), BYTES_ENCODING)
        text = raw.cast("string")
        decoded[name] = F.make_valid_utf8(text)
        if name in columns:
            found.append(F.when(~F.is_valid_utf8(text), F.concat(F.lit(f"{name}="), F.base64(raw))))
    return decoded, F.nullif(F.concat_ws("; ", *found), F.lit(""))


def invalid_columns(found: Column) -> Column:
    """The column names of an :data:`INVALID_UTF8` value (its base64 left out)."""
    return F.regexp_replace(found, r"=[A-Za-z0-9+/]*=*", "")


def quoted_column(name: str) -> Column:
    """The column ``name``, quoted so dots and backticks in it are part of the name."""
    return F.col(f"`{name.replace('`', '``')}`")
