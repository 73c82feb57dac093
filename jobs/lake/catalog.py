"""The lakehouse in Spark's catalog: ``labellake.<dataset>_<role>`` for every Delta table.

Jobs address tables by path (so a stage never depends on a metastore), but
analysts want names: ``spark.sql("SELECT ... FROM labellake.youtube_spam_labels
VERSION AS OF 3")``. Registering is a metadata operation over the tables'
existing locations (``CREATE TABLE ... USING DELTA LOCATION``); data and
versions stay where they are, so time travel and ``DESCRIBE HISTORY`` work
on the catalog names.

The catalog is Spark's in-memory one (no shared metastore to run or lock), so
register once per session: :func:`labellake_spark` does it for notebooks, and
``labellake spark-sql`` starts Spark's own ``spark-sql`` shell with an init
file (:func:`write_init_sql`) that does it before the first prompt.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from jobs.core.settings import Settings
from jobs.lake.tables import existing_tables

if TYPE_CHECKING:  # the spark-sql launcher must not start a JVM of its own
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

DATABASE = "labellake"


def catalog_statements(settings: Settings) -> list[tuple[str, str]]:
    """``(qualified name, DDL)`` for every existing table, database first (name ``""``).

    One definition for both front doors (a Python session and the ``spark-sql``
    shell), so a table is never visible in one and missing in the other.
    """
    statements = [("", f"CREATE DATABASE IF NOT EXISTS {DATABASE}")]
    for ref in existing_tables(settings):
        location = str(ref.path).replace("\\", "\\\\").replace("'", "\\'")
        statements.append(
            (
                f"{DATABASE}.{ref.name}",
                f"CREATE TABLE IF NOT EXISTS {DATABASE}.`{ref.name}` USING DELTA LOCATION '{location}'",
            )
        )
    return statements


def register_catalog(spark: SparkSession, settings: Settings | None = None) -> list[str]:
    """Register every lakehouse table as ``labellake.<name>``; returns the qualified names."""
    settings = settings or Settings.from_env()
    names = []
    for name, ddl in catalog_statements(settings):
        spark.sql(ddl)
        if name:
            names.append(name)
    log.info("catalog: %d tables registered in database %s", len(names), DATABASE)
    return names


def write_init_sql(settings: Settings) -> Path:
    """Write the catalog DDL as a ``spark-sql -i`` init file under the lakehouse; returns its path.

    Rewritten on every launch because the set of tables grows as datasets run.
    """
    path = settings.home / "_catalog" / "init.sql"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{ddl};\n" for _, ddl in catalog_statements(settings)))
    return path


def spark_sql_command(settings: Settings, shell_args: Sequence[str] = ()) -> list[str]:
    """The ``spark-sql`` command line for the lakehouse: Delta jars and confs, init file, user args.

    ``spark.sql.catalogImplementation=in-memory`` keeps the shell from creating
    a Derby ``metastore_db`` in the caller's directory, which would also lock
    out a second shell; the init file makes the catalog anyway.
    """
    import pyspark

    from jobs.spark.conf import session_jars, spark_conf

    script = Path(pyspark.__file__).parent / "bin" / "spark-sql"
    conf = {**spark_conf(settings), "spark.sql.catalogImplementation": "in-memory"}
    command = [str(script), "--jars", ",".join(session_jars(settings))]
    for key, value in conf.items():
        command += ["--conf", f"{key}={value}"]
    return command + ["-i", str(write_init_sql(settings)), *shell_args]


def exec_spark_sql(settings: Settings, shell_args: Sequence[str]) -> None:
    """Replace this process with the ``spark-sql`` shell (interactive, ``-e SQL`` or ``-f FILE``)."""
    command = spark_sql_command(settings, shell_args)
    env = {**os.environ, "PYSPARK_PYTHON": os.environ.get("PYSPARK_PYTHON", sys.executable)}
    os.execve(command[0], command, env)


def labellake_spark(settings: Settings | None = None) -> SparkSession:
    """A Delta-enabled session with the lakehouse registered (the notebook entry point)."""
    from jobs.spark.session import get_spark

    settings = settings or Settings.from_env()
    spark = get_spark("labellake-analyst", settings)
    register_catalog(spark, settings)
    return spark
