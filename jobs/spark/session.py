"""The one place a SparkSession is made.

Every job, the CLI and the tests call :func:`get_spark`. It returns the active
session when there is one (under ``spark-submit`` the JVM and its classpath
already exist, set up by the DAG from the same :mod:`jobs.spark.conf`), and
otherwise builds a Delta-enabled session from the cached jars, so no session
ever needs the network.
"""

from __future__ import annotations

import logging
import os
import sys
import time

from pyspark.sql import SparkSession

from jobs.core.settings import Settings, env_setting
from jobs.spark.conf import session_jars, spark_conf

log = logging.getLogger(__name__)


def get_spark(
    app_name: str = "labellake", settings: Settings | None = None, extra_conf: dict[str, str] | None = None
) -> SparkSession:
    """Return the active SparkSession, or build a Delta-enabled one.

    ``PYSPARK_PYTHON`` is pinned to the running interpreter because Spark's
    Python workers otherwise start the system ``python3``, which lacks the
    project's packages (pandas, pyarrow) and fails only when a Python LF runs.
    """
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    settings = settings or Settings.from_env()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    if under_spark_submit():
        # spark-submit (the DAG's tasks) already set the master from the spark_default
        # connection, and the jars and driver memory: only one setting picks the cluster.
        builder = SparkSession.builder.appName(app_name)
    else:
        builder = (
            SparkSession.builder.master(settings.spark_master)
            .appName(app_name)
            .config("spark.jars", ",".join(session_jars(settings)))
            .config("spark.driver.memory", env_setting("LABELLAKE_DRIVER_MEMORY"))
        )
        if settings.spark_master.startswith("local") and os.environ["PYSPARK_PYTHON"] == sys.executable:
            # The workers are this interpreter's forks: let its daemon import their modules first.
            builder = builder.config("spark.python.daemon.module", "jobs.spark.preloaded_daemon")
    for key, value in {**spark_conf(settings), **(extra_conf or {})}.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(env_setting("LABELLAKE_SPARK_LOG_LEVEL"))
    _quiet_query_context_loggers()
    log.info("Spark %s session on %s", spark.version, spark.sparkContext.master)
    return spark


def _quiet_query_context_loggers() -> None:
    """PySpark logs every analysis error it raises, as a JSON record with the JVM stack; the error
    itself reaches the caller, which reports it in one line."""
    import logging

    from pyspark.logger import PySparkLogger

    for name in ("SQLQueryContextLogger", "DataFrameQueryContextLogger"):
        PySparkLogger.getLogger(name).setLevel(logging.CRITICAL)


def under_spark_submit() -> bool:
    """True in a Python application launched by ``spark-submit`` (it hands over its JVM gateway)."""
    return "PYSPARK_GATEWAY_PORT" in os.environ


def spark_is_gone(spark: SparkSession, exc: BaseException, wait_s: float = 3.0) -> bool:
    """True when ``exc`` comes from talking to a driver JVM that is no longer there.

    py4j says so with a network error (refused, reset, empty answer), or, when the JVM dies in
    the middle of a call, with a bare ``Py4JError``. When this process started the JVM, its exit
    is checked too (waiting up to ``wait_s`` for a killed JVM to be reaped), so an unrelated
    connection error is never mistaken for a dead driver; a Java exception proves it alive.
    """
    from py4j.protocol import Py4JError, Py4JJavaError, Py4JNetworkError

    chain: list[BaseException] = []
    seen: BaseException | None = exc
    while seen is not None and len(chain) < 20:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    network = any(isinstance(e, Py4JNetworkError | ConnectionError | EOFError) for e in chain)
    bare_py4j = any(isinstance(e, Py4JError) and not isinstance(e, Py4JJavaError) for e in chain)
    if not (network or bare_py4j):
        return False
    gateway = getattr(spark.sparkContext, "_gateway", None)
    jvm_process = getattr(gateway, "proc", None)  # None under spark-submit, whose JVM started us
    if jvm_process is None:
        return network or not _answers(spark)
    deadline = time.monotonic() + wait_s
    while jvm_process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    return jvm_process.poll() is not None


def _answers(spark: SparkSession) -> bool:
    """Whether the driver JVM still answers a trivial call."""
    try:
        spark.sparkContext._jsc.sc().isStopped()
        return True
    except Exception:  # noqa: BLE001 - any failure to answer means no
        return False
