"""The relabel chain both relabel DAGs share: one task group per dataset.

Not a DAG file (``.airflowignore`` lists it); ``nightly_relabel`` and
``lf_change_relabel`` import it. Each DAG run starts with a ``plan`` task that
decides which datasets this run relabels and with which trigger and mode; each
dataset's group then runs::

    selected (short-circuit) >> ingest >> apply_lfs >> fit_label_model >> validate >> publish >> [report, vacuum]

Why one group per configured dataset in one DAG (rather than one DAG per
dataset or a ``dataset`` param alone): a scheduled run relabels every
dataset, side by side in one run and one grid, yet a failed validation in one
dataset fails only its own group; a manual trigger with ``{"dataset": ...}``
runs one group and skips the others.

Every Spark stage is a ``spark-submit`` of ``jobs/spark_entry.py`` through the
Apache Spark provider and the ``spark_default`` connection (local mode unless
the connection names a master), so a task is exactly ``labellake stage <name>``.
Airflow's dag id and run id key every stage's output (runs-table row, staging
partition, published commit, the ``_dag_id``/``_run_id`` lineage columns), so
a retried task redoes only its own step and a retried publish adds no version.
"""

from __future__ import annotations

import logging
import sys
from datetime import timedelta
from typing import Any

import pendulum
from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.sdk import Param, TaskGroup, task

from jobs.core.datasets import load_airflow_config, load_valid_datasets
from jobs.core.errors import SetupError
from jobs.core.lineage import RUN_MODES
from jobs.core.settings import PROJECT_ROOT, Settings
from jobs.spark.conf import session_jars, spark_conf
from jobs.stages import STAGES

SETTINGS = Settings.from_env()
ENTRY = str(PROJECT_ROOT / "jobs" / "spark_entry.py")
try:
    JARS = ",".join(session_jars(SETTINGS, build=False))  # parsing lists jars; it never compiles one
except SetupError as exc:  # keep the DAG importable; the Spark task fails with this message
    logging.getLogger(__name__).warning("%s", exc)
    JARS = ""

CONFIG = load_airflow_config(SETTINGS.config_path)
DATASETS, BROKEN_DATASETS = load_valid_datasets(SETTINGS.config_path)
for _error in BROKEN_DATASETS.values():  # the other datasets keep their chains
    logging.getLogger(__name__).error("dataset left out of the DAGs: %s", _error)

DEFAULT_ARGS: dict[str, Any] = {
    "retries": 2,
    "retry_delay": timedelta(minutes=1),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=15),
}

RUN_TYPE_TRIGGERS = {
    "scheduled": "schedule",
    "manual": "manual",
    "backfill": "backfill",
    "asset_triggered": "lf-change",
}
"""Airflow's run type -> the ``trigger`` recorded in the runs table."""


def relabel_dag_args(dataset_help: str, mode_help: str) -> dict[str, Any]:
    """``@dag`` arguments both relabel DAGs share (each sets its own ``schedule``): one run at a
    time, no catch-up, retries with backoff, and the validated ``dataset`` / ``mode`` params."""
    return {
        "start_date": pendulum.datetime(2026, 1, 1, tz="UTC"),
        "catchup": False,
        "max_active_runs": 1,
        "max_active_tasks": CONFIG.max_active_tasks,
        "default_args": DEFAULT_ARGS,
        "params": {
            "dataset": Param(None, type=["null", "string"], enum=[None, *DATASETS], description=dataset_help),
            "mode": Param("incremental", type="string", enum=list(RUN_MODES), description=mode_help),
        },
        "tags": ["labellake"],
    }


def trigger_for(run_type: object) -> str:
    """The runs-table trigger for an Airflow run type (``DagRunType`` or its string)."""
    value = str(getattr(run_type, "value", run_type)).lower().replace("dagruntype.", "")
    return RUN_TYPE_TRIGGERS.get(value, value)


class StageSubmitOperator(SparkSubmitOperator):
    """A stage's ``spark-submit``, skipped when the stage completes without Spark: an ingest whose
    input files are unchanged, an ``apply_lfs`` or fit whose outputs are already on record (a
    quiet night) and a publish that commits the staged files only read and write Delta logs, so
    they start no JVM (the check ``labellake stage`` makes too,
    :func:`jobs.pipeline.stage_without_spark`)."""

    def execute(self, context: Any) -> None:
        from jobs.cli.main import build_parser
        from jobs.core.lineage import RunContext
        from jobs.pipeline import stage_without_spark

        args = build_parser().parse_args(self.application_args)  # rendered: the stage's CLI arguments
        run = RunContext(args.run_id, args.dataset, trigger=args.trigger, dag_id=args.dag_id, mode=args.mode)
        if stage_without_spark(args.stage, run):
            self.log.info("stage %s of %s completed without Spark (inputs unchanged)", args.stage, args.dataset)
            return
        require_connection(self._conn_id)
        super().execute(context)


