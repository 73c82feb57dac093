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

    # One projection and one explode, so the files are parsed once: each row becomes a list of
    # rows, itself unless it is a malformed record spanning lines, then the record with the lines
    # no row claimed, followed by the rows recovered from the others.
    pieces = F.transform(F.slice(lines, 2, F.size(lines) - 1), parsed)
    kept = F.transform(F.filter(pieces, lambda p: ~complete(p)), lambda p: p["line"])
    as_is = {c: _col(c) for c in frame.columns}
    record = F.struct(*[v.alias(c) for c, v in as_is.items()])
    trimmed = F.struct(
        *[
            (F.array_join(F.concat(F.array(lines.getItem(0)), kept), "\n") if c == CORRUPT else v).alias(c)
            for c, v in as_is.items()
        ]
    )

    def recovered(piece: Column) -> Column:
        return F.struct(
            *[
                (piece["row"][c] if c in header else F.lit(None).cast("string") if c == CORRUPT else v).alias(c)
                for c, v in as_is.items()
            ]
        )

    rows = F.when(
        spans_lines, F.concat(F.array(trimmed), F.transform(F.filter(pieces, complete), recovered))
    ).otherwise(F.array(record))
    return frame.select(F.explode(rows).alias("_row")).select("_row.*")


def _col(name: str) -> Column:
    return F.col(f"`{name.replace('`', '``')}`")


def _all(conditions: list[Column]) -> Column:
    result = F.lit(True)
    for condition in conditions:
        result = result & condition
    return result
