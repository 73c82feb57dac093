"""Shared by the end-to-end DAG tests: a lakehouse + Airflow home per test, and table readers."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from deltalake import DeltaTable

from jobs.core.settings import PROJECT_ROOT, Settings
from jobs.lake.tables import runs_table, table
from tests.conftest import DATA_ROOT, YOUTUBE, write_config

PACK_V1 = "tests.packs.incremental_packs:pack_v1"
PACK_V2 = "tests.packs.incremental_packs:pack_v2"


def dag_env(
    root: Path, pack: str, nightly: bool = True, lake: str | None = None, **expectations: object
) -> tuple[Settings, dict[str, str]]:
    """Settings and the Airflow environment for a DAG run over ``root`` (tables on ``lake``, an
    ``s3a://`` URI, when given)."""
    from jobs.cli.airflow_env import airflow_env

    config = write_config(
        root / f"datasets-{pack.split(':')[-1]}-{len(expectations)}.toml",
        {
            "youtube_spam": {
                **YOUTUBE,
                "lf_pack": pack,
                "nightly": nightly,
                "expectations": {**YOUTUBE["expectations"], **expectations},
            }
        },
    )
    settings = dataclasses.replace(
        Settings.from_env(), home=root / "lakehouse", data_root=DATA_ROOT, config_path=config, lake=lake
    )
    os.environ["LABELLAKE_AIRFLOW_HOME"] = str(root / "airflow")
    try:
        env = airflow_env(settings)
    finally:
        del os.environ["LABELLAKE_AIRFLOW_HOME"]
    # The test packs live in tests/: make them importable by spark-submit's driver and workers.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    return settings, env


def labels_table(settings: Settings):
    return DeltaTable(str(table(settings, "youtube_spam", "labels").path))


def run_row(settings: Settings, run_id: str) -> dict:
    runs = DeltaTable(str(runs_table(settings).path)).to_pandas()
    return runs.set_index("run_id").loc[run_id].to_dict()
