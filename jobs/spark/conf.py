"""The Spark configuration every labellake session uses, without importing Spark.

Kept free of ``pyspark`` imports so the Airflow DAG can hand the same jars and
settings to ``spark-submit`` (through the Spark provider) that
:func:`jobs.spark.session.get_spark` uses in-process: one definition of "a
Delta-enabled labellake session" for the CLI, the tests and the DAG.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from jobs.core.errors import SetupError
from jobs.core.settings import PROJECT_ROOT, Settings, env_setting
from jobs.spark.jvm_archive import archive_options

DELTA_EXTENSION = "io.delta.sql.DeltaSparkSessionExtension"
DELTA_CATALOG = "org.apache.spark.sql.delta.catalog.DeltaCatalog"
JAR_MANIFEST = "manifest.json"
CLUSTER_MANIFEST = "cluster-manifest.json"
LOG4J_CONFIG = PROJECT_ROOT / "config" / "log4j2.properties"
EVENT_LOG_ENV = "LABELLAKE_EVENT_LOG_DIR"
RUN_PROPERTY = "labellake.run"
STAGE_PROPERTY = "labellake.stage"
"""Spark local properties naming each job's labellake run and stage (see jobs.pipeline)."""


def delta_jars(settings: Settings) -> list[str]:
    """Absolute paths of the cached Delta jars, in a stable order.

    Raises :class:`SetupError` when set-up has not resolved them yet, because a
    session without them fails much later with an obscure ``ClassNotFound``.
    """
    manifest = settings.jar_cache / JAR_MANIFEST
    if not manifest.exists():
        raise SetupError(
            f"Delta jars not found in {settings.jar_cache}; run `make setup` "
            "(or `python -m jobs.spark.jars`) once while Maven Central is reachable"
        )
    names: list[str] = json.loads(manifest.read_text())["jars"]
    paths = [settings.jar_cache / name for name in names]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise SetupError(f"Delta jar cache {settings.jar_cache} is incomplete, missing: {missing}")
    return [str(p) for p in paths]


def session_jars(settings: Settings, build: bool = True) -> list[str]:
    """Every jar a labellake session loads: the Delta jars and, when a JDK could
    build it, the text LF kernel (:mod:`lf_library.text_kernel`). Handed to
    ``spark.jars`` in-process and to ``--jars`` under ``spark-submit``, so the
    kernel reaches a cluster's executors the same way the Delta jars do.
    ``build=False`` (Airflow parsing a DAG file) lists the kernel only if it is
    built already: parsing must never run ``javac``."""
    from lf_library.kernel_build import build_kernel_jar, kernel_jar_name

    if build:
        kernel = build_kernel_jar(settings.jar_cache)
    else:
        built = settings.jar_cache / kernel_jar_name()
        kernel = built if built.is_file() else None
    return delta_jars(settings) + cluster_jars(settings) + ([str(kernel)] if kernel else [])


def cluster_jars(settings: Settings) -> list[str]:
    """The s3a jars set-up cached, so any ``s3a://`` path opens (a lakehouse or source files on a
    store; 18 MB that do not slow a session's start). A SetupError when the lakehouse is on a store
    and set-up has not cached them."""
    manifest = settings.jar_cache / CLUSTER_MANIFEST
    if not manifest.exists() and not settings.lake:
        return []
    if not manifest.exists():
        raise SetupError(
            f"LABELLAKE_HOME is an object store but the s3a jars are not in {settings.jar_cache}; "
            "run `make setup` (or `python -m jobs.spark.jars cluster`) once while Maven Central is reachable"
        )
    return [str(settings.jar_cache / name) for name in json.loads(manifest.read_text())["jars"]]


JAVA_OPTIONS_ENV = "LABELLAKE_DRIVER_JAVA_OPTIONS"
"""JVM flags added to the driver's (e.g. ``-XX:TieredStopAtLevel=1`` for short runs on tiny data)."""
EXECUTOR_JAVA_OPTIONS_ENV = "LABELLAKE_EXECUTOR_JAVA_OPTIONS"
"""JVM flags for a cluster's executors (``spark.executor.extraJavaOptions``); unset: Spark's defaults."""
EXTRA_CONF_ENV = "LABELLAKE_SPARK_CONF"
"""Extra Spark properties, ``key=value`` pairs separated by whitespace (cluster tuning, tests)."""


def extra_conf() -> dict[str, str]:
    """The properties of ``$LABELLAKE_SPARK_CONF``; a pair without ``=`` is a SetupError naming it."""
    pairs = env_setting(EXTRA_CONF_ENV).split()
    bad = [p for p in pairs if "=" not in p or not p.split("=", 1)[0]]
    if bad:
        raise SetupError(f"{EXTRA_CONF_ENV}: expected key=value pairs separated by spaces, got {bad}")
    return dict(p.split("=", 1) for p in pairs)


