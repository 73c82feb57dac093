"""Where every table lives, and the few Delta operations all jobs share.

Layout under ``LABELLAKE_HOME``::

    <dataset>/source          accepted source rows (id, text, other columns)
    <dataset>/gold            gold labels, kept apart from LF input
    <dataset>/gold_set        evaluation and train gold: the gold column plus adjudicated annotations
    <dataset>/quarantine      rejected input rows with a reason, per run
    <dataset>/lf_registry     every LF version ever applied
    <dataset>/votes           LF votes, long and sparse: (id, lf, vote)
    <dataset>/lf_analysis     per run and LF: coverage, overlaps, conflicts, accuracy, errors
    <dataset>/pattern_counts  distinct vote patterns and their counts
    <dataset>/row_patterns    every row's packed vote pattern, kept for the next rerun
    <dataset>/pattern_labels  the label of each of those patterns, by the run that stored them
    <dataset>/staging_labels  candidate labels, partitioned by run id
    <dataset>/labels          the published labels
    <dataset>/annotations     hand labels: one per (row id, annotator), with time and origin
    <dataset>/annotations_quarantine  annotations rejected with a reason
    <dataset>/review_queue    the latest queue of rows for a human look (one version per queue)
    _runs                     one row per run, every dataset

Stages hand over through the tables themselves: every write records the run
id and its lineage in the Delta commit's ``userMetadata``, and the next stage
checks that the commit it reads belongs to its run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

from jobs.core.settings import Settings

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession

DATASET_ROLES = (
    "source",
    "gold",
    "gold_set",
    "quarantine",
    "lf_registry",
    "votes",
    "lf_analysis",
    "pattern_counts",
    "row_patterns",
    "pattern_labels",
    "label_models",
    "staging_labels",
    "labels",
    "annotations",
    "annotations_quarantine",
    "review_queue",
    "lf_sample",
)
RUNS_DIR = "_runs"


@dataclass(frozen=True)
class TableRef:
    """A Delta table's identity: its dataset, its role and its location (a local ``Path``, or an
    ``s3a://`` URI string on an object store: ``str(ref.path)`` is what Spark and delta-rs open)."""

    dataset: str
    role: str
    path: Path | str

    @property
    def uri(self) -> str:
        return str(self.path)

    @property
    def local(self) -> Path:
        """The table's folder on local disk; a ValueError for a table on an object store."""
        if not isinstance(self.path, Path):
            raise ValueError(f"{self.name} is on an object store ({self.path}), not on local disk")
        return self.path

    @property
    def name(self) -> str:
        """Catalog-style name, e.g. ``youtube_spam_labels``."""
        return "runs" if self.role == "runs" else f"{self.dataset}_{self.role}"

    def exists(self) -> bool:
        """True once the table has a commit. A ``_delta_log`` folder alone is not enough:
        a writer killed before its first commit leaves one behind, empty."""
        if not isinstance(self.path, Path):
            from deltalake import DeltaTable

            from jobs.lake.object_store import reachable, split_uri

            reachable(split_uri(self.path)[0])
            return bool(DeltaTable.is_deltatable(self.path))
        log = self.path / "_delta_log"
        if not log.is_dir():
            return False
        return any(p.name.endswith(".json") or ".checkpoint" in p.name for p in log.iterdir())

    def read(self, spark: SparkSession, version: int | None = None) -> DataFrame:
        """The table as Spark reads it: the latest version, or ``version`` by time travel."""
        reader = spark.read.format("delta")
        if version is not None:
            reader = reader.option("versionAsOf", int(version))
        return reader.load(str(self.path))

    def overwrite(self, frame: DataFrame, user_metadata: str, **options: str) -> None:
        """Replace the whole table (schema included) with ``frame`` in one commit."""
        writer = frame.write.format("delta").mode("overwrite").option("overwriteSchema", "true")
        for key, value in {**options, "userMetadata": user_metadata}.items():
            writer = writer.option(key, value)
        writer.save(str(self.path))

    def overwrite_run_partition(
        self, frame: DataFrame, run_id: str, user_metadata: str, partitioned: bool = False, **options: str
    ) -> None:
        """Replace this run's rows (``_run_id = run_id``) with ``frame`` in one commit; a retry of the
        run replaces them again instead of adding to them (``partitioned``: a table partitioned by run)."""
        writer = frame.write.format("delta").mode("overwrite").option("replaceWhere", f"_run_id = '{run_id}'")
        if partitioned:
            writer = writer.partitionBy("_run_id")
        for key, value in {**options, "userMetadata": user_metadata}.items():
            writer = writer.option(key, value)
        writer.save(str(self.path))


def table(settings: Settings, dataset: str, role: str) -> TableRef:
    """The table of ``dataset`` playing ``role``."""
    if role not in DATASET_ROLES:
        raise ValueError(f"unknown table role {role!r}; roles: {DATASET_ROLES}")
    return TableRef(dataset, role, _under_root(settings, dataset, role))


