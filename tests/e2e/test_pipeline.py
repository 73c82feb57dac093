"""The whole relabel on the real YouTube comments, without Airflow.

Counts are the ones the Snorkel tutorial's 7 rule LFs and 2 TextBlob LFs give
on the 1,953 unique comments under majority vote: 1,690 rows with any vote, a
strict majority on 1,436, right on 1,333 of them.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote

import pandas as pd
import pyarrow as pa
import pytest
from deltalake import DeltaTable
from pyspark.sql import functions as F

from jobs.core.errors import StageOrderError, ValidationFailed
from jobs.core.lineage import RunContext
from jobs.core.settings import Settings
from jobs.lake.runs import run_record
from jobs.lake.tables import latest_commit, table
from jobs.pipeline import run_pipeline, run_stage
from jobs.reports.summary import labels_summary, tables_listing
from jobs.stages import STAGES
from jobs.stages.publish.stage import written_rows
from lf_library.packs import load_pack
from tests.browser import assert_renders, look_offline
from tests.conftest import YOUTUBE, shares_first_run, write_config

LINEAGE = [
    "_source_table",
    "_source_version",
    "_lf_set_version",
    "_lf_versions",
    "_label_source",
    "_label_model",
    "_run_id",
    "_dag_id",
    "_labeled_at",
    "_code_version",
]


@pytest.fixture
def yt(tmp_path: Path, settings: Settings) -> Settings:
    config = write_config(tmp_path / "datasets.toml", {"youtube_spam": YOUTUBE})
    return dataclasses.replace(settings, config_path=config)


FIRST_RUN = ({"youtube_spam": YOUTUBE}, RunContext("run-1", "youtube_spam"))


@shares_first_run("youtube")
def test_relabel_youtube_end_to_end(spark, lake_after_run, monkeypatch, capsys) -> None:
    yt, results = lake_after_run(*FIRST_RUN)
    assert results["ingest"].input_rows == 1956
    assert results["ingest"].accepted == 1953
    assert results["ingest"].quarantined == {"duplicate id (identical row)": 3}

    labels_ref = table(yt, "youtube_spam", "labels")
    labels = DeltaTable(str(labels_ref.path)).to_pandas()  # an independent Delta reader
    assert len(labels) == 1953 and labels["id"].is_unique
    for column in ["id", "label", "label_name", "probs", "confidence", *LINEAGE]:
        assert column in labels.columns
    assert labels[[c for c in LINEAGE if c != "_dag_id"]].notna().all().all()
    assert labels["_dag_id"].isna().all()  # run from the CLI, not by an Airflow DAG
    source_version = DeltaTable(str(table(yt, "youtube_spam", "source").path)).version()
    assert (labels["_source_version"] == source_version).all()
    assert (labels["_source_table"] == "youtube_spam_source").all()
    # _lf_versions: the versions of the LFs that voted on the row; the set is _lf_set_version.
    pack = load_pack("youtube_spam")
    per_row = labels["_lf_versions"].map(json.loads)
    assert all(set(v.items()) <= set(pack.versions.items()) for v in per_row)
    assert (per_row.map(len) > 0).sum() == 1690  # exactly the covered rows name their LFs
    assert set().union(*per_row.map(set)) == set(pack.names) and len(pack) == 9
    assert (labels["_lf_set_version"] == pack.set_version).all()

    summary = labels_summary(yt, "youtube_spam")
    assert summary["covered"] == 1690
    assert summary["labeled"] == 1436
    assert summary["gold"]["correct"] == 1333
    assert summary["gold"]["accuracy"] == pytest.approx(1333 / 1436, abs=1e-4)

    _, meta = latest_commit(spark, labels_ref)
    assert meta["run_id"] == "run-1" and meta["source_version"] == source_version
    assert meta["label_model"].startswith("majority_vote@") and len(meta["lf_versions"]) == 9
    # The distribution the fit counted from its patterns (read by the next run's drift checks
    # instead of a pass over the published rows) is the published rows' distribution.
    from expectations.labels_suite import published_stats, recorded_published_stats

    recorded = recorded_published_stats(meta, 0)
    scanned = published_stats(spark.read.format("delta").load(str(labels_ref.path)), 0, "run-1")
    assert recorded is not None and recorded.class_shares.keys() == scanned.class_shares.keys()
    assert all(
        recorded.class_shares[c] == pytest.approx(scanned.class_shares[c], abs=1e-12) for c in scanned.class_shares
    )
    assert recorded.mean_confidence == pytest.approx(scanned.mean_confidence, abs=1e-9)
    assert meta["label_distribution"]["rows"] == 1953 and meta["label_distribution"]["unlabeled"] == 1953 - 1436

    listing = {t["name"]: t for t in tables_listing(yt)}
    assert listing["youtube_spam_labels"]["rows"] == 1953
    assert listing["youtube_spam_quarantine"]["rows"] == 3
    assert {t["role"] for t in listing.values()} >= {"source", "gold", "quarantine", "votes", "labels", "runs"}
    assert run_record(spark, yt, "run-1")["status"] == "published"

    # The CLI lists the same tables as JSON.
    from jobs.cli.main import main

    monkeypatch.setenv("LABELLAKE_HOME", str(yt.home))
    assert main(["tables", "--json"]) == 0
    printed = {t["name"]: t for t in json.loads(capsys.readouterr().out)}
    assert printed["youtube_spam_labels"] == {**listing["youtube_spam_labels"]}
    assert set(printed["youtube_spam_labels"]) >= {"name", "dataset", "role", "path", "version", "rows"}
    assert main(["lfs", "--dataset", "youtube_spam", "--json"]) == 0
    lf_rows = {r["lf"]: r for r in json.loads(capsys.readouterr().out)}
    assert len(lf_rows) == 9 and lf_rows["regex_check_out"]["incorrect"] == 0
    assert abs(lf_rows["short_comment"]["coverage"] - 487 / 1953) < 1e-9

    # Nothing changed: an incremental rerun reuses the ingest and the votes, refits nothing and adds
    # no labels version; run-1's labels stay current, lineage and all.
    same = run_pipeline(RunContext("same-2", "youtube_spam"), yt, spark)
    assert same["ingest"].reused and same["publish"].rows == 1953
    assert same["apply_lfs"].votes_version == run_record(spark, yt, "run-1")["votes_version"]
    record = run_record(spark, yt, "same-2")
    assert json.loads(record["recomputed"])["lf_row_pairs"] == 0
    assert record["status"] == "published" and record["published_rows"] == 1953
    assert record["labels_current_from"] == "run-1" and record["labels_version"] == 0
    assert set(DeltaTable(str(labels_ref.path)).to_pandas()["_run_id"]) == {"run-1"}
    from jobs.reports.run_report import write_run_report

    html = write_run_report(yt, "youtube_spam", "same-2").read_text()
    assert "Nothing changed</b> since run run-1" in html and "v0 (current)" in html

    # A full run refits and republishes even so: a version; time travel still returns run-1's labels.
    run_pipeline(RunContext("run-2", "youtube_spam", mode="full"), yt, spark)
    record = run_record(spark, yt, "run-2")
    assert record["labels_current_from"] is None and record["labels_version"] == 1
    assert set(json.loads(record["stage_seconds"])) >= {"ingest", "apply_lfs", "fit_label_model", "validate", "publish"}
    dt = DeltaTable(str(labels_ref.path))
    assert dt.version() == 1
    assert [h["version"] for h in dt.history()] == [1, 0]
    first = spark.read.format("delta").option("versionAsOf", 0).load(str(labels_ref.path))
    assert first.select(F.collect_set("_run_id")).first()[0] == ["run-1"]
    assert DeltaTable(str(labels_ref.path), version=0).to_pandas()["_run_id"].unique().tolist() == ["run-1"]

    # Each run keeps its own staging partition: run-2 did not drop run-1's candidates.
    staged = DeltaTable(str(table(yt, "youtube_spam", "staging_labels").path)).to_pandas()
    assert staged.groupby("_run_id").size().to_dict() == {"run-1": 1953, "run-2": 1953}

    # Retrying publish for run-2 (an Airflow retry) adds no version.
    run_stage("publish", RunContext("run-2", "youtube_spam"), yt, spark)
    assert DeltaTable(str(labels_ref.path)).version() == 1

    # run-2 was published by committing the files validation read (jobs/stages/publish/commit_files.py): the
    # labels files are the staging files themselves (hard links), with their statistics.
    staging_path = table(yt, "youtube_spam", "staging_labels").path
    adds = pa.table(dt.get_add_actions(flatten=True))
    published = [unquote(p) for p in adds.column("path").to_pylist()]
    assert published and all(p.startswith("_run_id=run-2/") for p in published)
    assert all(os.stat(labels_ref.path / p).st_ino == os.stat(staging_path / p).st_ino for p in published)
    assert sum(adds.column("num_records").to_pylist()) == 1953 and adds.column("min.id").null_count == 0
    assert written_rows(spark, labels_ref.path) == 1953
    assert dt.metadata().partition_columns == ["_run_id"]
    now = spark.read.format("delta").load(str(labels_ref.path))
    candidates = spark.read.format("delta").load(str(staging_path)).where("_run_id = 'run-2'")
    assert now.count() == 1953 and now.exceptAll(candidates.select(*now.columns)).count() == 0

    # Analysts: every table reads with delta-rs; SQL without Spark, at any version; Spark's catalog.
    from jobs.lake.catalog import register_catalog
    from jobs.lake.query import QueryError, query, read_table

    for ref in tables_listing(yt):
        assert DeltaTable(ref["path"]).to_pyarrow_dataset().count_rows() == ref["rows"], ref["name"]
    counts = query("SELECT label_name, count(*) AS n FROM youtube_spam_labels GROUP BY 1", yt)
    current = DeltaTable(str(labels_ref.path)).to_pandas()
    assert dict(zip(counts["label_name"].fillna("-"), counts["n"], strict=True)) == (
        current.groupby(current["label_name"].fillna("-")).size().to_dict()
    )
    # A filter on a column the labels files keep no min/max for (label_name) finds its rows, now and by
    # time travel: the labels table names its statistics columns (jobs/stages/publish/commit_files.py), without which
    # delta-rs's dataset pruned every file and this query counted 0.
    for version in (None, 0):
        rows = read_table("youtube_spam_labels", version=version, settings=yt)
        spam = query("SELECT count(*) AS n FROM youtube_spam_labels WHERE label_name = 'SPAM'", yt, as_of=version)
        assert int(spam["n"][0]) == int((rows["label_name"] == "SPAM").sum()) > 0
    old = query("SELECT DISTINCT _run_id FROM labellake.youtube_spam_labels", yt, as_of=0)
    assert old["_run_id"].tolist() == ["run-1"]
    assert read_table("youtube_spam_labels", version=0, settings=yt)["_run_id"].unique().tolist() == ["run-1"]
    for refused in ("DELETE FROM runs", "COPY youtube_spam_labels TO 'x.csv'", "SELECT * FROM read_csv('/etc/passwd')"):
        with pytest.raises(QueryError):
            query(refused, yt)
    assert main(["query", "SELECT run_id, status FROM runs WHERE run_id = 'run-2'", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[0]) == {"run_id": "run-2", "status": "published"}
    out = yt.home.parent / "labels.parquet"
    assert (
        main(
            ["query", "SELECT * FROM youtube_spam_labels", "--as-of", "0", "--format", "parquet", "--output", str(out)]
        )
        == 0
    )
    assert len(pd.read_parquet(out)) == 1953

    # The run report: one self-contained page of aggregates, with its figures, and no row text.
    from jobs.reports.run_report import report_path

    assert main(["report", "--dataset", "youtube_spam"]) == 0
    page = report_path(yt, "youtube_spam", "run-2")
    assert capsys.readouterr().out.strip() == page.as_uri()
    html = page.read_text()
    for section in (
        "<h2>Run</h2>",
        "<h2>Labels</h2>",
        "Changes since v0",
        "<h2>Labeling functions</h2>",
        "<h3>LF conflicts</h3>",
        "<h2>Expectations</h2>",
        "Accuracy against gold",
    ):
        assert section in html, section
    for figure in ("Label distribution", "Confidence of labeled rows", "Pairwise LF conflict rate"):
        assert f'aria-label="{figure}"' in html, figure
    assert "v0 (previous)" in html and "regex_check_out" in html and "coverage" in html
    assert "<script" not in html and len(html) < 300_000
    source = DeltaTable(str(table(yt, "youtube_spam", "source").path)).to_pandas()
    longest = source.loc[source["text"].str.len().idxmax(), "text"]
    assert longest[:40] not in html  # aggregates and ids only, never the rows' text

    assert main(["report", "--dataset", "youtube_spam", "--run-id", "run-1", "--json"]) == 0
    written = json.loads(capsys.readouterr().out)
    assert written["path"] == str(report_path(yt, "youtube_spam", "run-1")) and written["bytes"] > 10_000
    assert main(["summary", "--dataset", "youtube_spam", "--version", "99"]) == 2  # one line, no traceback
    capsys.readouterr()

    # Every Data Docs page of the run links (relatively) to the run's report.
    docs = json.loads(run_record(spark, yt, "run-2")["data_docs"])["pages"]
    assert len(docs) == 3  # candidate labels, label changes and LF health
    for url in docs:
        docs_page = Path(unquote(url.removeprefix("file://")))
        href = re.search(r'id="labellake-run-report".*?href="([^"]+)"', docs_page.read_text()).group(1)
        assert (docs_page.parent / unquote(href)).resolve() == page.resolve(), url
    # ...and works offline: its stylesheets, scripts and images are the site's own copies (issue 32).
    site = Path(unquote(docs[0].removeprefix("file://"))).parents[0]
    while not (site / "index.html").exists():
        site = site.parent
    for docs_page in [site / "index.html", *(Path(unquote(u.removeprefix("file://"))) for u in docs)]:
        html = docs_page.read_text()
        assets = re.findall(r'<(?:script|link|img)\b[^>]*?(?:src|href)="([^"]+)"', html)
        assert assets and not [a for a in assets if a.startswith(("http:", "https:", "//"))], docs_page
        assert all((docs_page.parent / a.split("?")[0]).exists() for a in assets), docs_page

    # In a real browser, offline: the report and a Data Docs page render with no error (issue 32).
    shots = yt.home.parent / "screenshots"
    shots.mkdir(exist_ok=True)
    assert_renders(look_offline(page, shots / "report.png"))
    assert_renders(look_offline(Path(unquote(docs[0].removeprefix("file://"))), shots / "data_docs.png"))

    assert "labellake.youtube_spam_labels" in register_catalog(spark, yt)
    assert spark.sql("SELECT DISTINCT _run_id FROM labellake.youtube_spam_labels VERSION AS OF 0").first()[0] == "run-1"
    assert spark.sql("SELECT count(*) FROM labellake.youtube_spam_labels").first()[0] == 1953

    # Spark's own spark-sql shell sees the same catalog, time travel included, and leaves no
    # Derby metastore behind in the caller's directory.
    shell = subprocess.run(
        [
            sys.executable,
            "-m",
            "jobs.cli.main",
            "spark-sql",
            "-e",
            "SELECT _run_id, count(*) FROM labellake.youtube_spam_labels VERSION AS OF 0 GROUP BY 1",
        ],
        cwd=yt.home.parent,
        env={**os.environ, "LABELLAKE_HOME": str(yt.home)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert shell.returncode == 0, shell.stderr[-3000:]
    assert shell.stdout.split() == ["run-1", "1953"]
    assert not (yt.home.parent / "metastore_db").exists()

    # Staging is scratch space: emptying and vacuuming it loses no published version.
    DeltaTable(str(staging_path)).delete()
    DeltaTable(str(staging_path)).vacuum(retention_hours=0, enforce_retention_duration=False, dry_run=False)
    assert not any(Path(staging_path).rglob("*.parquet"))
    assert spark.read.format("delta").load(str(labels_ref.path)).count() == 1953
    assert DeltaTable(str(labels_ref.path), version=0).to_pyarrow_dataset().count_rows() == 1953


@shares_first_run("youtube")
def test_a_quiet_night_completes_every_stage_without_spark(lake_after_run, tmp_path: Path) -> None:
    """What the DAG checks before each spark-submit (jobs.pipeline.stage_without_spark): with run-1's
    files, LFs and config every stage finds its outputs on record in the Delta logs, so a quiet
    night starts no JVM; a tightened threshold keeps the votes but needs a fit."""
    from jobs.pipeline import stage_without_spark

    yt, _ = lake_after_run(*FIRST_RUN)
    labels = DeltaTable(str(table(yt, "youtube_spam", "labels").path))
    quiet = RunContext("quiet", "youtube_spam", trigger="schedule")
    assert [stage_without_spark(stage, quiet, yt) for stage in STAGES] == [True] * len(STAGES)
    record = run_record(None, yt, "quiet")
    assert record["status"] == "published" and record["labels_current_from"] == "run-1"
    assert record["votes_version"] == run_record(None, yt, "run-1")["votes_version"]
    assert record["labels_version"] == labels.version() == 0 and record["published_rows"] == 1953
    assert json.loads(record["recomputed"])["lf_row_pairs"] == 0
    # `labellake run` makes the same checks before it starts a session: it starts none.
    cli = subprocess.run(
        [sys.executable, "-m", "jobs.cli.main", "run", "--dataset", "youtube_spam", "--run-id", "quiet-cli"],
        env={**os.environ, "LABELLAKE_HOME": str(yt.home), "LABELLAKE_CONFIG": str(yt.config_path)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert cli.returncode == 0, cli.stderr[-3000:]
    assert cli.stderr.count("(inputs unchanged: no Spark session)") == len(STAGES), cli.stderr[-3000:]
    assert "session on" not in cli.stderr and run_record(None, yt, "quiet-cli")["status"] == "published"

    # The same LFs under another module path are the same LF set: nothing new to fit or publish.
    moved = {**YOUTUBE, "lf_pack": "lf_library.packs.youtube_spam:build_pack"}
    renamed = dataclasses.replace(yt, config_path=write_config(tmp_path / "moved.toml", {"youtube_spam": moved}))
    assert [stage_without_spark(stage, RunContext("moved", "youtube_spam"), renamed) for stage in STAGES] == [
        True
    ] * len(STAGES)
    assert run_record(None, renamed, "moved")["labels_current_from"] == "run-1" and labels.version() == 0

    tighter = {**YOUTUBE, "expectations": {**YOUTUBE["expectations"], "min_coverage": 0.6}}
    strict = dataclasses.replace(yt, config_path=write_config(tmp_path / "strict.toml", {"youtube_spam": tighter}))
    tightened = RunContext("tightened", "youtube_spam")
    assert [stage_without_spark(stage, tightened, strict) for stage in STAGES[:3]] == [True, True, False]
    assert run_record(None, strict, "tightened")["stage"] == "apply_lfs"


@shares_first_run("youtube")
def test_failed_validation_leaves_labels_untouched(spark, tmp_path: Path, lake_after_run, monkeypatch, capsys) -> None:
    yt, _ = lake_after_run(*FIRST_RUN)
    labels_ref = table(yt, "youtube_spam", "labels")
    before = DeltaTable(str(labels_ref.path)).version()

    strict = {**YOUTUBE, "expectations": {"min_coverage": 0.95, "class_share": {"SPAM": [0.0, 0.4]}}}
    strict_settings = dataclasses.replace(
        yt, config_path=write_config(tmp_path / "strict.toml", {"youtube_spam": strict})
    )
    run = RunContext("bad", "youtube_spam")
    with pytest.raises(ValidationFailed) as failure:
        run_pipeline(run, strict_settings, spark)
    message = str(failure.value)
    assert "coverage" in message and "observed 0.735279" in message and "threshold 0.95" in message
    assert "class_share_max[SPAM]" in message and "observed 0.452646" in message
    assert {f["check"] for f in failure.value.failures} == {"coverage", "class_share_max[SPAM]"}

    assert DeltaTable(str(labels_ref.path)).version() == before
    record = run_record(spark, strict_settings, "bad")
    assert record["status"] == "failed"
    assert any(not v["success"] for v in json.loads(record["validation"]))
    staging = spark.read.format("delta").load(str(table(yt, "youtube_spam", "staging_labels").path))
    assert staging.where("_run_id = 'bad'").count() == 1953  # kept for inspection

    with pytest.raises(StageOrderError, match="not validated"):
        run_stage("publish", run, strict_settings, spark)
    assert DeltaTable(str(labels_ref.path)).version() == before

    # The run that most needs a report gets one (the CLI's, as after `labellake run`): what
    # failed, with observed values and thresholds, and the candidates that were held back.
    from jobs.cli.main import main

    monkeypatch.setenv("LABELLAKE_HOME", str(strict_settings.home))
    monkeypatch.setenv("LABELLAKE_CONFIG", str(strict_settings.config_path))
    assert main(["report", "--dataset", "youtube_spam", "--run", "bad", "--json"]) == 0
    html = Path(json.loads(capsys.readouterr().out)["path"]).read_text()
    assert "Candidate labels (not published)" in html and "FAILED" in html and "0.95" in html
    assert "<b>Nothing changed</b>" not in html


def test_stage_out_of_order_names_the_missing_step(spark, yt: Settings) -> None:
    with pytest.raises(StageOrderError, match="run ingest first"):
        run_stage("apply_lfs", RunContext("early", "youtube_spam"), yt, spark)
