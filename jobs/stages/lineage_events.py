"""OpenLineage run events for every stage: START, then COMPLETE or FAIL, with its Delta tables.

A platform's lineage service (Marquez, DataHub, a cloud catalog) draws source -> votes ->
labels from these events, beside what Airflow's OpenLineage provider reports for the tasks.
Each stage is a job ``<dataset>.<stage>`` in namespace ``$OPENLINEAGE_NAMESPACE`` (default
``labellake``) whose run is a child of the labellake run (job ``<dataset>``); its input and
output datasets are Delta tables named by location, each with the table version the stage
read or wrote. What only labellake knows rides in a run facet ``labellake``: the LF set and
per-LF versions, the label model and how it was chosen, expectation results, row counts.

Configured only by OpenLineage's own settings (``OPENLINEAGE_URL``, ``OPENLINEAGE_CONFIG`` or
``OPENLINEAGE__TRANSPORT__*``); with none set nothing is built or sent. A transport that fails
is logged, never fails a stage.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import attr

from jobs.core.datasets import DatasetConfig
from jobs.core.lineage import RunContext
from jobs.core.settings import Settings
from jobs.lake.tables import TableRef, runs_table, table

log = logging.getLogger(__name__)

PRODUCER = "https://github.com/labellake/labellake"
STAGE_TABLES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "ingest": ((), ("source", "gold", "quarantine")),
    "apply_lfs": (("source",), ("votes", "lf_registry")),
    "fit_label_model": (("votes", "gold"), ("pattern_counts", "lf_analysis", "label_models", "staging_labels")),
    "validate": (("staging_labels",), ()),
    "publish": (("staging_labels",), ("labels",)),
}
"""Each stage's input and output tables (ingest reads files, named by the dataset's source paths)."""


def configured() -> bool:
    """True when OpenLineage's own settings name a transport (and do not disable it)."""
    if os.environ.get("OPENLINEAGE_DISABLED", "").lower() == "true":
        return False
    return any(
        k in ("OPENLINEAGE_URL", "OPENLINEAGE_CONFIG") or k.startswith("OPENLINEAGE__TRANSPORT") for k in os.environ
    )


@contextmanager
def stage_events(settings: Settings, ds: DatasetConfig, run: RunContext, stage: str) -> Iterator[None]:
    """Emit START now, then COMPLETE when the block ends, or FAIL with the error it raised."""
    if not configured():
        yield
        return
    _emit(settings, ds, run, stage, "START")
    try:
        yield
    except BaseException as exc:
        _emit(settings, ds, run, stage, "FAIL", error=f"{type(exc).__name__}: {exc}")
        raise
    _emit(settings, ds, run, stage, "COMPLETE")


@lru_cache(maxsize=1)
def _client() -> Any:
    from openlineage.client import OpenLineageClient

    return OpenLineageClient()


def _emit(settings: Settings, ds: DatasetConfig, run: RunContext, stage: str, state: str, error: str = "") -> None:
    try:
        _client().emit(stage_event(settings, ds, run, stage, state, error))
    except Exception as exc:  # noqa: BLE001 - lineage is reported, never a reason to fail a stage
        log.warning("OpenLineage %s event for %s %s not sent: %s", state, run.dataset, stage, exc)


