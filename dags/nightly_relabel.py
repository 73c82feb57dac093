"""nightly_relabel: relabel a dataset every night, one Spark job per stage.

Wiring only; the work is in ``jobs/``. Each stage is a ``spark-submit`` of
``jobs/spark_entry.py`` through the Apache Spark provider and the
``spark_default`` connection (local mode by default, a standalone master on a
cluster), so the tasks are exactly ``labellake stage <name>`` runs.

One DAG with a ``dataset`` param (default ``youtube_spam``) rather than one DAG
per dataset: the stages are identical for every dataset, and a manual trigger
with ``{"dataset": "..."}`` relabels any configured dataset.

Airflow's run id keys every stage's output (staging partition, runs-table
row, published commit), so a retried task redoes only its own step, and a
retried publish adds no second version.
"""

from __future__ import annotations

import logging
import sys
from datetime import timedelta

import pendulum
from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.sdk import Param, dag, task

from jobs.errors import SetupError
from jobs.settings import PROJECT_ROOT, Settings
from jobs.spark_conf import delta_jars, spark_conf
from jobs.stages import STAGES

SETTINGS = Settings.from_env()
ENTRY = str(PROJECT_ROOT / "jobs" / "spark_entry.py")
try:
    JARS = ",".join(delta_jars(SETTINGS))
except SetupError as exc:  # keep the DAG importable; the Spark task will fail with this message
    logging.getLogger(__name__).warning("%s", exc)
    JARS = ""

STAGE_ARGS = [
    "--dataset", "{{ params.dataset }}",
    "--run-id", "{{ run_id }}",
    "--trigger", "{{ dag_run.run_type | string | replace('DagRunType.', '') | lower }}",
    "--dag-id", "{{ dag.dag_id }}",
    "--mode", "{{ params.mode }}",
]


@dag(
    dag_id="nightly_relabel",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args={
        "retries": 2,
        "retry_delay": timedelta(minutes=1),
        "retry_exponential_backoff": True,
    },
    params={
        "dataset": Param("youtube_spam", type="string", description="dataset name from config/datasets.toml"),
        "mode": Param("incremental", type="string", enum=["incremental", "full"],
                      description="incremental: recompute only changed LFs and rows; full: everything"),
    },
    tags=["labellake"],
    doc_md=__doc__,
)
def nightly_relabel() -> None:
    previous = None
    for stage in STAGES:
        submit = SparkSubmitOperator(
            task_id=stage,
            conn_id="spark_default",
            application=ENTRY,
            application_args=["stage", stage, *STAGE_ARGS],
            jars=JARS or None,
            conf=spark_conf(SETTINGS),
            env_vars={"PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable},
            name=f"labellake-{stage}",
            driver_memory="2g",
            # A failed expectation is a verdict on the data, not a transient error.
            retries=0 if stage == "validate" else 2,
        )
        if previous is not None:
            previous >> submit
        previous = submit

    @task
    def report(params: dict | None = None) -> dict:
        """Log where the labels are, their distribution and accuracy against gold."""
        from jobs.summary import format_summary, labels_summary

        summary = labels_summary(Settings.from_env(), params["dataset"])
        print(format_summary(summary))
        return {k: v for k, v in summary.items() if k != "distribution"} | {
            "distribution": {str(k): v for k, v in summary["distribution"].items()}
        }

    previous >> report()


nightly_relabel()