@dataclass(frozen=True)
class DatasetTables:
    """Every table of one dataset, resolved once (``dataset_tables(settings, name)``)."""

    source: TableRef
    gold: TableRef
    gold_set: TableRef
    quarantine: TableRef
    lf_registry: TableRef
    votes: TableRef
    lf_analysis: TableRef
    pattern_counts: TableRef
    row_patterns: TableRef
    pattern_labels: TableRef
    label_models: TableRef
    staging_labels: TableRef
    labels: TableRef
    annotations: TableRef
    annotations_quarantine: TableRef
    review_queue: TableRef
    lf_sample: TableRef
    """The LF try-loop's stratified sample with the stored votes on it (jobs/lf_try/sample.py)."""


def dataset_tables(settings: Settings, dataset: str) -> DatasetTables:
    """The handle on ``dataset``'s tables."""
    return DatasetTables(**{role: table(settings, dataset, role) for role in DATASET_ROLES})


CREATED_BY = {
    "source": "ingest",
    "gold": "ingest",
    "gold_set": "fit_label_model",
    "quarantine": "ingest",
    "lf_registry": "apply_lfs",
    "votes": "apply_lfs",
    "lf_analysis": "fit_label_model",
    "pattern_counts": "fit_label_model",
    "row_patterns": "fit_label_model",
    "pattern_labels": "fit_label_model",
    "label_models": "fit_label_model",
    "staging_labels": "fit_label_model",
    "labels": "publish",
    "annotations": "annotations ingest",
    "annotations_quarantine": "annotations ingest",
    "review_queue": "review-queue",
    "lf_sample": "lf try",
}
"""The stage whose first run creates each table (for errors that say what to run)."""


def require_table(settings: Settings, dataset: str, role: str) -> TableRef:
    """``table(...)``, checked: an unknown dataset lists the configured ones, a missing table
    names the stage and the command that create it."""
    from jobs.core.datasets import get_dataset
    from jobs.core.errors import LabellakeError

    get_dataset(dataset, settings)  # ConfigError listing the declared datasets
    ref = table(settings, dataset, role)
    if not ref.exists():
        raise LabellakeError(
            f"{ref.name} does not exist yet at {ref.path}; the {CREATED_BY[role]} stage "
            f"creates it: run `labellake run --dataset {dataset}` (or the nightly_relabel DAG)"
        )
    return ref


def runs_table(settings: Settings) -> TableRef:
    return TableRef("*", "runs", _under_root(settings, RUNS_DIR))


def _under_root(settings: Settings, *parts: str) -> Path | str:
    """A table location under the tables' root: a path on disk, a URI on an object store."""
    if settings.lake:
        return "/".join([settings.lake, *parts])
    return settings.home.joinpath(*parts)


def existing_tables(settings: Settings) -> list[TableRef]:
    """Every labellake Delta table under the lakehouse root."""
    found = [runs_table(settings)] if runs_table(settings).exists() else []
    for dataset in _dataset_folders(settings):
        for role in DATASET_ROLES:
            ref = table(settings, dataset, role)
            if ref.exists():
                found.append(ref)
    return found


def _dataset_folders(settings: Settings) -> list[str]:
    if settings.lake:
        from jobs.lake.object_store import list_folders

        names = list_folders(settings.lake)
    else:
        names = [p.name for p in settings.home.iterdir() if p.is_dir()] if settings.home.is_dir() else []
    return sorted(n for n in names if not n.startswith("_"))


def commit_metadata(**fields: Any) -> str:
    """JSON for a Delta commit's ``userMetadata`` (sorted keys, so it diffs well)."""
    return json.dumps(fields, sort_keys=True, default=str)


def local_path(location: str | Path) -> Path | None:
    """The filesystem path of a table location, or None for a remote store (s3a://, abfss://...)."""
    text = str(location)
    parsed = urlparse(text)
    if parsed.scheme in ("", "file"):
        return Path(unquote(parsed.path) if parsed.scheme else text)
    return None


def delta_rs_location(location: str | Path) -> str | None:
    """Where delta-rs opens the table at ``location``: its folder on local disk, or its ``s3a://``
    URI (through the AWS settings); None for another remote store, whose logs only Spark reads here."""
    path = local_path(location)
    if path is not None:
        return str(path)
    return str(location) if str(location).startswith("s3a://") else None


def _parsed(user_metadata: str | None) -> dict[str, Any]:
    return json.loads(user_metadata) if user_metadata else {}


