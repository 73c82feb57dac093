"""LF-change reruns, Airflow-native: an Asset per dataset's LF library.

- ``lf_library_watch`` (schedule ``[airflow] lf_watch_schedule``; CI can also
  trigger it right after merging an LF change) has one task per dataset that
  compares the LF library as deployed with the LF set version of the dataset's
  published labels (``jobs/reports/lf_library_status.py``: the Delta log only, no
  Spark). On a difference it publishes an event on the Asset
  ``labellake://lf-library/<dataset>`` carrying the new LF set version and the
  changed LFs; otherwise the task is skipped and no event is sent.
- ``lf_change_relabel`` is scheduled on those Assets: each event relabels its
  dataset with trigger ``lf-change``, incrementally (the changed LFs over all
  rows, nothing else). Triggered by hand, ``{"dataset": ..., "mode": ...}``
  picks the dataset; without one it relabels every dataset whose library changed.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Asset, AssetAny, Metadata, dag, get_current_context, task

from dags.relabel_chain import CONFIG, DATASETS, DEFAULT_ARGS, relabel_dag_args, relabel_group


def lf_library_asset(dataset: str) -> Asset:
    """The Asset standing for ``dataset``'s deployed LF library."""
    return Asset(uri=f"labellake://lf-library/{dataset}", name=f"{dataset}_lf_library", group="labellake")


ASSETS = {name: lf_library_asset(name) for name in DATASETS}


@dag(
    dag_id="lf_library_watch",
    schedule=CONFIG.lf_watch_schedule,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["labellake"],
    doc_md=__doc__,
)
def lf_library_watch() -> None:
    for name, asset in ASSETS.items():

        @task(task_id=f"check_{name}", outlets=[asset])
        def check(dataset: str = name, library: Asset = asset):
            """Publish an Asset event when the LF library differs from the published labels' LF set."""
            from airflow.sdk.exceptions import AirflowSkipException

            from jobs.core.settings import Settings
            from jobs.reports.lf_library_status import lf_library_status

            status = lf_library_status(Settings.from_env(), dataset)
            print(
                f"{dataset}: LF set {status.lf_set_version}, published {status.published_lf_set_version} "
                f"(labels v{status.labels_version}); changes: {status.lf_changes or 'none'}"
            )
            if not status.changed:
                raise AirflowSkipException(f"{dataset}: LF library unchanged or nothing published yet")
            yield Metadata(library, status.record())

        check()


@dag(
    dag_id="lf_change_relabel",
    doc_md=__doc__,
    schedule=AssetAny(*ASSETS.values()),
    **relabel_dag_args(
        dataset_help="dataset to relabel; empty: every dataset whose LF library changed",
        mode_help="incremental: recompute the changed LFs only; full: rebuild everything",
    ),
)
def lf_change_relabel() -> None:
    @task
    def plan() -> dict[str, object]:
        """The datasets whose LF library changed: from the Asset events, the param, or a fresh check."""
        from jobs.core.settings import Settings
        from jobs.reports.lf_library_status import lf_library_status

        context = get_current_context()
        params = context["params"]
        events = context.get("triggering_asset_events") or {}
        from_events = sorted(
            {
                event.extra.get("dataset")
                for evs in events.values()
                for event in evs
                if event.extra.get("dataset") in DATASETS
            }
        )
        if params.get("dataset"):
            datasets, reason = [params["dataset"]], "dataset param"
        elif from_events:
            datasets, reason = from_events, "LF library asset events"
        else:
            settings = Settings.from_env()
            datasets = [name for name in DATASETS if lf_library_status(settings, name).changed]
            reason = "LF library differs from the published labels"
        planned = {"datasets": datasets, "trigger": "lf-change", "mode": params["mode"], "reason": reason}
        print(f"lf_change_relabel plan: {planned}")
        return planned

    planned = plan()
    for name in DATASETS:
        relabel_group(name, planned)


lf_library_watch()
lf_change_relabel()
