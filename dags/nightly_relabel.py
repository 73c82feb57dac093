"""nightly_relabel: relabel every nightly dataset on a schedule; rebuild or backfill by hand.

Wiring only; the work is in ``jobs/`` (see ``dags/relabel_chain.py`` for the
task groups and why there is one per dataset).

- Schedule: ``[airflow] nightly_schedule`` in ``config/datasets.toml`` (default
  ``@daily``); a scheduled run relabels every dataset with ``nightly = true``,
  incrementally (only changed LFs and rows are recomputed).
- Manual trigger with params: ``{"dataset": "sms_spam", "mode": "full"}``
  relabels one dataset, recomputing everything (a rebuild).
- Backfill: ``airflow backfill create --dag-id nightly_relabel --from-date ...
  --to-date ...`` creates runs of type backfill (trigger ``backfill`` in the runs
  table); add ``--dag-run-conf '{"mode": "full"}'`` to rebuild.
"""

from __future__ import annotations

from airflow.sdk import dag, get_current_context, task

from dags.relabel_chain import CONFIG, DATASETS, relabel_dag_args, relabel_group, trigger_for

NIGHTLY = [name for name, ds in DATASETS.items() if ds.nightly]


@dag(
    dag_id="nightly_relabel",
    doc_md=__doc__,
    schedule=CONFIG.nightly_schedule,
    **relabel_dag_args(
        dataset_help="one dataset to relabel; empty: every dataset with nightly = true",
        mode_help="incremental: recompute only changed LFs and rows; full: rebuild everything",
    ),
)
def nightly_relabel() -> None:
    @task
    def plan() -> dict[str, object]:
        """Which datasets this run relabels, with which trigger and mode."""
        context = get_current_context()
        params, run = context["params"], context["dag_run"]
        datasets = [params["dataset"]] if params.get("dataset") else NIGHTLY
        reason = "dataset param" if params.get("dataset") else "every dataset with nightly = true"
        planned = {"datasets": datasets, "trigger": trigger_for(run.run_type), "mode": params["mode"], "reason": reason}
        print(f"nightly_relabel plan: {planned}")
        return planned

    planned = plan()
    for name in DATASETS:
        relabel_group(name, planned)


nightly_relabel()
