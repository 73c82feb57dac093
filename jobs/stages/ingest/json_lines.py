"""JSON-lines input read with its bytes kept, so bytes that are not UTF-8 are caught (issue 29, item 14).

Spark's JSON reader decodes each line as UTF-8 and replaces invalid bytes with
U+FFFD: the original bytes are gone. The text source does not decode: each
line stays the bytes it was. So each line is checked with ``is_valid_utf8``
and parsed with ``from_json`` (the same Jackson parser and options as the file
reader). A line with invalid bytes is parsed from its ISO-8859-1 reading (one
character per byte; JSON's structure is ASCII) and its columns then go through
:func:`jobs.stages.ingest.utf8_check.utf8_expressions` (the CSV path's decoding), which names the columns that hold the
bytes. Only such lines take that path: a ``\\u`` escape in them decodes to a
character that is not its bytes, so a column of an invalid line may be named
for an escape, never a valid line.

Parsing lines with ``from_json`` costs about four times Spark's JSON reader
(measured in docs/benchmarks.md), so only the files that need it take that
path: one pass over the lines finds the files with a line that is not UTF-8 or
that does not start with ``{`` (a top-level array, which the reader would
split into one row per element). Every other file is read by the JSON reader,
which parses a line that starts with ``{`` exactly as ``from_json`` does.
"""

from __future__ import annotations

import logging

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

from jobs.stages.ingest.utf8_check import BYTES_ENCODING, INVALID_UTF8, quoted_column, read_as_bytes, utf8_expressions

VALID_LINE = "_valid_utf8_line"
BLANKS = " \t"
"""What JSON counts as blank within a line (the text reader splits at line breaks)."""
log = logging.getLogger(__name__)


def reads_lines(options: dict[str, str]) -> bool:
    """True when the files are JSON lines in UTF-8 (the default); a multi-line JSON document, a custom
    line separator or another declared encoding is left to Spark's JSON reader."""
    lowered = {k.lower(): v.lower() for k, v in options.items()}
    return (
        lowered.get("multiline", "false") != "true" and "linesep" not in lowered and read_as_bytes(options) is not None
    )


def read_json_lines(
    spark: SparkSession, files: list[str], columns: list[str], corrupt: str, options: dict[str, str]
) -> DataFrame:
    """One row per non-blank line: ``columns`` as strings, ``corrupt`` for a line that does not parse,
    and :data:`INVALID_UTF8` naming the columns whose bytes are not UTF-8 (base64). The files whose
    lines are all UTF-8 JSON objects go through Spark's JSON reader, the others line by line."""
    by_line = files_read_by_line(spark, files)
    if len(by_line) == len(set(files)):
        return _parsed_lines(spark, files, columns, corrupt, options)
    file_path = F.col("_metadata.file_path")
    schema = StructType([StructField(c, StringType()) for c in [*columns, corrupt]])
    objects = (
        spark.read.options(**options)
        .schema(schema)
        .option("mode", "PERMISSIVE")
        .option("columnNameOfCorruptRecord", corrupt)
        .json(files)
        .where(~file_path.isin(by_line))  # a filter on the file path prunes files: none is parsed twice
        .withColumns(
            {
                "_source_file": file_path,
                "_block_start": F.col("_metadata.file_block_start"),
                INVALID_UTF8: F.lit(None).cast("string"),
            }
        )
    )
    if not by_line:
        return objects
    lines = _parsed_lines(spark, files, columns, corrupt, options).where(F.col("_source_file").isin(by_line))
    return objects.unionByName(lines)


def _trimmed(side: str) -> Column:
    """The line without :data:`BLANKS` on ``side`` (SQL's form: the two-argument functions are
    deprecated). The blanks are raw characters in the literal, so no escape setting changes them."""
    return F.expr(f"trim({side} '{BLANKS}' FROM value)")


def files_read_by_line(spark: SparkSession, files: list[str]) -> list[str]:
    """The files, as Spark names them, with a line that is not UTF-8 or whose first character
    (after spaces and tabs) is not ``{``: Spark's JSON reader would replace the bytes, or read
    a top-level array as one row per element. Blank lines are skipped by both readers."""
    start = _trimmed("LEADING")
    odd = ~F.is_valid_utf8("value") | ((start != "") & ~start.startswith("{"))
    odd_files = spark.read.text(files).where(odd).select(F.col("_metadata.file_path")).distinct()
    return sorted(row[0] for row in odd_files.collect())


def _parsed_lines(
    spark: SparkSession, files: list[str], columns: list[str], corrupt: str, options: dict[str, str]
) -> DataFrame:
    """:func:`read_json_lines` line by line: each line's bytes checked, then parsed with ``from_json``."""
    schema = StructType([StructField(c, StringType()) for c in [*columns, corrupt]])
    parse_options = {**options, "mode": "PERMISSIVE", "columnNameOfCorruptRecord": corrupt}
    lines = (
        spark.read.text(files)
        .withColumn("_source_file", F.col("_metadata.file_path"))
        .withColumn("_block_start", F.col("_metadata.file_block_start"))
        .where(_trimmed("BOTH") != "")  # the JSON reader skips blank lines too
    )
    valid = F.is_valid_utf8("value")
    as_text = F.when(valid, F.col("value")).otherwise(F.decode(F.col("value").cast("binary"), BYTES_ENCODING))
    parsed = lines.select(
        F.from_json(as_text, schema, parse_options).alias("_parsed"),
        valid.alias(VALID_LINE),
        "_source_file",
        "_block_start",
    ).select("_parsed.*", VALID_LINE, "_source_file", "_block_start")
    decoded, found = utf8_expressions(columns, [corrupt])
    line_is_valid = F.col(VALID_LINE)
    projection = {name: F.when(line_is_valid, quoted_column(name)).otherwise(text) for name, text in decoded.items()}
    # One projection: every expression reads the columns as parsed, before any is decoded.
    return parsed.withColumns({**projection, INVALID_UTF8: F.when(~line_is_valid, found)}).drop(VALID_LINE)


def json_columns(spark: SparkSession, files: list[str], options: dict[str, str], required: list[str]) -> list[str]:
    """The keys of the JSON files, as Spark infers them but compared with case, so a key that
    differs from another only in case (``ID`` beside ``id``) cannot fail the whole read: one per
    name is kept (the declared one where it is declared); rows that have only the other then lack
    the column and are quarantined for it."""
    previous = spark.conf.get("spark.sql.caseSensitive")
    spark.conf.set("spark.sql.caseSensitive", "true")
    try:
        # Only the names are kept (every column is read as a string), so no value's type is inferred.
        inferred = spark.read.options(**{**options, "primitivesAsString": "true"}).json(files).columns
    finally:
        spark.conf.set("spark.sql.caseSensitive", previous or "false")
    kept: dict[str, str] = {}
    for name in inferred:
        if name.lower() not in kept or name in required:
            kept[name.lower()] = name
    dropped = sorted(set(inferred) - set(kept.values()))
    if dropped:
        log.warning("JSON keys %s differ from %s only in case: not read", dropped, sorted(kept.values()))
    return list(kept.values())
