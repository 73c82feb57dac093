"""Publish: this run's validated staging labels -> the labels table, one Delta commit.

The labels table holds one row per source id and is replaced as a whole by
each publish (a new Delta version; older ones stay reachable by time travel).
It is partitioned by ``_run_id`` (each version holds one run's partition), so
the publish commits the very files validation read instead of rewriting them
(:mod:`jobs.stages.publish.commit_files`).
The commit's ``userMetadata`` carries the run id and the lineage JSON.

Safe to retry: if the newest labels commit already belongs to this run, the
stage does nothing (an Airflow retry adds no second version). It refuses to
publish a run whose validation did not pass.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from pyspark.sql import SparkSession

from jobs.core.datasets import DatasetConfig
from jobs.core.errors import StageOrderError
from jobs.core.lineage import RunContext
from jobs.core.settings import Settings
from jobs.lake.runs import run_record
from jobs.lake.tables import TableRef, commit_history, delta_rs_location, latest_commit, table
from jobs.stages.publish.commit_files import PARTITION, can_commit, commit_staged_files, staged_files

log = logging.getLogger(__name__)

LABEL_COLUMNS = (
    "id",
    "label",
    "label_name",
    "probs",
    "confidence",
    "label_model_label",
    "end_model_label",
    "end_model_confidence",
    "_source_table",
    "_source_version",
    "_lf_set_version",
    "_lf_versions",
    "_label_source",
    "_label_model",
    "_end_model",
    "_run_id",
    "_dag_id",
    "_labeled_at",
    "_code_version",
)
"""The labels table: the published label (``label``..``confidence``), the label model's and the end
model's own labels, and the lineage. ``_label_source`` says where the published label came from:
``lfs``, ``annotators``, ``lfs+annotators``, ``gold``, ``end_model`` or ``none``."""


@dataclass(frozen=True)
class PublishResult:
    labels_version: int
    rows: int
    already_published: bool = False


def published_already(
    spark: SparkSession, ds: DatasetConfig, run: RunContext, labels_ref: TableRef, record: dict | None
) -> PublishResult | None:
    """The result when there is nothing to publish: the labels already hold this run, or nothing
    changed and run ``labels_current_from``'s labels stay current (checked still to be)."""
    if labels_ref.exists():
        version, meta = latest_commit(spark, labels_ref)
        if meta.get("run_id") == run.run_id:
            log.info(
                "publish %s: %s@v%d already holds run %s; nothing to do", ds.name, labels_ref.name, version, run.run_id
            )
            return PublishResult(version, written_rows(spark, labels_ref.path), already_published=True)
    current_from = (record or {}).get("labels_current_from")
    if not (current_from and labels_ref.exists()):
        return None
    version, meta = latest_commit(spark, labels_ref)
    if meta.get("run_id") != current_from:
        raise StageOrderError(
            f"publish {ds.name}: {labels_ref.name} changed since this run found run {current_from}'s labels "
            f"current (now v{version} of run {meta.get('run_id')}); rerun the run"
        )
    log.info(
        "publish %s: nothing changed; %s@v%d of run %s stays current", ds.name, labels_ref.name, version, current_from
    )
    rows = int((record or {}).get("published_rows") or 0) or written_rows(spark, labels_ref.path)
    return PublishResult(version, rows, already_published=True)


def superseded_result(
    spark: SparkSession, ds: DatasetConfig, run: RunContext, labels_ref: TableRef, staging_version: int
) -> PublishResult | None:
    """A newer run's labels are published: a no-op for a retry of a run published before them,
    else a StageOrderError (an older run never replaces newer labels)."""
    superseded = _superseded_by(spark, labels_ref, run.run_id, staging_version)
    if superseded is None:
        return None
    newer_run, newer_version, published_before = superseded
    if not published_before:
        raise StageOrderError(
            f"publish {ds.name}: run {run.run_id} is older than run {newer_run}, whose labels are already "
            f"published ({labels_ref.name}@v{newer_version}); {labels_ref.name} left unchanged"
        )
    log.info(
        "publish %s: run %s was published before; %s@v%d of newer run %s stays current",
        ds.name,
        run.run_id,
        labels_ref.name,
        newer_version,
        newer_run,
    )
    return PublishResult(newer_version, written_rows(spark, labels_ref.path), already_published=True)


def write_labels(
    spark: SparkSession, labels_ref: TableRef, staging_ref: TableRef, run: RunContext, lineage: str
) -> tuple[int, int, str]:
    """Make this run's staged labels the new labels version: (version, rows, how)."""
    why_not = can_commit(labels_ref, staging_ref, LABEL_COLUMNS)
    if why_not is None:
        # The validated files themselves become the new version (jobs/stages/publish/commit_files.py).
        recorded = json.loads(lineage)
        files = staged_files(staging_ref, recorded["staging_version"], run.run_id)
        rows = sum(f.rows for f in files)
        metadata = json.dumps({**recorded, "rows": rows}, sort_keys=True)
        version = commit_staged_files(labels_ref, staging_ref, files, metadata, LABEL_COLUMNS)
        return version, rows, f"committed {len(files)} validated staging files"
    labels = staging_ref.read(spark).where(f"_run_id = '{run.run_id}'")
    (
        labels.select(*LABEL_COLUMNS)
        .write.format("delta")
        .mode("overwrite")
        .option("overwriteSchema", "true")
        .partitionBy(PARTITION)
        .option("userMetadata", lineage)
        .save(str(labels_ref.path))
    )
    version, _ = latest_commit(spark, labels_ref)
    return version, written_rows(spark, labels_ref.path), f"rewrote the rows ({why_not})"