def executor_java_options(settings: Settings) -> dict[str, str]:
    """``spark.executor.extraJavaOptions``: set-up's class archive, then ``$LABELLAKE_EXECUTOR_JAVA_OPTIONS``.

    A standalone executor starts with the driver's Spark classpath, so it maps the same archive;
    on a worker that lacks the file (or another JDK) the JVM starts without it, silently."""
    flags = " ".join([archive_options(settings), env_setting(EXECUTOR_JAVA_OPTIONS_ENV)]).strip()
    return {"spark.executor.extraJavaOptions": flags} if flags else {}


def _interactive() -> bool:
    return sys.stderr.isatty() and "AIRFLOW_CTX_DAG_ID" not in os.environ


def spark_conf(settings: Settings) -> dict[str, str]:
    """Spark properties for a Delta-enabled session (jars excluded, see :func:`delta_jars`).

    Shuffle partitions default to a small number because the default (200)
    makes every tiny aggregate on a 2-core machine pay for 200 tasks; override
    with ``LABELLAKE_SHUFFLE_PARTITIONS`` on a cluster.
    """
    warehouse = Path(settings.home) / "_warehouse"
    event_log = env_setting(EVENT_LOG_ENV)  # for the history server and `bench e2e`
    logging_events = (
        {
            "spark.eventLog.enabled": "true",
            "spark.eventLog.dir": Path(event_log).resolve().as_uri(),
            "spark.eventLog.compress": "false",
            "spark.eventLog.rolling.enabled": "false",
        }
        if event_log
        else {}
    )
    return {
        **logging_events,
        "spark.sql.extensions": DELTA_EXTENSION,
        "spark.sql.catalog.spark_catalog": DELTA_CATALOG,
        "spark.sql.shuffle.partitions": env_setting("LABELLAKE_SHUFFLE_PARTITIONS"),
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.warehouse.dir": str(warehouse),
        "spark.ui.enabled": env_setting("LABELLAKE_SPARK_UI"),
        # Spark's per-job progress bar on a terminal (`labellake run`); never in task logs, where
        # its carriage returns garble the lines (Airflow and CI capture stderr, so it is no TTY).
        "spark.ui.showConsoleProgress": env_setting("LABELLAKE_PROGRESS") or ("true" if _interactive() else "false"),
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        # HotSpot never JIT-compiles a method over 8,000 bytes of bytecode; Spark's default limit
        # (65,535) lets whole-stage codegen emit such methods, which then run interpreted
        # (docs/decisions/0005). Spark's docs suggest 8000 on HotSpot: stages that big
        # fall back to per-operator codegen, which is compiled.
        "spark.sql.codegen.hugeMethodLimit": "8000",
        "spark.databricks.delta.snapshotPartitions": "2",
        # Keep tables readable by delta-rs (deltalake): no deletion vectors.
        "spark.databricks.delta.properties.defaults.enableDeletionVectors": "false",
        "spark.driver.extraJavaOptions": " ".join(
            [
                f"-Dderby.system.home={warehouse} -Dlog4j2.configurationFile={LOG4J_CONFIG}",
                archive_options(settings),  # classes mapped from set-up's archive (docs/decisions/0001)
                env_setting(JAVA_OPTIONS_ENV),
            ]
        ).strip(),
        **executor_java_options(settings),
        **object_store_conf(settings),
        **extra_conf(),
    }


def object_store_conf(settings: Settings) -> dict[str, str]:
    """s3a settings (with the s3a jars: the lakehouse or sources on a store), from the standard AWS variables
    (the ones delta-rs reads): the endpoint, its region, HTTP or HTTPS, and path-style addressing
    unless ``AWS_VIRTUAL_HOSTED_STYLE_REQUEST=true``. Credentials stay with the AWS default chain
    (environment, profile, instance role): no secret is written into the Spark configuration."""
    if not cluster_jars(settings):
        return {}
    endpoint = os.environ.get("AWS_ENDPOINT_URL", "")
    virtual_hosted = os.environ.get("AWS_VIRTUAL_HOSTED_STYLE_REQUEST", "").lower() == "true"
    conf = {
        "spark.hadoop.fs.s3a.path.style.access": str(not virtual_hosted).lower(),
        # Delta's S3 log store: one Spark writer per table at a time, which the dataset lease guarantees.
        "spark.delta.logStore.s3a.impl": "io.delta.storage.S3SingleDriverLogStore",
    }
    if endpoint:
        conf["spark.hadoop.fs.s3a.endpoint"] = endpoint
        conf["spark.hadoop.fs.s3a.connection.ssl.enabled"] = str(endpoint.startswith("https://")).lower()
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if region:
        conf["spark.hadoop.fs.s3a.endpoint.region"] = region
    return conf
