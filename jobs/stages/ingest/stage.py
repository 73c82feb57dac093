"""Ingest: raw source files -> source, gold and quarantine Delta tables.

Every input row ends in exactly one place: the source table (with its gold
label, if any, split off into the gold table so LFs never see it) or the
quarantine table with a reason. The job checks ``input = accepted +
quarantined`` and logs the counts by reason, so nothing is dropped silently.

Reasons, in the order they are tested:

- ``malformed record``: the parser could not split the line into the header's
  columns (the raw line is kept in ``_corrupt_record``);
- ``a repeated header line`` (CSV): the id, text and gold values are their column names;
- ``null or empty id`` / ``null or empty text``;
- ``duplicate id``: a later row with an id already seen; the first row (by file
  name, then position in the file) is kept, and the reason says whether the
  duplicate is identical to it or conflicts with it.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from datetime import datetime
from functools import reduce
from pathlib import Path

from pyspark.errors import AnalysisException
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.types import LongType, StringType, StructField, StructType

from expectations.gx_runner import run_suite
from expectations.source_suite import build_source_suite, observed_source_value, source_view
from jobs.core.datasets import ROW_ID, DatasetConfig
from jobs.core.errors import ConfigError, LabellakeError
from jobs.core.lineage import RunContext
from jobs.core.settings import Settings
from jobs.lake.tables import commit_metadata, latest_commit, table
from jobs.stages.gate import ValidationReport, enforce
from jobs.stages.ingest.csv_recovery import recover_swallowed_rows
from jobs.stages.ingest.json_lines import json_columns, read_json_lines, reads_lines
from jobs.stages.ingest.source_sniff import SniffedFile, quarantined_bytes_share, sniff_file, source_files
from jobs.stages.ingest.utf8_check import INVALID_UTF8, decode_utf8, invalid_columns, read_as_bytes

log = logging.getLogger(__name__)

CORRUPT = "_corrupt_record"
REASON = "_reason"
FILE_PROBLEM = "_file_problem"
INTERNAL_COLUMNS = (CORRUPT, REASON, FILE_PROBLEM, INVALID_UTF8, "_source_file", "_row_order")
"""Columns the ingest adds for its own bookkeeping: never data, never in the source table."""


@dataclass(frozen=True)
class IngestResult:
    input_rows: int
    accepted: int
    quarantined: dict[str, int]
    gold_rows: int
    source_version: int
    validation: tuple = ()
    """The source suite's outcomes (empty when the input was reused, not re-read)."""
    validation_seconds: float = 0.0
    reused: bool = False
    """True when the input files had not changed and the existing source version was kept."""

    @property
    def quarantined_total(self) -> int:
        return sum(self.quarantined.values())


def sanitize(name: str) -> str:
    """A Delta-safe lowercase column name: ``CONTENT`` -> ``content``, ``Video Id`` -> ``video_id``."""
    cleaned = re.sub(r"[^0-9a-zA-Z_]+", "_", name.strip()).strip("_").lower()
    return cleaned or "col"


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
            raw, columns = None, list(ds.columns) or _required_columns(ds)
        elif ds.format == "wrench":
            raw = _read_wrench(spark, files)
            columns = ["id", "text", "label"]
        elif ds.format == "csv":
            raw, columns = _read_csv(spark, ds, sniffed, options)
        else:
            columns = list(ds.columns) or [
                c for c in json_columns(spark, files, ds.read_options, _required_columns(ds)) if c != CORRUPT
            ]
            if reads_lines(ds.read_options):  # bytes kept: lines that are not UTF-8 are caught
                raw = read_json_lines(spark, files, columns, CORRUPT, ds.read_options)
            else:
                reader = spark.read.options(**ds.read_options).schema(_string_schema(columns))
                raw = reader.option("mode", "PERMISSIVE").option("columnNameOfCorruptRecord", CORRUPT).json(files)
    except AnalysisException as exc:
        raise ConfigError(f"dataset {ds.name!r}: cannot read source {paths}: {exc}") from exc
    for column in _required_columns(ds):
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


def _required_columns(ds: DatasetConfig) -> list[str]:
    """The columns every row needs: text, id (unless numbered) and, when declared, the gold column."""
    required = [ds.text_column] + ([] if ds.id_column == ROW_ID else [ds.id_column])
    return required + ([ds.gold_column] if ds.gold_column and ds.gold_column not in required else [])