def _local_commit(ref: TableRef, version: int | None) -> tuple[int, dict[str, Any]] | None:
    """(version, userMetadata) of commit ``version`` (None: the newest) read from the Delta log with
    delta-rs, on local disk or an object store (``s3a://``, through the AWS settings), or None
    when delta-rs cannot read it (Spark can).

    Why not always Spark: its ``history`` is a Spark job, and a run reads commit metadata dozens
    of times (which votes, source and fit each stage works on; docs/decisions/0007).
    """
    location = delta_rs_location(ref.path)
    if location is None:
        return None
    from deltalake import DeltaTable

    # The newest version's history, not an older version's: delta-rs 1.6 lists a table loaded at
    # an older version with the newer commits numbered from that version (v1's metadata as v0's).
    try:
        newest = DeltaTable(location)
        limit = 1 if version is None else newest.version() - version + 1
        commits = newest.history(limit) if limit > 0 else []
    except Exception:  # a reader feature delta-rs lacks, a vacuumed log: let Spark answer (or fail)
        return None
    found = [c for c in commits if version is None or c.get("version") == version]
    if not found:
        return None
    return int(found[0]["version"]), _parsed(found[0].get("userMetadata"))


def _spark_for_log(spark: Any, ref: TableRef) -> Any:
    """``spark``, to read ``ref``'s log where delta-rs could not; a clear error when there is none
    (a stage running without Spark asks only for logs delta-rs reads, so this means it changed)."""
    if spark is None:
        from jobs.core.errors import StageOrderError

        raise StageOrderError(f"{ref.name}: delta-rs cannot read the Delta log at {ref.path} and no Spark session runs")
    return spark


def commit_history(spark: Any, ref: TableRef, limit: int | None = 50) -> list[tuple[int, dict[str, Any]]]:
    """(version, parsed userMetadata) of the newest ``limit`` (None: all) commits of ``ref``, newest first."""
    location = delta_rs_location(ref.path)
    if location is not None:
        from deltalake import DeltaTable

        try:
            return [(int(c["version"]), _parsed(c.get("userMetadata"))) for c in DeltaTable(location).history(limit)]
        except Exception:  # noqa: BLE001 - what delta-rs cannot read, Spark may
            pass
    from delta.tables import DeltaTable as SparkDeltaTable

    history = SparkDeltaTable.forPath(_spark_for_log(spark, ref), str(ref.path))
    rows = (history.history(limit) if limit else history.history()).select("version", "userMetadata").collect()
    return [(int(r["version"]), _parsed(r["userMetadata"])) for r in rows]


def replace_run_rows(ref: TableRef, rows: pa.Table, run_id: str, user_metadata: str) -> None:
    """Replace the rows of ``run_id`` (column ``_run_id``) in a small per-run table with ``rows``,
    in one delta-rs commit (the table is created by the first call).

    For the tables a run adds a handful of rows to (``label_models``, ``lf_analysis``): a Spark
    ``replaceWhere`` write of a few dozen rows is a snapshot, a write job and a commit, 0.7-1.5 s
    each at every fit; delta-rs commits them in milliseconds. Spark, DuckDB and delta-rs read the
    tables as before; a retried run replaces its rows, as ``replaceWhere`` did.
    """
    from deltalake import write_deltalake
    from deltalake.transaction import CommitProperties

    if "'" in run_id:
        raise ValueError(f"{ref.name}: run id {run_id!r} contains a quote")
    commit = CommitProperties(custom_metadata={"userMetadata": user_metadata})
    if not ref.exists():
        write_deltalake(str(ref.path), rows, mode="append", commit_properties=commit)
        return
    write_deltalake(str(ref.path), rows, mode="overwrite", predicate=f"_run_id = '{run_id}'", commit_properties=commit)


def overwrite_small_table(ref: TableRef, rows: pa.Table, user_metadata: str) -> None:
    """Replace the whole of a small table (schema included) with ``rows`` in one delta-rs commit:
    Spark's overwrite of a few thousand rows is a snapshot, a write job and a commit (about 2 s
    on 2 cores); delta-rs commits them in milliseconds, readable by Spark, DuckDB and delta-rs."""
    from deltalake import write_deltalake
    from deltalake.transaction import CommitProperties

    commit = CommitProperties(custom_metadata={"userMetadata": user_metadata})
    write_deltalake(str(ref.path), rows, mode="overwrite", schema_mode="overwrite", commit_properties=commit)


def latest_commit(spark: Any, ref: TableRef) -> tuple[int, dict[str, Any]]:
    """(version, parsed userMetadata) of the newest commit of ``ref``."""
    local = _local_commit(ref, None)
    if local is not None:
        return local
    from delta.tables import DeltaTable

    row = (
        DeltaTable.forPath(_spark_for_log(spark, ref), str(ref.path))
        .history(1)
        .select("version", "userMetadata")
        .first()
    )
    return int(row["version"]), _parsed(row["userMetadata"])


def commit_at(spark: Any, ref: TableRef, version: int) -> dict[str, Any]:
    """Parsed userMetadata of commit ``version`` of ``ref`` (a commit describes the table state it left)."""
    local = _local_commit(ref, int(version))
    if local is not None:
        return local[1]
    from delta.tables import DeltaTable

    row = (
        DeltaTable.forPath(_spark_for_log(spark, ref), str(ref.path))
        .history()
        .where(f"version = {int(version)}")
        .select("userMetadata")
        .first()
    )
    if row is None:
        raise KeyError(f"{ref.name} has no version {version}")
    return _parsed(row["userMetadata"])
