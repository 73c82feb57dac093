"""Reading a dataset's raw files: every row as strings, with its file, order and parser verdict.

Each local file is looked at before Spark reads it (:mod:`jobs.stages.ingest.source_sniff`);
a file that is not what the dataset declares becomes one quarantined row naming it.
"""

from __future__ import annotations

import logging
from pathlib import Path

from pyspark.errors import AnalysisException
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.types import LongType, StringType, StructField, StructType

from jobs.core.datasets import ROW_ID, DatasetConfig
from jobs.core.errors import ConfigError
from jobs.core.settings import Settings
from jobs.stages.ingest.csv_recovery import recover_swallowed_rows
from jobs.stages.ingest.json_lines import json_columns, read_json_lines, reads_lines
from jobs.stages.ingest.source_sniff import SniffedFile, is_object_store, sniff_file, source_files
from jobs.stages.ingest.utf8_check import INVALID_UTF8, decode_utf8, read_as_bytes

log = logging.getLogger(__name__)

CORRUPT = "_corrupt_record"
REASON = "_reason"
FILE_PROBLEM = "_file_problem"
INTERNAL_COLUMNS = (CORRUPT, REASON, FILE_PROBLEM, INVALID_UTF8, "_source_file", "_row_order")
"""Columns the ingest adds for its own bookkeeping: never data, never in the source table."""


def _string_schema(columns: list[str]) -> StructType:
    return StructType([StructField(c, StringType()) for c in columns] + [StructField(CORRUPT, StringType())])


def _read_wrench(spark: SparkSession, files: list[str]) -> DataFrame:
    """WRENCH split files (one JSON object ``{idx: {label, data: {text}}}`` per file) as rows.

    The id is ``<split>:<idx>`` (``train:0``); a file that is not valid WRENCH
    JSON becomes one malformed record holding the file's text.
    """
    entry = "map<string, struct<label: string, data: struct<text: string>>>"
    whole = spark.read.text(files, wholetext=True).withColumn("_source_file", F.col("_metadata.file_path"))
    parsed = whole.withColumn("_rows", F.from_json("value", entry))
    split = F.regexp_extract("_source_file", r"([^/]+?)(\.json)?$", 1)
    good = (
        parsed.where(F.col("_rows").isNotNull())
        .select("_source_file", F.explode("_rows").alias("idx", "row"))
        .select(
            F.concat(split, F.lit(":"), F.col("idx")).alias("id"),
            F.col("row.data.text").alias("text"),
            F.col("row.label").alias("label"),
            F.lit(None).cast("string").alias(CORRUPT),
            "_source_file",
        )
    )
    bad = parsed.where(F.col("_rows").isNull()).select(
        F.lit(None).cast("string").alias("id"),
        F.lit(None).cast("string").alias("text"),
        F.lit(None).cast("string").alias("label"),
        F.col("value").alias(CORRUPT),
        "_source_file",
    )
    return good.unionByName(bad)


def read_raw(spark: SparkSession, ds: DatasetConfig, settings: Settings) -> DataFrame:
    """All raw rows as strings, with the parser's corrupt-record column, file and order.

    Everything is read as strings so a badly typed value is kept, not nulled.
    With ``id_column = "@row"`` the id is ``<file name>:<row number>``, numbered
    in file order (split offset, then position), so it is stable across runs.
    """
    paths = ds.source_globs(settings)
    files = [f for path in paths for f in source_files(path, ds.name)]
    csv_defaults = {"header": "true", "multiLine": "true", "escape": '"'} if ds.format == "csv" else {}
    options = {**csv_defaults, **ds.read_options}
    sniffed = sniff_files(ds, files, options)
    files = [f.path for f in sniffed if f.problem is None]
    bad_files = [f for f in sniffed if f.problem is not None]
    try:
        if not files:
            raw, columns = None, list(ds.columns) or required_columns(ds)
        elif ds.format == "wrench":
            raw = _read_wrench(spark, files)
            columns = ["id", "text", "label"]
        elif ds.format == "csv":
            raw, columns = _read_csv(spark, ds, sniffed, options)
        else:
            columns = list(ds.columns) or [
                c for c in json_columns(spark, files, ds.read_options, required_columns(ds)) if c != CORRUPT
            ]
            if reads_lines(ds.read_options):  # bytes kept: lines that are not UTF-8 are caught
                raw = read_json_lines(spark, files, columns, CORRUPT, ds.read_options)
            else:
                reader = spark.read.options(**ds.read_options).schema(_string_schema(columns))
                raw = reader.option("mode", "PERMISSIVE").option("columnNameOfCorruptRecord", CORRUPT).json(files)
    except AnalysisException as exc:
        raise ConfigError(f"dataset {ds.name!r}: cannot read source {paths}: {exc}") from exc
    for column in required_columns(ds):
        if column not in columns:
            raise ConfigError(f"dataset {ds.name!r}: column {column!r} not in source columns {columns} ({paths})")
    if raw is not None and "_source_file" not in raw.columns:
        raw = raw.withColumn("_source_file", F.col("_metadata.file_path")).withColumn(
            "_block_start", F.col("_metadata.file_block_start")
        )
    elif raw is not None and "_block_start" not in raw.columns:
        raw = raw.withColumn("_block_start", F.lit(0).cast("long"))
    if bad_files:
        rejected = _rejected_files(spark, bad_files, columns)
        raw = rejected if raw is None else raw.unionByName(rejected, allowMissingColumns=True)
    if raw is None:
        raise ConfigError(f"dataset {ds.name!r}: every file of {paths} is empty")
    for internal in (FILE_PROBLEM, INVALID_UTF8):
        if internal not in raw.columns:
            raw = raw.withColumn(internal, F.lit(None).cast("string"))
    raw = raw.withColumn("_row_order", F.monotonically_increasing_id())
    if ds.id_column == ROW_ID:
        in_file = Window.partitionBy("_source_file").orderBy("_block_start", "_row_order")
        name = F.regexp_extract("_source_file", r"([^/]+)$", 1)
        raw = raw.withColumn(ROW_ID, F.concat(name, F.lit(":"), F.row_number().over(in_file).cast("string")))
    return raw.drop("_block_start")


