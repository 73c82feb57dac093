"""The nightly_relabel DAG: it imports cleanly, is wired as documented, and runs for real."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from deltalake import DeltaTable

from jobs.settings import PROJECT_ROOT, Settings
from jobs.stages import STAGES
from jobs.tables import runs_table, table
from tests.conftest import DATA_ROOT


@pytest.fixture(scope="module")
def dag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(PROJECT_ROOT / "dags"))
    assert bag.import_errors == {}
    return bag.dags["nightly_relabel"]


def test_dag_structure(dag) -> None:
    from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator

    assert [t.task_id for t in dag.topological_sort()] == [*STAGES, "report"]
    for upstream, downstream in zip([*STAGES], [*STAGES[1:], "report"]):
        assert dag.get_task(upstream).downstream_task_ids == {downstream}
    for stage in STAGES:
        task = dag.get_task(stage)
        assert isinstance(task, SparkSubmitOperator)
        assert task._conn_id == "spark_default"
        assert task.application.endswith("jobs/spark_entry.py")
        assert task.application_args[:2] == ["stage", stage]
        assert "io.delta.sql.DeltaSparkSessionExtension" in task.conf.values()
        assert "delta-spark" in (task.jars or "")
    assert dag.get_task("validate").retries == 0
    assert dag.get_task("ingest").retries == 2
    assert dag.max_active_runs == 1 and dag.catchup is False
    assert dag.params["dataset"] == "youtube_spam"


def test_dag_file_imports_no_heavy_libraries() -> None:
    code = (
        "import sys, runpy; runpy.run_path(sys.argv[1]);"
        "heavy = [m for m in ('pyspark', 'pandas', 'great_expectations') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    env = {**os.environ}
    out = subprocess.run([sys.executable, "-c", code, str(PROJECT_ROOT / "dags" / "nightly_relabel.py")],
                         capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "pyspark" not in out.stdout and "great_expectations" not in out.stdout


@pytest.mark.e2e
def test_airflow_dags_test_relabels_youtube(tmp_path: Path) -> None:
    """``airflow dags test`` runs every stage through spark-submit; then check the tables."""
    from jobs.airflow_env import airflow_env, dags_test

    settings = dataclasses.replace(Settings.from_env(), home=tmp_path / "lakehouse", data_root=DATA_ROOT)
    os.environ["LABELLAKE_AIRFLOW_HOME"] = str(tmp_path / "airflow")
    try:
        env = airflow_env(settings)
    finally:
        del os.environ["LABELLAKE_AIRFLOW_HOME"]
    assert dags_test("nightly_relabel", {"dataset": "youtube_spam"}, env) == 0

    labels = DeltaTable(str(table(settings, "youtube_spam", "labels").path))
    frame = labels.to_pandas()
    assert len(frame) == 1953
    assert frame["_run_id"].str.startswith("manual__").all()
    assert (frame["label"] >= 0).sum() == 1436
    meta = json.loads(labels.history()[0]["userMetadata"])
    assert meta["dag_id"] == "nightly_relabel" and meta["run_id"] == frame["_run_id"].iloc[0]
    runs = DeltaTable(str(runs_table(settings).path)).to_pandas()
    run = runs.set_index("run_id").loc[meta["run_id"]]
    assert run["status"] == "published" and run["dag_id"] == "nightly_relabel"
    assert run["input_rows"] == 1956 and run["accepted_rows"] == 1953 and run["quarantined_rows"] == 3
