"""The DAGs: they import cleanly, are wired as documented, and run for real with ``airflow dags test``."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from jobs.core.datasets import load_datasets
from jobs.core.settings import PROJECT_ROOT, Settings
from jobs.spark.jvm_archive import archive_path
from jobs.stages import STAGES
from tests.conftest import PACK_V1_RUN, shares_first_run
from tests.dags.helpers import PACK_V1, PACK_V2, dag_env, labels_table, run_row
from tests.ports import free_port

DAG_IDS = {"nightly_relabel", "lf_change_relabel", "lf_library_watch"}


@pytest.fixture(scope="module")
def bag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(PROJECT_ROOT / "dags"))
    assert bag.import_errors == {}
    return bag


def test_dagbag_has_the_three_dags(bag) -> None:
    assert set(bag.dag_ids) == DAG_IDS


@pytest.mark.parametrize("dag_id", ["nightly_relabel", "lf_change_relabel"])
def test_relabel_dags_have_one_chain_per_dataset(bag, dag_id: str) -> None:
    from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator

    dag = bag.dags[dag_id]
    datasets = list(load_datasets(Settings.from_env().config_path))
    assert dag.max_active_runs == 1 and dag.catchup is False
    assert dag.params["mode"] == "incremental" and dag.params["dataset"] is None
    for name in datasets:
        chain = [f"{name}.selected", *(f"{name}.{s}" for s in STAGES)]
        assert dag.get_task("plan").downstream_task_ids >= {f"{name}.selected"}
        for upstream, downstream in zip(chain, chain[1:], strict=False):
            assert dag.get_task(upstream).downstream_task_ids == {downstream}
        # after publish: the report (whatever happened) and, once published, the retention vacuum
        assert dag.get_task(chain[-1]).downstream_task_ids == {f"{name}.report", f"{name}.vacuum"}
        assert dag.get_task(f"{name}.report").trigger_rule == "all_done"
        for stage in STAGES:
            task = dag.get_task(f"{name}.{stage}")
            assert isinstance(task, SparkSubmitOperator)
            assert task._conn_id == "spark_default"
            assert task.application.endswith("jobs/spark_entry.py")
            args = task.application_args
            assert args[:4] == ["stage", stage, "--dataset", name]
            assert "{{ run_id }}" in args and "{{ dag.dag_id }}" in args
            assert "io.delta.sql.DeltaSparkSessionExtension" in task.conf.values()
            assert "delta-spark" in (task.jars or "")
            assert task.retries == (0 if stage == "validate" else 2)
            assert task.retry_exponential_backoff


def test_schedules(bag) -> None:
    nightly = bag.dags["nightly_relabel"].timetable
    assert nightly.expression == "0 0 * * *"  # "@daily" from config/datasets.toml
    watch = bag.dags["lf_library_watch"]
    assert watch.timetable.expression == "*/30 * * * *"
    outlets = {t.task_id: [a.uri for a in t.outlets] for t in watch.tasks}
    datasets = list(load_datasets(Settings.from_env().config_path))
    assert outlets == {f"check_{n}": [f"labellake://lf-library/{n}"] for n in datasets}
    relabel = bag.dags["lf_change_relabel"].timetable
    condition = repr(relabel.asset_condition)
    assert all(f"labellake://lf-library/{n}" in condition for n in datasets)


def test_nightly_schedule_comes_from_config(tmp_path: Path) -> None:
    config = tmp_path / "datasets.toml"
    config.write_text(
        '[airflow]\nnightly_schedule = "15 3 * * 1-5"\nlf_watch_schedule = "none"\n\n'
        + (PROJECT_ROOT / "config" / "datasets.toml").read_text().split("[airflow]", 1)[1].split("\n", 4)[-1]
    )
    code = (
        "from airflow.dag_processing.dagbag import DagBag; import sys;"
        "b = DagBag(dag_folder=sys.argv[1]); assert not b.import_errors, b.import_errors;"
        "print(b.dags['nightly_relabel'].timetable.expression, type(b.dags['lf_library_watch'].timetable).__name__)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(PROJECT_ROOT / "dags")],
        capture_output=True,
        text=True,
        env={**os.environ, "LABELLAKE_CONFIG": str(config)},
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "15 3 * * 1-5 NullTimetable"


def test_run_types_map_to_triggers() -> None:
    from airflow.utils.types import DagRunType

    from dags.relabel_chain import trigger_for

    assert trigger_for(DagRunType.SCHEDULED) == "schedule"
    assert trigger_for(DagRunType.MANUAL) == "manual"
    assert trigger_for(DagRunType.BACKFILL_JOB) == "backfill"
    assert trigger_for(DagRunType.ASSET_TRIGGERED) == "lf-change"


def test_dag_files_import_no_heavy_libraries() -> None:
    code = (
        "import sys, runpy; [runpy.run_path(p) for p in sys.argv[1:]];"
        "heavy = [m for m in ('pyspark', 'pandas', 'great_expectations') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    files = [str(PROJECT_ROOT / "dags" / f) for f in ("nightly_relabel.py", "lf_change_relabel.py")]
    out = subprocess.run(
        [sys.executable, "-c", code, *files], capture_output=True, text=True, env={**os.environ}, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "pyspark" not in out.stdout and "great_expectations" not in out.stdout


# --- end to end: airflow dags test, every stage a real spark-submit ----------------------------------------


@shares_first_run("pack_v1")
@pytest.mark.e2e
def test_a_failed_check_fails_its_dag_run_and_an_lf_change_then_relabels_incrementally(
    tmp_path: Path, lake_after_run, capfd
) -> None:
    """Two DAG runs in one Airflow home, from a lakehouse whose v0 the same LFs (pack v1) published
    in-process (shared with other tests): a nightly run that fails validation publishes nothing, and
    the failed run does not stop the next one, an LF edit's incremental relabel, from publishing."""
    lake_after_run(*PACK_V1_RUN)
    _failed_validation_fails_the_dag_run_and_publishes_nothing(tmp_path)
    _lf_change_is_detected_published_as_an_asset_event_and_relabels_incrementally(
        tmp_path, PACK_V1_RUN[1].run_id, capfd
    )


