"""A backfill of nightly_relabel, executed by a real scheduler (not ``dags test``).

Airflow 3 runs tasks through its Execution API, so this starts the three
processes a deployment runs (api-server, dag-processor, scheduler; LocalExecutor
on SQLite), unpauses the DAG and creates a one-day backfill through the public
REST API (as ``airflow backfill create`` does, without a CLI process per call)
and waits for the run to finish. The
standalone-cluster test in ``test_nightly_relabel.py`` runs it with
``spark_default`` on the cluster: one DAG run checks both.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from jobs.core.settings import Settings
from jobs.spark.conf import EXTRA_CONF_ENV
from tests.conftest import TEST_SESSION_CONF
from tests.dags.helpers import PACK_V1, dag_env
from tests.ports import free_port


def _rest(base: str, method: str, path: str, body: dict | None = None, token: str | None = None) -> dict:
    """One call to the api-server's public REST API, retried while SQLite is locked.

    On SQLite the scheduler, dag-processor and api-server all write to one file; a write
    that lands during another fails (a 5xx, nothing committed), so trying again is safe."""
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    data = None if body is None else json.dumps(body).encode()
    for attempt in range(6):
        request = urllib.request.Request(base + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")
            if exc.code < 500 or attempt == 5:
                raise AssertionError(f"{method} {path}: HTTP {exc.code} {detail[-2000:]}") from exc
        except urllib.error.URLError:  # not listening yet
            if attempt == 5:
                raise
        time.sleep(2 + 2 * attempt)
    raise AssertionError("unreachable")


def _query(db: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(db) as con:
        return con.execute(sql).fetchall()


def backfill_nightly(root: Path, spark_master: str | None = None, lake: str | None = None) -> tuple[Settings, str]:
    """Backfill one day of nightly_relabel under a real scheduler in ``root``; (settings, run id).

    ``spark_master`` (``spark://host:port``) points ``spark_default`` at a standalone
    cluster, as docker-compose does; by default the tasks run Spark in local mode. ``lake`` puts
    the tables on an object store (the AWS variables of this process reach every task)."""
    from jobs.cli.airflow_env import ensure_airflow_db

    airflow = str(Path(sys.executable).parent / "airflow")
    # nightly = false: the scheduled run that unpausing starts selects no dataset, so only
    # the backfill relabels youtube_spam (a backfill needs a periodic schedule).
    settings, env = dag_env(root, PACK_V1, nightly=False, lake=lake)
    if spark_master:
        host, port_text = spark_master.rsplit(":", 1)
        env["AIRFLOW_CONN_SPARK_DEFAULT"] = json.dumps(
            {"conn_type": "spark", "host": host, "port": int(port_text), "extra": {"deploy-mode": "client"}}
        )
        env["SPARK_LOCAL_IP"] = "127.0.0.1"
        # Spark's default generated code on the cluster: the test compares these labels with the
        # in-process session's interpreted run (docs/decisions/0002).
        env[EXTRA_CONF_ENV] = env.get(EXTRA_CONF_ENV, "").replace(TEST_SESSION_CONF, "").strip()
    port = free_port()
    env.update(
        {
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
            "AIRFLOW__API_AUTH__JWT_SECRET": "labellake-test-secret-" + "x" * 48,
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",  # a token without a login
        }
    )
    ensure_airflow_db(env)
    db = Path(env["AIRFLOW_HOME"]) / "airflow.db"
    logs = root / "logs"
    logs.mkdir()
    procs = [
        subprocess.Popen(
            [airflow, *cmd],
            env=env,
            stdout=(logs / f"{cmd[0]}.log").open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        for cmd in (["api-server", "--port", str(port)], ["dag-processor"], ["scheduler"])
    ]
    try:
        deadline = time.monotonic() + 180
        while not _query(db, "SELECT dag_id FROM dag WHERE dag_id = 'nightly_relabel'"):
            assert time.monotonic() < deadline, (logs / "dag-processor.log").read_text()[-3000:]
            time.sleep(2)
        # The REST API a deployment's users (and docker-compose's) call: no CLI process per request.
        api = f"http://127.0.0.1:{port}"
        token = _rest(api, "GET", "/auth/token")["access_token"]
        _rest(api, "PATCH", "/api/v2/dags/nightly_relabel", {"is_paused": False}, token)
        day = "2026-11-01T00:00:00Z"
        backfill = {"dag_id": "nightly_relabel", "from_date": day, "to_date": day}
        _rest(api, "POST", "/api/v2/backfills", {**backfill, "dag_run_conf": {"dataset": "youtube_spam"}}, token)
        deadline = time.monotonic() + 1800  # five spark-submits; CI's two workers share 2 cores
        while True:
            runs = _query(db, "SELECT run_id, state FROM dag_run WHERE run_type = 'backfill'")
            if runs and runs[0][1] in ("success", "failed"):
                break
            assert time.monotonic() < deadline, (logs / "scheduler.log").read_text()[-3000:]
            time.sleep(5)
    finally:
        for proc in procs:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=30)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(proc.pid, signal.SIGKILL)
    run_id, state = runs[0]
    states = dict(_query(db, f"SELECT task_id, state FROM task_instance WHERE run_id = '{run_id}'"))
    assert state == "success", states
    assert run_id == "backfill__2026-11-01T00:00:00+00:00"
    assert states["youtube_spam.publish"] == "success"

    return settings, run_id