def run_uuid(*parts: str) -> str:
    """A stable UUID for a labellake run (and stage): a retry reports on the same OpenLineage run."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "labellake:" + ":".join(parts)))


def stage_event(settings: Settings, ds: DatasetConfig, run: RunContext, stage: str, state: str, error: str = "") -> Any:
    """The OpenLineage ``RunEvent`` of ``stage`` in ``state`` (START, COMPLETE or FAIL)."""
    from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
    from openlineage.client.facet_v2 import error_message_run, parent_run

    namespace = os.environ.get("OPENLINEAGE_NAMESPACE", "labellake")
    facets: dict[str, Any] = {
        "parent": parent_run.ParentRunFacet(
            run=parent_run.Run(runId=run_uuid(run.run_id, ds.name)),
            job=parent_run.Job(namespace=namespace, name=ds.name),
        )
    }
    if state != "START":
        facets["labellake"] = _facet_class()(**_run_facts(settings, ds, run))
    if error:
        facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(message=error, programmingLanguage="python")
    inputs, outputs = STAGE_TABLES[stage]
    if stage == "ingest":  # the source files, by the paths the dataset names
        read = [InputDataset(namespace=_namespace(p), name=p) for p in ds.source_globs(settings)]
    else:
        read = [d for d in (_dataset(InputDataset, table(settings, ds.name, r)) for r in inputs) if d is not None]
    written = [_dataset(OutputDataset, table(settings, ds.name, r)) for r in outputs] if state == "COMPLETE" else []
    return RunEvent(
        eventType=getattr(RunState, state),
        eventTime=datetime.now(UTC).isoformat(),
        run=Run(runId=run_uuid(run.run_id, ds.name, stage), facets=facets),
        job=Job(namespace=namespace, name=f"{ds.name}.{stage}"),
        inputs=read,
        outputs=[d for d in written if d is not None],
        producer=PRODUCER,
    )


def _namespace(location: str) -> str:
    """OpenLineage's dataset namespace for a location: ``s3://bucket`` or ``file``."""
    if "://" in location and not location.startswith("file:"):
        scheme, rest = location.split("://", 1)
        return f"{'s3' if scheme == 's3a' else scheme}://{rest.split('/', 1)[0]}"
    return "file"


def _dataset(kind: Any, ref: TableRef) -> Any:
    from deltalake import DeltaTable
    from openlineage.client.facet_v2 import dataset_version_dataset

    if not ref.exists():
        return None
    location = ref.uri
    name = location.split("://", 1)[1].split("/", 1)[1] if "://" in location else location
    version = dataset_version_dataset.DatasetVersionDatasetFacet(datasetVersion=str(DeltaTable(location).version()))
    return kind(namespace=_namespace(location), name="/" + name.lstrip("/"), facets={"version": version})


def _run_facts(settings: Settings, ds: DatasetConfig, run: RunContext) -> dict[str, Any]:
    """What the lakehouse holds about the run so far (the stage has just recorded its part)."""
    from jobs.lake.runs import run_record
    from jobs.lake.tables import latest_commit

    record = (run_record(None, settings, run.run_id, run.dataset) if runs_table(settings).exists() else None) or {}
    votes = table(settings, ds.name, "votes")
    lf_versions = latest_commit(None, votes)[1].get("lf_versions") if votes.exists() else None
    checks = [
        {k: o.get(k) for k in ("check", "success", "severity", "observed", "threshold")}
        for key in ("source_validation", "votes_validation", "validation")
        for o in json.loads(record.get(key) or "[]")
    ]
    return {
        "runId": run.run_id,
        "trigger": run.trigger,
        "lfSetVersion": record.get("lf_set_version"),
        "lfVersions": lf_versions,
        "labelModel": record.get("label_model"),
        "labelModelChoice": _model_choice(settings, ds, run),
        "expectations": checks,
        "rows": {k: record.get(k) for k in ("input_rows", "accepted_rows", "quarantined_rows", "published_rows")},
        "labelsVersion": record.get("labels_version"),
    }


def _model_choice(settings: Settings, ds: DatasetConfig, run: RunContext) -> Any:
    """How the run's label model was chosen (its ``label_models`` row's selection), or None."""
    from deltalake import DeltaTable

    models = table(settings, ds.name, "label_models")
    if not models.exists():
        return None
    rows = DeltaTable(models.uri).to_pyarrow_table(filters=[("_run_id", "=", run.run_id)]).to_pylist()
    return json.loads(rows[0]["selection"]) if rows and rows[0].get("selection") else None


def _facet_class() -> Any:
    """labellake's run facet, an OpenLineage ``RunFacet`` (built on first use: the client is imported
    only when lineage is configured)."""
    from openlineage.client.facet_v2 import RunFacet

    @attr.define
    class LabellakeRunFacet(RunFacet):  # type: ignore[misc]
        runId: str = ""
        trigger: str = ""
        lfSetVersion: str | None = None
        lfVersions: Any = None
        labelModel: str | None = None
        labelModelChoice: Any = None
        expectations: Any = None
        rows: Any = None
        labelsVersion: Any = None

        @staticmethod
        def _get_schema() -> str:
            return f"{PRODUCER}/blob/main/docs/openlineage/labellake-run-facet.json"

    return LabellakeRunFacet