def _lf_change_is_detected_published_as_an_asset_event_and_relabels_incrementally(
    lake: Path, first: str, capfd
) -> None:
    """Edit the LF pack: the watch DAG emits an Asset event, the relabel DAG recomputes only the changed LFs."""
    from jobs.cli.airflow_env import dags_test
    from jobs.reports.lf_library_status import lf_library_status

    settings, env = dag_env(lake, PACK_V2)
    before = labels_table(settings).version()
    status = lf_library_status(settings, "youtube_spam")
    assert status.changed and status.lf_changes == {
        "keyword_free": "new",
        "keyword_please": status.lf_changes["keyword_please"],
        "keyword_song": "removed",
    }
    assert status.lf_changes["keyword_please"].startswith("changed ")

    assert dags_test("lf_library_watch", {}, env) == 0
    db = sqlite3.connect(Path(env["AIRFLOW_HOME"]) / "airflow.db")
    events = db.execute("SELECT a.uri, e.extra FROM asset_event e JOIN asset a ON a.id = e.asset_id").fetchall()
    yt_events = [json.loads(extra) for uri, extra in events if uri == "labellake://lf-library/youtube_spam"]
    assert yt_events and yt_events[-1]["lf_set_version"] == status.lf_set_version

    capfd.readouterr()
    assert dags_test("lf_change_relabel", {}, env) == 0
    out = capfd.readouterr()
    log = out.out + out.err
    # Same input files, and a publish by file commit: neither starts a JVM (jobs.pipeline.stage_without_spark).
    for stage in ("ingest", "publish"):
        assert f"stage {stage} of youtube_spam completed without Spark" in log
        assert f"labellake-youtube_spam-{stage}" not in log
    assert "labellake-youtube_spam-fit_label_model" in log
    assert "vacuum youtube_spam: 0 files deleted" in log  # retention ran after publish (30 days kept)
    labels = labels_table(settings)
    assert labels.version() == before + 1
    frame = labels.to_pandas()
    assert (frame["_dag_id"] == "lf_change_relabel").all() and not (frame["_run_id"] == first).any()
    assert (frame["_lf_set_version"] == status.lf_set_version).all()
    run = run_row(settings, frame["_run_id"].iloc[0])
    assert run["trigger"] == "lf-change" and run["mode"] == "incremental" and run["status"] == "published"
    recomputed = json.loads(run["recomputed"])
    assert sorted(recomputed["lfs"]) == ["keyword_free", "keyword_please"]
    assert recomputed["removed_lfs"] == ["keyword_song"] and recomputed["dirty_rows"] == 0
    assert not lf_library_status(settings, "youtube_spam").changed


def _failed_validation_fails_the_dag_run_and_publishes_nothing(lake: Path) -> None:
    """An impossible coverage floor: the validate task fails naming it, the labels table stays as it was."""
    from jobs.cli.airflow_env import airflow_bin, ensure_airflow_db

    settings, env = dag_env(lake, PACK_V1, min_coverage=0.99)
    before = labels_table(settings).version()
    ensure_airflow_db(env)
    out = subprocess.run(
        [airflow_bin(), "dags", "test", "nightly_relabel", "--conf", json.dumps({"dataset": "youtube_spam"})],
        env=env,
        capture_output=True,
        text=True,
    )
    log = out.stdout + out.stderr
    assert out.returncode != 0
    assert "coverage" in log and "ValidationFailed" in log
    assert labels_table(settings).version() == before and "vacuum youtube_spam:" not in log
    # The input files and LFs are v0's: ingest and apply_lfs found their outputs on record and
    # started no JVM; the tightened threshold changed the fit key, so the fit ran.
    for stage in ("ingest", "apply_lfs"):
        assert f"stage {stage} of youtube_spam completed without Spark" in log
        assert f"labellake-youtube_spam-{stage}" not in log
    assert "labellake-youtube_spam-fit_label_model" in log


# --- a real Spark standalone cluster (master + 1 worker from the pyspark install) under a real scheduler ------