def sniff_files(ds: DatasetConfig, files: list[str], options: dict[str, str]) -> list[SniffedFile]:
    """Each local file's verdict (remote ones are left to Spark); empty files are dropped with a warning."""
    required = _required_columns(ds) + [c for c in ds.columns if c not in _required_columns(ds)]
    if ds.columns and options.get("header", "true").lower() != "true":
        required = []  # no header: the declared columns are positional
    sniffed = [sniff_file(f, ds.format, options, required) if "://" not in f else SniffedFile(f) for f in files]
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
        frame = recover_swallowed_rows(frame, list(header), options, _required_columns(ds))
        frames.append(decode_utf8(frame, list(header), [CORRUPT]) if bytes_options else frame)
        columns += [c for c in header if c not in columns]
    raw = frames[0]
    for frame in frames[1:]:
        raw = raw.unionByName(frame, allowMissingColumns=True)
    return raw, columns


def _rejected_files(spark: SparkSession, bad: list[SniffedFile], columns: list[str]) -> DataFrame:
    """One row per quarantined file: its path and why (the rows inside are never read)."""
    schema = StructType(
        [StructField(c, StringType()) for c in columns]
        + [StructField(n, StringType()) for n in (CORRUPT, FILE_PROBLEM, "_source_file")]
        + [StructField("_block_start", LongType())]
    )
    rows = [(*([None] * len(columns)), None, f.problem, Path(f.path).resolve().as_uri(), 0) for f in bad]
    return spark.createDataFrame(rows, schema)


def _blank(col: Column) -> Column:
    return col.isNull() | (F.trim(col) == F.lit(""))


def has_repeated_ids(raw: DataFrame, ds: DatasetConfig) -> bool:
    """Does any non-blank id occur on two input rows? (ids only: an aggregate, no sort, no text.)

    The duplicate rules below need a window over every row sorted by id, the
    most expensive step of an ingest (the whole row is shuffled and sorted);
    a nightly drop rarely repeats an id, so that window runs only when this
    says it must. ``@row`` ids are unique by construction.
    """
    if ds.id_column == ROW_ID:
        return False
    repeated = raw.where(~_blank(F.col(ds.id_column))).groupBy(ds.id_column).count().where(F.col("count") > 1).limit(1)
    return repeated.count() > 0


def _repeats_header(ds: DatasetConfig) -> Column:
    """True on a CSV row whose id, text and gold values are their own column names: the header again,
    as when exports are concatenated (``cat a.csv b.csv``)."""
    if ds.format != "csv":
        return F.lit(False)
    named = [c for c in (ds.id_column, ds.text_column, ds.gold_column) if c and c != ROW_ID]
    return reduce(lambda a, b: a & b, [F.coalesce(F.col(c) == F.lit(c), F.lit(False)) for c in named])


def classify(raw: DataFrame, ds: DatasetConfig) -> DataFrame:
    """Add ``_reason``: null for accepted rows, else why the row is quarantined."""
    data_columns = [c for c in raw.columns if c not in INTERNAL_COLUMNS]
    bad_bytes = F.col(INVALID_UTF8).isNotNull() & F.lit(ds.invalid_utf8 == "quarantine")
    first_reason = (
        F.when(F.col(FILE_PROBLEM).isNotNull(), F.concat(F.lit("file quarantined whole: "), F.col(FILE_PROBLEM)))
        .when(F.col(CORRUPT).isNotNull(), F.lit("malformed record"))
        .when(_repeats_header(ds), F.lit("a repeated header line"))
        .when(bad_bytes, F.concat(F.lit("invalid UTF-8 bytes in "), invalid_columns(F.col(INVALID_UTF8))))
        .when(_blank(F.col(ds.id_column)), F.lit("null or empty id"))
        .when(_blank(F.col(ds.text_column)), F.lit("null or empty text"))
    )
    if not has_repeated_ids(raw, ds):
        return raw.withColumn(REASON, first_reason)  # no id twice: no duplicate to find
    row_hash = F.sha2(F.concat_ws("\u0001", *[F.coalesce(F.col(c), F.lit("\u0000")) for c in data_columns]), 256)
    staged = raw.withColumn(REASON, first_reason).withColumn("_row_hash", row_hash)
    by_id = Window.partitionBy(ds.id_column).orderBy(
        F.col(REASON).isNotNull(), F.col("_source_file"), F.col("_row_order")
    )
    ranked = (
        staged.withColumn("_rank", F.row_number().over(by_id))
        .withColumn("_first_hash", F.first("_row_hash").over(by_id))
        .withColumn("_first_file", F.first("_source_file").over(by_id))
    )
    duplicate = F.col(REASON).isNull() & (F.col("_rank") > 1)
    dup_reason = F.concat(
        F.when(F.col("_row_hash") == F.col("_first_hash"), F.lit("duplicate id (identical row)")).otherwise(
            F.lit("duplicate id (conflicting content)")
        ),
        F.lit(" first kept from "),
        F.col("_first_file"),
    )
    return ranked.withColumn(REASON, F.when(duplicate, dup_reason).otherwise(F.col(REASON))).drop(
        "_rank", "_first_hash", "_first_file", "_row_hash"
    )


