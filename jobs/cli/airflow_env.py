"""A self-contained Airflow home for running the DAGs on one machine (SQLite).

``labellake demo`` and the end-to-end test run the real ``nightly_relabel``
DAG with ``airflow dags test``: in-process, on a SQLite metadata database in
an Airflow home the project owns. The ``spark_default`` connection comes from
the environment (``AIRFLOW_CONN_SPARK_DEFAULT``) and defaults to local mode;
on a cluster it points at the Spark master instead.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from jobs.core.settings import PROJECT_ROOT, Settings, env_setting, settings_env


def airflow_home() -> Path:
    return Path(env_setting("LABELLAKE_AIRFLOW_HOME")).resolve()


def airflow_env(settings: Settings | None = None) -> dict[str, str]:
    """Environment for the ``airflow`` CLI: project DAGs, SQLite, local Spark connection."""
    settings = settings or Settings.from_env()
    home = airflow_home()
    bin_dir = str(Path(sys.executable).parent)
    env = dict(os.environ)
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": env.get("AIRFLOW__LOGGING__LOGGING_LEVEL", "INFO"),
            **{k: v for k, v in settings_env(settings).items() if k != "LABELLAKE_SPARK_MASTER"},
            "PYSPARK_PYTHON": sys.executable,
            "PYSPARK_DRIVER_PYTHON": sys.executable,
            # spark-submit (pyspark's) and airflow must be found on PATH by the Spark provider.
            "PATH": bin_dir + os.pathsep + env.get("PATH", ""),
        }
    )
    env.setdefault(
        "AIRFLOW_CONN_SPARK_DEFAULT",
        json.dumps({"conn_type": "spark", "host": settings.spark_master}),
    )
    return env


def ensure_airflow_db(env: dict[str, str]) -> None:
    """Create or upgrade the SQLite metadata database (idempotent)."""
    home = Path(env["AIRFLOW_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    marker = home / ".labellake-db-migrated"
    if marker.exists() and (home / "airflow.db").exists():
        return
    subprocess.run([airflow_bin(), "db", "migrate"], env=env, check=True, stdout=subprocess.DEVNULL)
    marker.write_text("ok\n")


def dags_test(dag_id: str, conf: dict[str, object], env: dict[str, str], logical_date: str | None = None) -> int:
    """Run ``airflow dags test`` for ``dag_id`` with ``conf``; returns the exit code."""
    ensure_airflow_db(env)
    cmd = [airflow_bin(), "dags", "test", dag_id, "--conf", json.dumps(conf)]
    if logical_date:
        cmd.append(logical_date)
    return subprocess.run(cmd, env=env).returncode


def airflow_bin() -> str:
    return str(Path(sys.executable).parent / "airflow")
