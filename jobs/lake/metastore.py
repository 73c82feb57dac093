"""A persistent catalog: every labellake table registered in a Hive metastore that outlives sessions.

``spark-sql``, a notebook's plain ``SparkSession`` and other Spark jobs see
``labellake.<dataset>_<role>`` (with time travel: the tables are Delta tables at their
locations) without calling labellake first, given the settings :func:`metastore_conf` lists
(``labellake settings`` and the README print them). The metastore is Spark's own Hive
metastore: embedded Derby under the lakehouse's work folder by default, or any JDBC
database named by ``LABELLAKE_METASTORE_URL`` (Postgres in docker-compose).

Registration is a metadata statement per table (``CREATE TABLE IF NOT EXISTS ... USING DELTA
LOCATION``), so it runs only when the set of tables changed (a dataset's first publish, a new
table), in a short Spark process of its own: a pipeline's session keeps Spark's in-memory
catalog, and embedded Derby admits one JVM at a time, which a file lock serialises on this
machine. A failed registration is logged and retried at the next publish; it never fails one.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

from jobs.core.settings import Settings, env_setting, settings_env
from jobs.lake.catalog import catalog_statements
from jobs.lake.tables import existing_tables

log = logging.getLogger(__name__)

DRIVERS = {"derby": "org.apache.derby.iapi.jdbc.AutoloadedDriver", "postgresql": "org.postgresql.Driver"}


def metastore_dir(settings: Settings) -> Path:
    return settings.home / "_metastore"


def metastore_url(settings: Settings) -> str:
    """The metastore's JDBC URL: ``$LABELLAKE_METASTORE_URL``, or embedded Derby under the work folder."""
    return env_setting("LABELLAKE_METASTORE_URL") or (
        f"jdbc:derby:;databaseName={metastore_dir(settings) / 'metastore_db'};create=true"
    )


def metastore_conf(settings: Settings) -> dict[str, str]:
    """The Spark settings that open the labellake metastore (beside the Delta ones)."""
    url = metastore_url(settings)
    driver = next((d for kind, d in DRIVERS.items() if url.startswith(f"jdbc:{kind}:")), "")
    conf = {
        "spark.sql.catalogImplementation": "hive",
        "spark.hadoop.javax.jdo.option.ConnectionURL": url,
        "spark.hadoop.datanucleus.schema.autoCreateAll": "true",
        "spark.hadoop.hive.metastore.schema.verification": "false",
        "spark.sql.warehouse.dir": str(settings.home / "_warehouse"),
    }
    if driver:
        conf["spark.hadoop.javax.jdo.option.ConnectionDriverName"] = driver
    for variable, key in (("USER", "ConnectionUserName"), ("PASSWORD", "ConnectionPassword")):
        value = env_setting(f"LABELLAKE_METASTORE_{variable}")
        if value:
            conf[f"spark.hadoop.javax.jdo.option.{key}"] = value
    return conf


def session_conf(settings: Settings) -> dict[str, str]:
    """Everything a plain Spark session needs to read the tables by name: the Delta and cluster
    jars, Delta's extension and catalog, the s3a settings, and the metastore."""
    from jobs.spark.conf import DELTA_CATALOG, DELTA_EXTENSION, cluster_jars, delta_jars, object_store_conf

    return {
        "spark.jars": ",".join(delta_jars(settings) + cluster_jars(settings)),
        "spark.sql.extensions": DELTA_EXTENSION,
        "spark.sql.catalog.spark_catalog": DELTA_CATALOG,
        **object_store_conf(settings),
        **metastore_conf(settings),
    }


def _registered_file(settings: Settings) -> Path:
    return metastore_dir(settings) / "registered.json"


def pending_tables(settings: Settings) -> list[str]:
    """Tables of the lakehouse this metastore does not list yet (by the record of the last sync)."""
    path = _registered_file(settings)
    known = json.loads(path.read_text()) if path.is_file() else {}
    done = set(known.get("tables", [])) if known.get("url") == metastore_url(settings) else set()
    return sorted({ref.name for ref in existing_tables(settings)} - done)


def sync_after_publish(settings: Settings) -> list[str]:
    """Register new tables in the metastore, in a Spark process of its own; the names registered.
    Never raises: a failure is logged, and the next publish tries again."""
    if not pending_tables(settings):
        return []
    metastore_dir(settings).mkdir(parents=True, exist_ok=True)
    with open(metastore_dir(settings) / ".lock", "a+") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)  # embedded Derby: one JVM at a time on this machine
        pending = pending_tables(settings)
        if not pending:
            return []
        env = {**os.environ, **settings_env(settings)}
        done = subprocess.run(
            [sys.executable, "-m", "jobs.lake.metastore"], env=env, capture_output=True, text=True, timeout=600
        )
    if done.returncode != 0:
        log.warning("catalog: metastore not updated (retried at the next publish): %s", done.stderr[-500:])
        return []
    log.info("catalog: %d tables registered in the metastore %s", len(pending), metastore_url(settings))
    return pending


def register_in_metastore(settings: Settings) -> list[str]:
    """In this (fresh) process: open the metastore with Spark and register every table."""
    from jobs.spark.session import get_spark

    spark = get_spark("labellake-metastore", settings, extra_conf=metastore_conf(settings))
    names = []
    for name, ddl in catalog_statements(settings):
        spark.sql(ddl)
        names.append(name)
    spark.stop()
    _registered_file(settings).write_text(
        json.dumps({"url": metastore_url(settings), "tables": sorted(n.split(".", 1)[1] for n in names if n)})
    )
    return [n for n in names if n]


if __name__ == "__main__":
    register_in_metastore(Settings.from_env())