MOSTLY_MALFORMED = 0.5
"""A file more than this share of whose records do not parse is not the declared format: all of it is quarantined."""


def quarantine_unparseable_files(
    classified: DataFrame, ds: DatasetConfig
) -> tuple[DataFrame, dict[str, int], dict[str, float]]:
    """Quarantine whole files whose records mostly fail to parse; the rows per reason ("" = accepted)
    and each file's quarantined share.

    One aggregate (a row per file and reason) gives both the counts and the files
    to reject, so a file of another format cannot slip a few lucky rows through."""
    reason = F.coalesce(F.regexp_replace(F.col(REASON), " first kept from .*$", ""), F.lit(""))
    per_file: dict[str, dict[str, int]] = {}
    for r in classified.groupBy("_source_file", reason.alias(REASON)).count().collect():
        per_file.setdefault(r["_source_file"], {})[r[REASON]] = int(r["count"])
    rejected = {}
    for path, counts in per_file.items():
        malformed, total = counts.get("malformed record", 0), sum(counts.values())
        if malformed > MOSTLY_MALFORMED * total:
            rejected[path] = f"file quarantined whole: {malformed} of {total} records do not parse as {ds.format}"
            log.warning("ingest %s: %s: %s", ds.name, path, rejected[path])
    by_reason: dict[str, int] = {}
    for path, counts in per_file.items():
        for why, n in counts.items():
            key = rejected.get(path, why)
            by_reason[key] = by_reason.get(key, 0) + n
    shares = {
        path: 1.0 if path in rejected else 1.0 - counts.get("", 0) / max(sum(counts.values()), 1)
        for path, counts in per_file.items()
    }
    if not rejected:
        return classified, by_reason, shares
    mapping = F.create_map(*[F.lit(x) for pair in rejected.items() for x in pair])
    marked = classified.withColumn(REASON, F.coalesce(mapping[F.col("_source_file")], F.col(REASON)))
    return marked, by_reason, shares


def source_rows(accepted: DataFrame, ds: DatasetConfig, run: RunContext, ingested_at: datetime) -> DataFrame:
    """Accepted rows shaped for the source table: ``id``, ``text``, other columns, lineage.

    The gold column is left out on purpose: LFs read this table.
    """
    skip = {ds.id_column, ds.text_column, ds.gold_column, *INTERNAL_COLUMNS}
    skip.add(ROW_ID)
    others = [F.col(c).alias(sanitize(c)) for c in accepted.columns if c not in skip]
    return accepted.select(
        F.col(ds.id_column).alias("id"),
        F.col(ds.text_column).alias("text"),
        *others,
        F.col("_source_file"),
        content_hash(F.col(ds.text_column), others).alias("_content_hash"),
        F.lit(run.run_id).alias("_run_id"),
        F.lit(ingested_at).cast("timestamp").alias("_ingested_at"),
    )


def content_hash(text: Column, others: list[Column]) -> Column:
    """SHA-256 of everything an LF can read on a row: the text and every other data column.

    Incremental reruns re-apply every LF to a row whose hash changed, so a
    column an LF thresholds on (a length, a score) must be part of it. The
    columns go through ``to_json`` of a struct, which keeps names and tells
    null from empty.
    """
    return F.sha2(F.to_json(F.struct(text.alias("text"), *others)), 256)