def required_columns(ds: DatasetConfig) -> list[str]:
    """The columns every row needs: text, id (unless numbered) and, when declared, the gold column."""
    required = [ds.text_column] + ([] if ds.id_column == ROW_ID else [ds.id_column])
    return required + ([ds.gold_column] if ds.gold_column and ds.gold_column not in required else [])


def sniff_files(ds: DatasetConfig, files: list[str], options: dict[str, str]) -> list[SniffedFile]:
    """Each file's verdict (local or on an object store; other URLs are left to Spark); empty files
    are dropped with a warning."""
    required = required_columns(ds) + [c for c in ds.columns if c not in required_columns(ds)]
    if ds.columns and options.get("header", "true").lower() != "true":
        required = []  # no header: the declared columns are positional
    sniffed = [
        sniff_file(f, ds.format, options, required) if "://" not in f or is_object_store(f) else SniffedFile(f)
        for f in files
    ]
    empty = [f.path for f in sniffed if f.empty]
    if empty:
        log.warning("ingest %s: skipping %d empty file(s): %s", ds.name, len(empty), ", ".join(empty))
    for f in sniffed:
        if f.problem:
            log.warning("ingest %s: quarantining the whole file %s: %s", ds.name, f.path, f.problem)
    return [f for f in sniffed if not f.empty]


def _read_csv(
    spark: SparkSession, ds: DatasetConfig, sniffed: list[SniffedFile], options: dict[str, str]
) -> tuple[DataFrame, list[str]]:
    """The readable CSV files, each group of files with one header read by that header's names."""
    readable = [f for f in sniffed if f.problem is None]
    if ds.columns and options.get("header", "true").lower() != "true":
        groups = {tuple(ds.columns): [f.path for f in readable]}
    else:
        groups = {}
        for f in readable:
            groups.setdefault(f.header or tuple(ds.columns), []).append(f.path)
    frames, columns = [], []
    bytes_options = read_as_bytes(options)  # UTF-8 declared: read bytes, check them in decode_utf8
    for header, paths in groups.items():
        reader = spark.read.options(**(bytes_options or options)).schema(_string_schema(list(header)))
        frame = reader.option("mode", "PERMISSIVE").option("columnNameOfCorruptRecord", CORRUPT).csv(paths)
        frame = frame.withColumn("_source_file", F.col("_metadata.file_path")).withColumn(
            "_block_start", F.col("_metadata.file_block_start")
        )
        frame = recover_swallowed_rows(frame, list(header), options, required_columns(ds))
        frames.append(decode_utf8(frame, list(header), [CORRUPT]) if bytes_options else frame)
        columns += [c for c in header if c not in columns]
    raw = frames[0]
    for frame in frames[1:]:
        raw = raw.unionByName(frame, allowMissingColumns=True)
    return raw, columns


def _file_uri(path: str) -> str:
    """How Spark names the file in ``_metadata.file_path``: a URI."""
    return path if "://" in path else Path(path).resolve().as_uri()


def _rejected_files(spark: SparkSession, bad: list[SniffedFile], columns: list[str]) -> DataFrame:
    """One row per quarantined file: its path and why (the rows inside are never read)."""
    schema = StructType(
        [StructField(c, StringType()) for c in columns]
        + [StructField(n, StringType()) for n in (CORRUPT, FILE_PROBLEM, "_source_file")]
        + [StructField("_block_start", LongType())]
    )
    rows = [(*([None] * len(columns)), None, f.problem, _file_uri(f.path), 0) for f in bad]
    return spark.createDataFrame(rows, schema)
