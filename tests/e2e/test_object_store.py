"""The lakehouse on S3-compatible object storage (issue 33), against a real server on 127.0.0.1.

The YouTube comments relabeled with every table on the store: the same labels as on local disk,
an LF edit rerun that recomputes only the changed LFs, a query at a version, and a second
process refused at once while a run holds the dataset's lease (a conditional PUT).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

from deltalake import DeltaTable

from jobs.core.lineage import RunContext
from jobs.core.settings import Settings
from jobs.lake.dataset_lock import dataset_lock
from jobs.lake.lease_lock import lease_uri
from jobs.lake.object_store import list_folders, read_object
from jobs.lake.runs import run_record
from jobs.lake.tables import existing_tables, table
from jobs.pipeline import run_pipeline, stage_without_spark
from jobs.stages import STAGES
from jobs.stages.lineage_events import _client
from tests.conftest import DATA_ROOT, YOUTUBE, write_config

DATASET = "youtube_spam"
PACK_V1 = "tests.packs.incremental_packs:pack_v1"
PACK_V2 = "tests.packs.incremental_packs:pack_v2"


def _upload_sources(settings: Settings) -> str:
    """The five real comment files, and a gzip file named .csv, under ``raw/`` on the store."""
    import gzip

    import obstore

    from jobs.lake.object_store import _store, split_uri

    bucket, prefix = split_uri(f"{settings.tables_root}/raw")
    for path in sorted((DATA_ROOT / DATASET).glob("*.csv")):
        obstore.put(_store(bucket), f"{prefix}/{path.name}", path.read_bytes())
    obstore.put(_store(bucket), f"{prefix}/export.csv", gzip.compress(b"COMMENT_ID,CONTENT\nx,y\n"))
    return f"s3://{bucket}/{prefix}/*.csv"


def _with_pack(settings: Settings, pack: str, source: str) -> Settings:
    dataset = {**YOUTUBE, "lf_pack": pack, "source_path": source}
    config = write_config(settings.home.parent / f"{pack.rsplit(':', 1)[1]}.toml", {DATASET: dataset})
    return dataclasses.replace(settings, config_path=config)


def _cli(settings: Settings, *args: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "LABELLAKE_HOME": settings.tables_root,
        "LABELLAKE_WORK_DIR": str(settings.home),
        "LABELLAKE_CONFIG": str(settings.config_path),
    }
    return subprocess.run(
        [sys.executable, "-m", "jobs.cli.main", *args], env=env, capture_output=True, text=True, timeout=300
    )


def _lineage(events_file: Path) -> list[dict]:
    return [json.loads(line) for line in events_file.read_text().splitlines() if line.strip()]


def test_the_pipeline_on_object_storage_with_lineage(
    spark, s3_lake: Settings, monkeypatch, tmp_path: Path, caplog
) -> None:
    events_file = tmp_path / "openlineage.jsonl"  # OpenLineage's file transport, set the standard way
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__TYPE", "file")
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__LOG_FILE_PATH", str(events_file))
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__APPEND", "true")
    _client.cache_clear()
    source = _upload_sources(s3_lake)
    v1 = _with_pack(s3_lake, PACK_V1, source)
    caplog.set_level(logging.INFO, logger="jobs.stages.publish.stage")
    ingested = run_pipeline(RunContext("s3-1", DATASET), v1, spark)["ingest"]
    # On the store the publish commits the validated staging files themselves (server-side copies).
    assert "validated staging files" in caplog.text and "rewrote the rows" not in caplog.text
    # The source files are read from the store, each checked first: the gzip one is quarantined whole.
    assert ingested.accepted == 1953 and ingested.quarantined == {
        "duplicate id (identical row)": 3,
        "file quarantined whole: gzip-compressed content in a file not named .gz "
        "(name it .gz to have it decompressed)": 1,
    }
    labels = table(v1, DATASET, "labels")
    assert labels.uri.startswith("s3a://") and not (s3_lake.home / DATASET).exists()  # nothing on local disk
    first = DeltaTable(labels.uri).to_pandas()  # delta-rs on the store, as an analyst's notebook reads it
    assert len(first) == 1953 and first["id"].is_unique and (first["_run_id"] == "s3-1").all()
    assert {t.name for t in existing_tables(v1)} >= {"runs", "youtube_spam_votes", "youtube_spam_labels"}
    assert sorted(list_folders(v1.tables_root)) == ["_runs", "raw", DATASET]

    # Another process cannot start a run while this one holds the dataset: it fails at once, naming it.
    with dataset_lock(v1, RunContext("s3-holder", DATASET)):
        note = json.loads(read_object(lease_uri(v1, DATASET)).data)
        assert note["run_id"] == "s3-holder" and note["expires"] > time.time()
        started = time.monotonic()
        busy = _cli(v1, "run", "--dataset", DATASET, "--run-id", "s3-busy")
        assert busy.returncode == 2 and "being relabeled by" in busy.stderr and "s3-holder" in busy.stderr
        assert time.monotonic() - started < 30 and run_record(None, v1, "s3-busy", DATASET) is None
    assert read_object(lease_uri(v1, DATASET)) is None  # released

    v2 = _with_pack(s3_lake, PACK_V2, source)
    run_pipeline(RunContext("s3-2", DATASET), v2, spark)
    record = run_record(None, v2, "s3-2", DATASET)
    assert record["source_version"] == 0  # the same objects (ETags): the source table was reused
    recomputed = json.loads(record["recomputed"])
    assert sorted(recomputed["lfs"]) == ["keyword_free", "keyword_please"] and recomputed["dirty_rows"] == 0
    assert DeltaTable(labels.uri).version() == 1

    # A quiet night (same objects, LFs and config) reads Delta logs on the store only: no stage needs Spark.
    quiet = RunContext("s3-quiet", DATASET, trigger="schedule")
    assert [stage_without_spark(stage, quiet, v2) for stage in STAGES] == [True] * len(STAGES)
    record = run_record(None, v2, "s3-quiet", DATASET)
    assert record["status"] == "published" and record["labels_current_from"] == "s3-2"
    assert DeltaTable(labels.uri).version() == 1

    query = _cli(v2, "query", "SELECT count(*) AS n, min(_run_id) AS run FROM youtube_spam_labels", "--as-of", "0")
    assert query.returncode == 0, query.stderr[-2000:]
    assert "1953" in query.stdout and "s3-1" in query.stdout
    _check_the_lineage_graph(_lineage(events_file), first)


def _check_the_lineage_graph(events: list[dict], first_labels) -> None:
    """Every stage of the three runs: START then COMPLETE, a child of its labellake run; the graph leads
    from the source files through the source table and the votes to the labels, at their versions."""
    by_run: dict[str, list[str]] = {}
    for event in events:
        by_run.setdefault(event["run"]["runId"], []).append(event["eventType"])
    assert len(by_run) == 15 and all(states == ["START", "COMPLETE"] for states in by_run.values())
    complete = [e for e in events if e["eventType"] == "COMPLETE"]
    edges = {(i["name"], e["job"]["name"], o["name"]) for e in complete for i in e["inputs"] for o in e["outputs"]}
    produced = {(job, out) for _, job, out in edges}
    names = {o.split("/")[-1]: o for _, _, o in edges}
    assert {("youtube_spam.ingest", names["source"]), ("youtube_spam.apply_lfs", names["votes"])} <= produced
    assert ("youtube_spam.publish", names["labels"]) in produced
    assert any(i == names["source"] and o == names["votes"] for i, _, o in edges)
    assert any(i == names["votes"] and o == names["staging_labels"] for i, _, o in edges)
    assert any(i == names["staging_labels"] and o == names["labels"] for i, _, o in edges)
    assert all(d["namespace"] == "s3://labellake" for e in complete for d in e["outputs"])
    publishes = [e for e in complete if e["job"]["name"] == "youtube_spam.publish"]
    # The quiet night's publish leaves v1 the current labels.
    assert [e["outputs"][0]["facets"]["version"]["datasetVersion"] for e in publishes] == ["0", "1", "1"]
    facet = publishes[0]["run"]["facets"]["labellake"]
    assert facet["runId"] == "s3-1" and facet["labelsVersion"] == 0 and facet["rows"]["published_rows"] == 1953
    assert facet["lfSetVersion"] == first_labels["_lf_set_version"].iloc[0]
    voted = {lf for row in first_labels["_lf_versions"] for lf in json.loads(row)}  # the LFs that voted somewhere
    assert voted <= set(facet["lfVersions"]) and all(len(v) == 12 for v in facet["lfVersions"].values())
    assert publishes[0]["run"]["facets"]["parent"]["job"]["name"] == "youtube_spam"
