"""Rows an unclosed quote swallowed, read back on their own (issue 29, item 15).

A CSV field that opens a quote and never closes it makes the parser read on,
across newlines, to the next quote in the file: the good rows in between end
up inside one malformed record, neither accepted nor counted. Each later line
of a malformed record is parsed on its own with the same header and options;
a line that parses into a complete row (no parse error, every required column
filled) is a row again, and the malformed record keeps the lines that are not.
Everything is Spark expressions on the malformed records only.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

CORRUPT = "_corrupt_record"
_LINE_ERROR = "_line_error"


def recover_swallowed_rows(
    frame: DataFrame, header: list[str], options: dict[str, str], required: list[str]
) -> DataFrame:
    """``frame`` (a CSV read with the corrupt-record column) with each swallowed row recovered."""
    lines = F.split(F.col(CORRUPT), r"\r?\n")
    spans_lines = F.col(CORRUPT).isNotNull() & (F.size(lines) > 1)
    schema = ", ".join(f"`{c.replace('`', '``')}` STRING" for c in [*header, _LINE_ERROR])
    line_options = {
        **{k: v for k, v in options.items() if k.lower() not in ("header", "multiline", "encoding", "charset")},
        "mode": "PERMISSIVE",
        "columnNameOfCorruptRecord": _LINE_ERROR,
    }

    def parsed(line: Column) -> Column:
        return F.struct(line.alias("line"), F.from_csv(line, schema, line_options).alias("row"))

    def complete(piece: Column) -> Column:
        filled = [F.trim(piece["row"][c]) != "" for c in required]
        return piece["row"][_LINE_ERROR].isNull() & F.coalesce(_all(filled), F.lit(False))

    pieces = F.transform(F.slice(lines, 2, F.size(lines) - 1), parsed)
    split = frame.where(spans_lines).withColumn("_pieces", pieces)
    kept_lines = F.transform(F.filter("_pieces", lambda p: ~complete(p)), lambda p: p["line"])
    malformed = split.withColumn(CORRUPT, F.array_join(F.concat(F.array(lines.getItem(0)), kept_lines), "\n")).drop(
        "_pieces"
    )
    extra = [c for c in frame.columns if c not in header and c != CORRUPT]
    every_column = F.concat_ws("", *[F.substring(_col(c), 1, 0) for c in header])
    recovered = split.select(
        *extra, every_column.alias("_scan_all"), F.explode(F.filter("_pieces", complete)).alias("_piece")
    ).select(
        *[_read_with(F.col("_scan_all"), F.col("_piece")["row"][c]).alias(c) for c in header],
        F.lit(None).cast("string").alias(CORRUPT),
        *extra,
    )
    return frame.where(~spans_lines).unionByName(malformed).unionByName(recovered)


def _read_with(scan_all: Column, value: Column) -> Column:
    """``value``, made to depend on every header column (``scan_all`` is always "").

    The recovered rows need only the corrupt-record column, and Spark prunes a CSV scan to
    the columns a branch uses: it then refuses a scan of the corrupt record alone
    (QUERY_ONLY_CORRUPT_RECORD_COLUMN) and, parsing fewer columns, stops flagging the
    malformed record at all. Spark cannot fold ``length(...) >= 0``, so all columns are read.
    """
    return F.when(F.length(scan_all) >= 0, value)


def _col(name: str) -> Column:
    return F.col(f"`{name.replace('`', '``')}`")


def _all(conditions: list[Column]) -> Column:
    result = F.lit(True)
    for condition in conditions:
        result = result & condition
    return result