def run_publish(spark: SparkSession, ds: DatasetConfig, settings: Settings, run: RunContext) -> PublishResult:
    """Publish this run's validated labels; the result names the labels version holding them."""
    labels_ref = table(settings, ds.name, "labels")
    record = run_record(spark, settings, run.run_id, run.dataset)
    done = published_already(spark, ds, run, labels_ref, record)
    if done is not None:
        return done
    if not record or record.get("status") not in ("validated", "published"):
        status = record.get("status") if record else "no run record"
        raise StageOrderError(
            f"publish {ds.name}: run {run.run_id} is not validated (status: {status}); {labels_ref.name} left unchanged"
        )
    staging_ref = table(settings, ds.name, "staging_labels")
    staging_version, staging_meta = latest_commit(spark, staging_ref)
    lineage = _lineage_for_run(spark, staging_ref, run.run_id, staging_meta, staging_version)
    superseded = superseded_result(spark, ds, run, labels_ref, json.loads(lineage)["staging_version"])
    if superseded is not None:
        return superseded
    version, rows, how = write_labels(spark, labels_ref, staging_ref, run, lineage)
    log.info(
        "publish %s: run %s -> %s@v%d (%d rows; %s) at %s",
        ds.name,
        run.run_id,
        labels_ref.name,
        version,
        rows,
        how,
        labels_ref.path,
    )
    return PublishResult(version, rows)


def written_rows(spark: SparkSession | None, path: object) -> int:
    """Rows written by the newest commit of the table at ``path``: Delta's commit metrics for a
    Spark write, the ``rows`` the publish recorded in ``userMetadata`` for a file commit. Read
    with delta-rs on local disk or S3 (no Spark job), with Spark elsewhere."""
    if spark is None:  # the Spark-free publish, on tables delta-rs reads (jobs.pipeline checks)
        commit = _local_newest_commit(str(path))
    else:
        found = _local_newest_commit_or_none(str(path))
        if found is None:
            from delta.tables import DeltaTable

            row = DeltaTable.forPath(spark, str(path)).history(1).select("operationMetrics", "userMetadata").first()
            found = {"operationMetrics": row["operationMetrics"], "userMetadata": row["userMetadata"]}
        commit = found
    metrics, user_metadata = commit.get("operationMetrics"), commit.get("userMetadata")
    if metrics and "numOutputRows" in metrics:
        return int(metrics["numOutputRows"])
    return int(json.loads(user_metadata or "{}").get("rows", -1))


def _local_newest_commit(path: str) -> dict:
    """The newest commit's info of a table on local disk or S3, read by delta-rs (raises when it cannot)."""
    from deltalake import DeltaTable as RustDeltaTable

    location = delta_rs_location(path)
    if location is None:
        raise ValueError(f"{path}: delta-rs does not read this store; its history needs Spark")
    return RustDeltaTable(location).history(1)[0]


def _local_newest_commit_or_none(path: str) -> dict | None:
    """As :func:`_local_newest_commit`, or None (Spark reads it) for a remote table or a log
    delta-rs cannot read (a reader feature it lacks)."""
    try:
        return _local_newest_commit(path)
    except Exception:  # noqa: BLE001 - Spark answers, or reports the problem
        return None


def _superseded_by(
    spark: SparkSession, labels_ref: TableRef, run_id: str, staging_version: int
) -> tuple[str, int, bool] | None:
    """``(newer run, labels version, whether run_id was published before)`` when the labels table's
    newest commit came from a later staging commit than ``run_id``'s, else None.

    Publishing an older run's candidates would roll the labels back past a newer
    validated labeling (an old run id retried by hand, a late Airflow retry)."""
    if not labels_ref.exists():
        return None
    version, meta = latest_commit(spark, labels_ref)
    newest_staging = meta.get("staging_version")
    if newest_staging is None or int(newest_staging) <= staging_version or meta.get("run_id") == run_id:
        return None
    from deltalake import DeltaTable

    published_before = any(
        json.loads(commit.get("userMetadata") or "{}").get("run_id") == run_id
        for commit in DeltaTable(str(labels_ref.path)).history()
    )
    return str(meta.get("run_id")), version, published_before


def _lineage_for_run(
    spark: SparkSession, staging_ref: TableRef, run_id: str, newest_meta: dict, newest_version: int
) -> str:
    """Lineage JSON for the labels commit: the staging commit's, for ``run_id``."""
    candidates = [(newest_version, newest_meta)]
    if newest_meta.get("run_id") != run_id:
        candidates = commit_history(spark, staging_ref, limit=None)
    for version, meta in candidates:
        if meta.get("run_id") == run_id:
            meta = {k: v for k, v in meta.items() if k != "stage"}
            meta["staging_version"] = version
            return json.dumps(meta, sort_keys=True)
    raise StageOrderError(f"publish: no staging commit for run {run_id} in {staging_ref.name}")
