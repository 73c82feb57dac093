"""docker-compose.yml is checked by parsing it: no Docker engine runs here."""

from __future__ import annotations

import json
import re
import tomllib

import yaml

from jobs.core.settings import PROJECT_ROOT

COMPOSE = yaml.safe_load((PROJECT_ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]


def test_cluster_services_present() -> None:
    assert {
        "postgres",
        "airflow-init",
        "airflow-apiserver",
        "airflow-scheduler",
        "airflow-dag-processor",
        "airflow-triggerer",
        "spark-master",
        "spark-worker-1",
        "spark-worker-2",
    } <= set(SERVICES)
    assert "org.apache.spark.deploy.master.Master" in SERVICES["spark-master"]["command"]
    for worker in ("spark-worker-1", "spark-worker-2"):
        assert "spark://spark-master:7077" in SERVICES[worker]["command"]
        assert "spark-master" in SERVICES[worker]["depends_on"]


def test_airflow_points_at_postgres_and_the_spark_master() -> None:
    env = SERVICES["airflow-scheduler"]["environment"]
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://")
    assert "@postgres:5432/" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    conn = json.loads(env["AIRFLOW_CONN_SPARK_DEFAULT"])
    assert conn["conn_type"] == "spark" and conn["host"] == "spark://spark-master" and conn["port"] == 7077
    assert env["LABELLAKE_SPARK_MASTER"] == "spark://spark-master:7077"
    assert env["AIRFLOW__CORE__DAGS_FOLDER"].endswith("/dags")
    for name in ("airflow-scheduler", "airflow-apiserver", "airflow-dag-processor"):
        assert SERVICES[name]["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully"


def test_the_lakehouse_is_in_the_object_store_every_driver_and_executor_reaches() -> None:
    """Issue 33: the tables live in the object-store service (an S3 API), not on a shared volume."""
    store = SERVICES["object-store"]
    assert store["command"][0] == "versitygw" and "posix" in store["command"]
    assert store["environment"]["ROOT_ACCESS_KEY"] == "${S3_ACCESS_KEY:-labellake}"
    assert "ports" not in store  # reached inside the compose network only
    for name in ("airflow-scheduler", "airflow-dag-processor", "spark-worker-1", "spark-worker-2"):
        env = SERVICES[name]["environment"]
        assert env["LABELLAKE_HOME"] == "s3://labellake/lakehouse", name
        assert env["AWS_ENDPOINT_URL"] == "http://object-store:7070" and env["AWS_ALLOW_HTTP"] == "true", name
        assert env["AWS_ACCESS_KEY_ID"] == "${S3_ACCESS_KEY:-labellake}", name
        assert env["AWS_SECRET_ACCESS_KEY"].startswith("${S3_SECRET_KEY:-"), name
        assert SERVICES[name]["depends_on"]["object-store"]["condition"] == "service_healthy", name
    assert "objects" in COMPOSE["volumes"] and "lakehouse" not in COMPOSE["volumes"]
    # The tables are registered in a Hive metastore in Postgres (its database made by an init script).
    env = SERVICES["airflow-scheduler"]["environment"]
    assert env["LABELLAKE_METASTORE_URL"] == "jdbc:postgresql://postgres:5432/metastore"
    assert env["LABELLAKE_METASTORE_PASSWORD"] == "${POSTGRES_PASSWORD:-airflow}"
    init = next(v for v in SERVICES["postgres"]["volumes"] if "docker-entrypoint-initdb.d" in v)
    assert "CREATE DATABASE metastore" in (PROJECT_ROOT / init.split(":")[0]).read_text()
    dockerfile = (PROJECT_ROOT / "docker" / "Dockerfile").read_text()
    assert "github.com/versity/versitygw/cmd/versitygw@v1.8.0" in dockerfile
    assert "github.com/versity/versitygw/cmd/versitygw@v1.8.0" in (PROJECT_ROOT / "Makefile").read_text()


def test_image_installs_the_same_pinned_stack() -> None:
    dockerfile = (PROJECT_ROOT / SERVICES["spark-master"]["build"]["dockerfile"]).read_text()
    assert re.search(r"FROM python:3\.11", dockerfile)
    assert "openjdk-17" in dockerfile
    assert "pip install --no-cache-dir -c constraints.txt -e ." in dockerfile  # pins: pyproject + lock
    assert "python -m jobs.spark.jars" in dockerfile  # Delta jars baked into the image
    deps = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert "pyspark==4.1.3" in deps and "pyspark-client==4.1.3" in deps
    assert "apache-airflow==3.3.2" in deps and "delta-spark==4.4.1" in deps


def test_credentials_only_from_env_with_defaults() -> None:
    """No literal password in the file: every credential is ``${VAR:-default}`` so a .env overrides it."""
    text = (PROJECT_ROOT / "docker-compose.yml").read_text()
    env = SERVICES["airflow-scheduler"]["environment"]
    assert "${POSTGRES_PASSWORD:-" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert SERVICES["postgres"]["environment"]["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD:-")
    assert SERVICES["airflow-apiserver"]["environment"]["AIRFLOW_ADMIN_PASSWORD"].startswith(
        "${AIRFLOW_ADMIN_PASSWORD:-"
    )
    assert env["AIRFLOW__API_AUTH__JWT_SECRET"].startswith("${AIRFLOW_JWT_SECRET:-")
    assert not re.search(r"(?i)password\s*[:=]\s*['\"]?[A-Za-z0-9]+['\"]?\s*$", text, re.M)


def test_airflow_services_run_the_pinned_airflow_3_components() -> None:
    commands = {
        name: " ".join(SERVICES[name]["command"])
        for name in (
            "airflow-init",
            "airflow-apiserver",
            "airflow-scheduler",
            "airflow-dag-processor",
            "airflow-triggerer",
        )
    }
    assert commands["airflow-init"] == "airflow db migrate"
    assert commands["airflow-apiserver"].endswith("exec airflow api-server")
    assert commands["airflow-scheduler"] == "airflow scheduler"
    assert commands["airflow-dag-processor"] == "airflow dag-processor"
    assert commands["airflow-triggerer"] == "airflow triggerer"
    # One image everywhere, built from the repo, with Airflow 3.3.2 and Spark 4.1 (pyspark 4.1.3) pinned.
    for service in SERVICES.values():
        if service.get("image", "").startswith("labellake"):
            assert service["build"]["dockerfile"] == "docker/Dockerfile"


def test_spark_driver_is_reachable_from_the_workers() -> None:
    """Tasks run spark-submit in client mode in the scheduler: executors must resolve it by name."""
    assert SERVICES["airflow-scheduler"]["hostname"] == "airflow-scheduler"
    conn = json.loads(SERVICES["airflow-scheduler"]["environment"]["AIRFLOW_CONN_SPARK_DEFAULT"])
    assert conn["extra"]["deploy-mode"] == "client"


def test_every_long_running_service_has_a_healthcheck_and_binds_localhost() -> None:
    """Issue 32: healthchecks everywhere, ports on 127.0.0.1 unless LABELLAKE_BIND says otherwise,
    and the Spark master's 7077 only inside the compose network."""
    for name, service in SERVICES.items():
        if name != "airflow-init":
            assert "healthcheck" in service, name
        for port in service.get("ports", []):
            assert port.startswith("${LABELLAKE_BIND:-127.0.0.1}:"), (name, port)
            assert not port.endswith(":7077"), name
    for name in ("airflow-scheduler", "airflow-dag-processor", "airflow-triggerer"):
        assert "airflow jobs check" in " ".join(SERVICES[name]["healthcheck"]["test"]), name


def test_the_image_runs_unprivileged_with_locked_versions_and_custom_packs() -> None:
    dockerfile = (PROJECT_ROOT / "docker" / "Dockerfile").read_text()
    assert "USER labellake" in dockerfile and "useradd" in dockerfile
    assert "-c constraints.txt" in dockerfile and "-c constraints.txt" in (PROJECT_ROOT / "Makefile").read_text()
    pins = (PROJECT_ROOT / "constraints.txt").read_text()
    assert "pyspark==4.1.3" in pins and "apache-airflow==3.3.2" in pins and " @ " not in pins
    for name in ("airflow-scheduler", "spark-worker-1"):
        mounts = SERVICES[name]["volumes"]
        assert any(m.endswith(":/opt/labellake/packs:ro") for m in mounts), name
        assert SERVICES[name]["environment"]["PYTHONPATH"] == "/opt/labellake/packs"


def test_lineage_is_optional_and_goes_to_marquez() -> None:
    """Issue 33: Marquez behind the ``lineage`` profile; OpenLineage off unless OPENLINEAGE_URL is set."""
    for name in ("marquez", "marquez-web", "marquez-db"):
        assert SERVICES[name]["profiles"] == ["lineage"], name
    env = SERVICES["airflow-scheduler"]["environment"]
    assert env["OPENLINEAGE_URL"] == "${OPENLINEAGE_URL:-}" and env["OPENLINEAGE_NAMESPACE"].startswith("${")
    assert SERVICES["marquez-web"]["environment"]["MARQUEZ_HOST"] == "marquez"