@pytest.fixture
def standalone_master(tmp_path: Path):
    """``spark-class`` Master and Worker processes, as docker-compose starts them; torn down after."""
    import signal
    import time
    import urllib.request

    spark_class = str(Path(sys.executable).parent / "spark-class")
    port, ui = free_port(), free_port()
    env = {
        **os.environ,
        "SPARK_LOCAL_IP": "127.0.0.1",
        "PYSPARK_PYTHON": sys.executable,
        "SPARK_WORKER_DIR": str(tmp_path / "worker"),
        "SPARK_LOG_DIR": str(tmp_path / "logs"),
    }
    procs = []
    try:
        procs.append(
            subprocess.Popen(
                [
                    spark_class,
                    "org.apache.spark.deploy.master.Master",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--webui-port",
                    str(ui),
                ],
                env=env,
                stdout=(tmp_path / "master.log").open("w"),
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
        procs.append(
            subprocess.Popen(
                [
                    spark_class,
                    "org.apache.spark.deploy.worker.Worker",
                    f"spark://127.0.0.1:{port}",
                    "--cores",
                    "2",
                    "--memory",
                    "4g",
                    "--webui-port",
                    str(free_port()),
                ],
                env=env,
                stdout=(tmp_path / "worker.log").open("w"),
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
        deadline = time.monotonic() + 120
        while True:
            try:
                state = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{ui}/json/", timeout=5).read())
                if state.get("aliveworkers", 0) >= 1:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "worker.log").read_text()[-3000:]
            time.sleep(1)
        yield f"spark://127.0.0.1:{port}", ui
    finally:
        for proc in procs[::-1]:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=30)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(proc.pid, signal.SIGKILL)


@shares_first_run("pack_v1")
@pytest.mark.e2e
def test_scheduler_backfill_on_a_standalone_cluster_publishes_the_local_labels(
    spark, tmp_path: Path, s3_lake, standalone_master, lake_after_run
) -> None:
    """A one-day backfill of nightly_relabel, run by a real scheduler (api-server, dag-processor,
    scheduler) with ``spark_default`` on a standalone master and the lakehouse on an S3-compatible
    store, as docker-compose wires it: every stage is a spark-submit whose executors run on the
    worker and read and write the tables through s3a. It publishes version 0, with the
    backfill's lineage, and the same labels as a local-mode run of the same config on local disk
    (this process's session). ``airflow dags test``, which ``make demo`` uses, runs the other DAG runs."""
    import urllib.request

    from tests.dags.scheduler import backfill_nightly

    master, ui = standalone_master
    (tmp_path / "dag").mkdir()  # tmp_path holds the cluster's logs
    settings, run_id = backfill_nightly(tmp_path / "dag", spark_master=master, lake=s3_lake.lake)
    assert settings.lake and labels_table(settings).table_uri.startswith("s3a://")

    apps = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{ui}/json/", timeout=5).read())
    finished = {a["name"] for a in apps.get("completedapps", [])}
    # Every stage that works on rows ran on the cluster; the publish commits the validated files
    # (server-side copies on the store) with delta-rs, so it needs no Spark application.
    assert {f"labellake-{stage}-youtube_spam" for stage in STAGES if stage != "publish"} <= finished, finished
    assert "labellake-publish-youtube_spam" not in finished
    # Each executor JVM mapped set-up's class archive, as the drivers do (jobs.spark.jvm_archive).
    # The master may start a second executor for an application that is shutting down (its first
    # one exited before the application unregistered), so count applications, not launches.
    stderrs = list((tmp_path / "worker").glob("app-*/*/stderr"))
    assert len({path.parent.parent.name for path in stderrs}) == 4
    archive = f"-XX:SharedArchiveFile={archive_path(settings)}"
    assert all(archive in path.read_text().split("\n", 1)[0] for path in stderrs)

    labels = labels_table(settings)
    assert labels.version() == 0  # published once, by the backfill
    cluster = labels.to_pandas()
    assert len(cluster) == 1953 and (cluster["_run_id"] == run_id).all()
    assert (cluster["_dag_id"] == "nightly_relabel").all()
    meta = json.loads(labels.history(1)[0]["userMetadata"])
    assert meta["dag_id"] == "nightly_relabel" and meta["run_id"] == run_id
    run = run_row(settings, run_id)
    assert run["status"] == "published" and run["dag_id"] == "nightly_relabel" and run["trigger"] == "backfill"
    assert run["input_rows"] == 1956 and run["accepted_rows"] == 1953 and run["quarantined_rows"] == 3

    cluster = cluster.set_index("id").sort_index()
    local_settings, _ = lake_after_run(*PACK_V1_RUN, home_name="local")  # same LFs and rows, in-process
    local = labels_table(local_settings).to_pandas().set_index("id").sort_index()
    assert len(local) == 1953 and (cluster["label"] >= 0).sum() > 1300
    assert (cluster["label"] == local["label"]).all()
    assert (cluster["_lf_set_version"] == local["_lf_set_version"]).all()
    diff = max(
        abs(a - b) for x, y in zip(cluster["probs"], local["probs"], strict=True) for a, b in zip(x, y, strict=True)
    )
    assert diff < 1e-9
