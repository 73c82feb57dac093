"""An unchanged input: its fingerprint, and the previous ingest's result to reuse."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass

from pyspark.sql import SparkSession

from jobs.core.datasets import DatasetConfig
from jobs.core.settings import Settings
from jobs.lake.tables import TableRef, commit_at, latest_commit, table
from jobs.stages.ingest.source_sniff import is_object_store, source_files


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


def input_fingerprint(ds: DatasetConfig, settings: Settings) -> str | None:
    """A hash of the raw files (path, size, modification time or ETag) and of how they are read.

    Equal fingerprints mean an ingest would write the same source table, so an
    incremental run reuses it (an LF-change rerun does not re-read a terabyte of
    unchanged text). ``None`` for URLs other than an object store's, which are always re-read.
    """
    paths = ds.source_globs(settings)
    if any("://" in p and not is_object_store(p) for p in paths):
        return None
    stats: list[tuple[str, int, str | int]] = []
    for path in paths:
        if is_object_store(path):  # an object's ETag changes with its content
            from jobs.lake.object_store import list_matching

            stats += [(o.uri, o.size, o.etag) for o in list_matching(path)]
        else:
            stats += [(f, st.st_size, st.st_mtime_ns) for f in source_files(path, ds.name) for st in [os.stat(f)]]
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
        # swallowed are read back, bytes that are not UTF-8 are checked; v3: in JSON lines too;
        # v4: a JSON line of only tabs is blank, as Spark's JSON reader has it, not a row).
        "reader": "v4",
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


UNIQUE_IDS_KEY = "unique_ids"
"""A source commit's fingerprint of its ids, recorded when the source suite found them unique."""


def unique_source_ids(spark: SparkSession | None, source: TableRef, version: int) -> dict[str, int] | None:
    """The fingerprint of source version ``version``'s ids, when its ingest found them unique."""
    try:
        recorded = commit_at(spark, source, version).get(UNIQUE_IDS_KEY)
    except Exception:  # noqa: BLE001 - a vacuumed or unreadable commit: the ids are counted instead
        return None
    return dict(recorded) if isinstance(recorded, dict) else None