def input_fingerprint(ds: DatasetConfig, settings: Settings) -> str | None:
    """A hash of the raw files (path, size, modification time) and of how they are read.

    Equal fingerprints mean an ingest would write the same source table, so an
    incremental run reuses it (an LF-change rerun does not re-read a terabyte of
    unchanged text). ``None`` for remote paths, which are always re-read.
    """
    import hashlib
    import json

    paths = ds.source_globs(settings)
    if any("://" in p for p in paths):
        return None
    files = [f for path in paths for f in source_files(path, ds.name)]
    stats = [(f, st.st_size, st.st_mtime_ns) for f in files for st in [os.stat(f)]]
    reading = {
        "format": ds.format,
        "id": ds.id_column,
        "text": ds.text_column,
        "gold": ds.gold_column,
        "gold_values": ds.gold_values,
        "classes": ds.classes,
        "options": ds.read_options,
        "columns": ds.columns,
        "invalid_utf8": ds.invalid_utf8,
        # Bump when the reading code changes what the same files yield (v2: rows an unclosed quote
        # swallowed are read back, bytes that are not UTF-8 are checked; v3: in JSON lines too).
        "reader": "v3",
    }
    payload = json.dumps({"files": stats, "reading": reading}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def reused_ingest(
    spark: SparkSession | None, ds: DatasetConfig, settings: Settings, fingerprint: str | None
) -> IngestResult | None:
    """The previous ingest's result when its input fingerprint equals ``fingerprint``, else None."""
    source = table(settings, ds.name, "source")
    if fingerprint is None or not source.exists():
        return None
    version, meta = latest_commit(spark, source)
    if meta.get("input_fingerprint") != fingerprint or "counts" not in meta:
        return None
    counts = meta["counts"]
    return IngestResult(
        int(counts["input"]),
        int(counts["accepted"]),
        dict(counts["quarantined"]),
        int(counts["gold"]),
        version,
        reused=True,
    )


def gold_rows(accepted: DataFrame, ds: DatasetConfig, run: RunContext) -> DataFrame:
    """``id, label, label_name, raw_value`` for accepted rows whose gold value is known."""
    mapping = F.create_map(*[F.lit(x) for pair in ds.gold_values.items() for x in pair])
    classes = F.array(*[F.lit(c) for c in ds.classes])
    assert ds.gold_column is not None, "gold_rows needs a dataset with a gold column"
    raw_value = F.trim(F.col(ds.gold_column))
    name = mapping[raw_value]
    return accepted.where(name.isNotNull()).select(
        F.col(ds.id_column).alias("id"),
        (F.array_position(classes, name) - 1).cast("int").alias("label"),
        name.alias("label_name"),
        raw_value.alias("raw_value"),
        F.lit(run.run_id).alias("_run_id"),
    )


def _warn_replaced_bytes(classified: DataFrame, ds: DatasetConfig) -> None:
    """``invalid_utf8 = "replace"``: the rows accepted with U+FFFD for bytes that were not UTF-8, counted."""
    replaced = classified.where(F.col(INVALID_UTF8).isNotNull()).count()
    if replaced:
        log.warning("ingest %s: %d rows had invalid UTF-8 bytes, accepted with U+FFFD", ds.name, replaced)


def quarantine_rows(rejected: DataFrame, run: RunContext, ingested_at: datetime) -> DataFrame:
    keep = [F.col(c).alias(sanitize(c)) for c in rejected.columns if c not in INTERNAL_COLUMNS]
    raw_bytes = F.concat(F.lit("raw bytes (base64): "), F.col(INVALID_UTF8))
    return rejected.select(
        *keep,
        F.coalesce(F.col(CORRUPT), raw_bytes).alias("_corrupt_record"),
        F.col(REASON).alias("_reason"),
        F.col("_source_file"),
        F.lit(run.run_id).alias("_run_id"),
        F.lit(ingested_at).cast("timestamp").alias("_ingested_at"),
    )


def validate_input(
    spark: SparkSession,
    ds: DatasetConfig,
    settings: Settings,
    run: RunContext,
    classified: DataFrame,
    file_shares: dict[str, float],
) -> ValidationReport:
    """The source suite on every input row, before any table is written (a blocking failure
    leaves source, gold and quarantine as they were)."""
    source = table(settings, ds.name, "source")
    previous_input = None
    if source.exists():
        previous_input = (latest_commit(spark, source)[1].get("counts") or {}).get("input")
    id_name = "id" if ds.id_column == ROW_ID else ds.id_column
    renamed = classified.withColumnRenamed(ds.id_column, id_name)
    view = source_view(renamed, id_name, ds.text_column, file_shares, quarantined_bytes_share(file_shares))
    checked = run_suite(
        settings.home,
        ds.name,
        lambda: build_source_suite(f"{ds.name}_source", id_name, ds.text_column, ds.expectations, previous_input),
        view,
        run.run_id,
        ds.expectations.severity_of,
        observed_source_value,
    )
    report = ValidationReport(thresholds=ds.expectations.record())
    report.add(checked)
    enforce(spark, settings, run, "ingest", f"{ds.name}'s input files", report, "source_validation")
    return report


def run_ingest(
    spark: SparkSession, ds: DatasetConfig, settings: Settings, run: RunContext, ingested_at: datetime
) -> IngestResult:
    """Read the raw files, classify every row, write source, gold and quarantine.

    In an incremental run whose input files (and reading options) are the ones
    the current source version was ingested from, nothing is re-read and that
    version is reused.
    """
    fingerprint = input_fingerprint(ds, settings)
    if run.mode == "incremental":
        previous = reused_ingest(spark, ds, settings, fingerprint)
        if previous is not None:
            log.info(
                "ingest %s: input files unchanged since %s@v%d; reusing it (accepted=%d quarantined=%d)",
                ds.name,
                table(settings, ds.name, "source").name,
                previous.source_version,
                previous.accepted,
                previous.quarantined_total,
            )
            return previous
    persisted = classify(read_raw(spark, ds, settings), ds).persist()
    if ds.invalid_utf8 == "replace":
        _warn_replaced_bytes(persisted, ds)
    try:
        classified, by_reason, file_shares = quarantine_unparseable_files(persisted, ds)
        accepted_n = by_reason.pop("", 0)
        input_n = accepted_n + sum(by_reason.values())
        validation = validate_input(spark, ds, settings, run, classified, file_shares)
        accepted = classified.where(F.col(REASON).isNull())
        rejected = classified.where(F.col(REASON).isNotNull())
        meta = commit_metadata(run_id=run.run_id, stage="ingest", dataset=ds.name)
        source = table(settings, ds.name, "source")
        quarantine = table(settings, ds.name, "quarantine")
        (
            quarantine_rows(rejected, run, ingested_at)
            .write.format("delta")
            .mode("overwrite")
            .option("replaceWhere", f"_run_id = '{run.run_id}'")
            .option("mergeSchema", "true")
            .option("userMetadata", meta)
            .save(str(quarantine.path))
        )
        gold_n = 0
        if ds.gold_column:
            gold = gold_rows(accepted, ds, run)
            gold_n = gold.count()
            (
                gold.write.format("delta")
                .mode("overwrite")
                .option("overwriteSchema", "true")
                .option("userMetadata", meta)
                .save(str(table(settings, ds.name, "gold").path))
            )
            if gold_n != accepted_n:
                log.warning(
                    "ingest %s: %d accepted rows have no known gold label (values not in %s)",
                    ds.name,
                    accepted_n - gold_n,
                    sorted(ds.gold_values),
                )
        # The source goes last: its commit carries the fingerprint and counts that let the next
        # incremental run skip ingest, so it must only exist once gold and quarantine are written.
        source_meta = commit_metadata(
            run_id=run.run_id,
            stage="ingest",
            dataset=ds.name,
            input_fingerprint=fingerprint,
            counts={"input": input_n, "accepted": accepted_n, "quarantined": by_reason, "gold": gold_n},
        )
        (
            source_rows(accepted, ds, run, ingested_at)
            .write.format("delta")
            .mode("overwrite")
            .option("overwriteSchema", "true")
            .option("userMetadata", source_meta)
            .save(str(source.path))
        )
    finally:
        persisted.unpersist()

    source_version, _ = latest_commit(spark, source)
    result = IngestResult(
        input_n,
        accepted_n,
        dict(sorted(by_reason.items())),
        gold_n,
        source_version,
        tuple(validation.outcomes),
        validation.seconds,
    )
    if result.input_rows != result.accepted + result.quarantined_total:
        raise LabellakeError(f"ingest {ds.name}: row accounting broken: {result}")
    log.info(
        "ingest %s: input=%d accepted=%d quarantined=%d %s -> %s@v%d",
        ds.name,
        result.input_rows,
        result.accepted,
        result.quarantined_total,
        result.quarantined,
        source.name,
        source_version,
    )
    return result