def require_connection(conn_id: str) -> None:
    """Fail with what to do when the Spark connection is missing: the provider would otherwise fall
    back to YARN and fail minutes later with an unrelated error."""
    from airflow.exceptions import AirflowNotFoundException
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowRuntimeError, ErrorType

    try:
        BaseHook.get_connection(conn_id)
        return
    except AirflowRuntimeError as exc:  # the task SDK's answer for a connection it cannot find
        if exc.error.error != ErrorType.CONNECTION_NOT_FOUND:
            raise
    except AirflowNotFoundException:
        pass
    raise SetupError(
        f"no Airflow connection {conn_id!r}: set AIRFLOW_CONN_{conn_id.upper()} (for one machine: "
        '\'{"conn_type": "spark", "host": "local[*]"}\'), or run the DAG with `labellake airflow dags test ...`'
    )


def stage_task(dataset: str, stage: str) -> SparkSubmitOperator:
    """``labellake stage <stage>`` for ``dataset`` as a spark-submit; trigger and mode come from ``plan``."""
    return StageSubmitOperator(
        task_id=stage,
        conn_id="spark_default",
        application=ENTRY,
        application_args=[
            "stage",
            stage,
            "--dataset",
            dataset,
            "--run-id",
            "{{ run_id }}",
            "--dag-id",
            "{{ dag.dag_id }}",
            "--trigger",
            "{{ ti.xcom_pull(task_ids='plan')['trigger'] }}",
            "--mode",
            "{{ ti.xcom_pull(task_ids='plan')['mode'] }}",
        ],
        jars=JARS or None,
        conf=spark_conf(SETTINGS),
        env_vars={"PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable},
        name=f"labellake-{dataset}-{stage}",
        driver_memory="2g",
        # A failed expectation is a verdict on the data, not a transient error: never retried.
        retries=0 if stage == "validate" else DEFAULT_ARGS["retries"],
    )


def relabel_group(dataset: str, plan: Any) -> TaskGroup:
    """The chain for one dataset, gated on ``plan`` having selected it."""
    with TaskGroup(group_id=dataset, tooltip=f"relabel {dataset}") as group:

        @task.short_circuit(task_id="selected")
        def selected(planned: dict[str, Any]) -> bool:
            """Skip this dataset's chain unless the plan picked it."""
            chosen = dataset in planned["datasets"]
            print(
                f"{dataset}: {'relabel' if chosen else 'not selected'} "
                f"(trigger {planned['trigger']}, mode {planned['mode']}; {planned.get('reason', '')})"
            )
            return chosen

        @task(task_id="report", trigger_rule="all_done")
        def report(run_id: str | None = None) -> dict[str, Any]:
            """Write the run's HTML report (also after a failed stage) and log the labels summary; fail
            if the run was not published, so the DAG run fails too."""
            from jobs.lake.runs import run_record
            from jobs.reports.run_report import write_run_report_quietly
            from jobs.reports.summary import format_summary, labels_summary

            assert run_id, "Airflow passes the run id from the task context"
            settings = Settings.from_env()
            path = write_run_report_quietly(settings, dataset, run_id)
            print(f"report: {path.as_uri() if path else 'not written'}")
            record = run_record(None, settings, run_id, dataset) or {}
            if record.get("status") != "published":
                # The report is a leaf: failing it here keeps the DAG run failed (Airflow judges
                # a run by its leaves), with the reason once more at the end of the log.
                from airflow.sdk.exceptions import AirflowFailException

                raise AirflowFailException(
                    f"{dataset}: run {run_id} not published (status "
                    f"{record.get('status')}, {record.get('error') or 'see the stage logs'})"
                )
            summary = labels_summary(settings, dataset)
            print(format_summary(summary))
            return {k: v for k, v in summary.items() if k != "distribution"} | {
                "distribution": {str(k): v for k, v in summary["distribution"].items()},
                "report": str(path) if path else None,
            }

        @task(task_id="vacuum")
        def vacuum() -> None:
            """Once published, apply the dataset's ``[retention]`` (old versions' files, old staging runs)."""
            from jobs.core.datasets import get_dataset
            from jobs.lake.retention import format_vacuum, vacuum_dataset

            settings = Settings.from_env()
            print(format_vacuum(dataset, vacuum_dataset(settings, get_dataset(dataset, settings)), dry_run=False))

        previous: Any = selected(plan)
        for stage in STAGES:
            submit = stage_task(dataset, stage)
            previous >> submit
            previous = submit
        previous >> [report(), vacuum()]
    return group
