"""The lakehouse in Spark's catalog: ``labellake.<dataset>_<role>`` for every Delta table.

Jobs address tables by path (so a stage never depends on a metastore), but
analysts want names: ``spark.sql("SELECT ... FROM labellake.youtube_spam_labels
VERSION AS OF 3")``. Registering is a metadata operation over the tables'
existing locations (``CREATE TABLE ... USING DELTA LOCATION``); data and
versions stay where they are, so time travel and ``DESCRIBE HISTORY`` work
on the catalog names.

The catalog is Spark's in-memory one (no shared metastore to run or lock), so
register once per session: :func:`labellake_spark` does it for notebooks.
"""

from __future__ import annotations

import logging

from pyspark.sql import SparkSession

from jobs.settings import Settings
from jobs.tables import existing_tables

log = logging.getLogger(__name__)

DATABASE = "labellake"


def register_catalog(spark: SparkSession, settings: Settings | None = None) -> list[str]:
    """Register every lakehouse table as ``labellake.<name>``; returns the qualified names."""
    settings = settings or Settings.from_env()
    spark.sql(f"CREATE DATABASE IF NOT EXISTS {DATABASE}")
    names = []
    for ref in existing_tables(settings):
        qualified = f"{DATABASE}.`{ref.name}`"
        location = str(ref.path).replace("'", "\\'")
        spark.sql(f"CREATE TABLE IF NOT EXISTS {qualified} USING DELTA LOCATION '{location}'")
        names.append(f"{DATABASE}.{ref.name}")
    log.info("catalog: %d tables registered in database %s", len(names), DATABASE)
    return names


def labellake_spark(settings: Settings | None = None) -> SparkSession:
    """A Delta-enabled session with the lakehouse registered (the notebook entry point)."""
    from jobs.spark_session import get_spark

    settings = settings or Settings.from_env()
    spark = get_spark("labellake-analyst", settings)
    register_catalog(spark, settings)
    return spark
