"""Deployment settings: every ``LABELLAKE_*`` environment variable, documented once, read here.

Where the lakehouse lives, where the raw data is and which Spark master to use
are the fields of :class:`Settings`, so moving from a laptop to a cluster is a
matter of environment variables, never of code. Every other variable (Spark
tuning, thresholds, switches) is read through :func:`env_setting`, which
refuses a name :data:`VARIABLES` does not document; ``labellake settings``
prints the table with the values in effect.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Variable:
    """One environment variable: its name, what it sets, and its default ("" = unset)."""

    name: str
    meaning: str
    default: str = ""


VARIABLES: tuple[Variable, ...] = (
    Variable(
        "LABELLAKE_HOME",
        "lakehouse root, a folder or s3://bucket/prefix; every table lives here",
        str(PROJECT_ROOT / "lakehouse"),
    ),
    Variable(
        "LABELLAKE_WORK_DIR",
        "with an s3:// home: the local folder for Data Docs, reports and the catalog's files",
        str(PROJECT_ROOT / "lakehouse-work"),
    ),
    Variable(
        "LABELLAKE_DATA_ROOT",
        "root the dataset source_paths are under: a folder or s3://bucket/prefix",
        str(PROJECT_ROOT.parent / "shared" / "datasets"),
    ),
    Variable("LABELLAKE_SPARK_MASTER", "Spark master URL", "local[*]"),
    Variable("LABELLAKE_CONFIG", "datasets config file", str(PROJECT_ROOT / "config" / "datasets.toml")),
    Variable("LABELLAKE_JAR_CACHE", "where set-up put the Delta jars", str(PROJECT_ROOT / ".cache" / "jars")),
    Variable(
        "LABELLAKE_AIRFLOW_HOME", "the Airflow home `labellake demo` and `setup` use", str(PROJECT_ROOT / ".airflow")
    ),
    Variable("LABELLAKE_METASTORE", "register new tables in the Hive metastore after a publish (on/off)", "on"),
    Variable(
        "LABELLAKE_METASTORE_URL",
        "JDBC URL of the Hive metastore the tables are registered in (default: Derby under the work folder)",
    ),
    Variable("LABELLAKE_METASTORE_USER", "the metastore database's user"),
    Variable("LABELLAKE_METASTORE_PASSWORD", "the metastore database's password"),
    Variable("LABELLAKE_DRIVER_MEMORY", "spark.driver.memory", "4g"),
    Variable("LABELLAKE_SHUFFLE_PARTITIONS", "spark.sql.shuffle.partitions (raise it on a cluster)", "8"),
    Variable("LABELLAKE_SPARK_CONF", "extra Spark properties: key=value pairs separated by spaces"),
    Variable("LABELLAKE_DRIVER_JAVA_OPTIONS", "JVM flags added to the driver's"),
    Variable("LABELLAKE_EXECUTOR_JAVA_OPTIONS", "JVM flags for a cluster's executors"),
    Variable("LABELLAKE_EVENT_LOG_DIR", "write Spark event logs here (history server, `bench e2e`)"),
    Variable("LABELLAKE_SPARK_UI", "start Spark's web UI (true/false)", "false"),
    Variable("LABELLAKE_PROGRESS", "Spark's console progress bar (default: on a terminal only)"),
    Variable("LABELLAKE_SPARK_LOG_LEVEL", "Spark's log level", "WARN"),
    Variable("LABELLAKE_JVM_ARCHIVE", "map set-up's JVM class archive (on/off)", "on"),
    Variable("LABELLAKE_LF_KERNEL", "apply text LFs through the JVM kernel (on/off)", "on"),
    Variable("LABELLAKE_LOCK_WAIT_S", "seconds a run waits for another run's dataset lock", "0"),
    Variable(
        "LABELLAKE_FIT_ON_EXECUTORS_ABOVE", "distinct patterns above which a wide pack is fitted in Spark", "1000000"
    ),
    Variable(
        "LABELLAKE_PREDICT_ON_EXECUTORS_ABOVE", "distinct patterns above which labels are predicted per row", "200000"
    ),
    Variable("LABELLAKE_BENCH_DIR", "where benches make their scratch lakehouses (created if missing)"),
    Variable("LABELLAKE_BENCH_BASE_PACK", "set by the benches: the LF pack their generated packs start from"),
    Variable("LABELLAKE_BENCH_EDIT_KEYWORD", "set by the benches: the keyword their edited LF gains"),
)
"""Every environment variable labellake reads (a test keeps this list and the code in step)."""

OFF_VALUES = ("off", "0", "false", "no")


def env_setting(name: str) -> str:
    """The value of the documented variable ``name`` in this process, or its default."""
    documented = {v.name: v for v in VARIABLES}
    if name not in documented:
        raise KeyError(f"{name} is not a documented labellake setting (add it to jobs.core.settings.VARIABLES)")
    return os.environ.get(name, documented[name].default)


def env_switch(name: str) -> bool:
    """An on/off variable: anything but off, 0, false or no is on."""
    return env_setting(name).lower() not in OFF_VALUES


def bench_dir() -> Path | None:
    """``$LABELLAKE_BENCH_DIR``, created if missing (None: the system's temporary folder)."""
    value = env_setting("LABELLAKE_BENCH_DIR")
    if not value:
        return None
    path = Path(value).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


OBJECT_STORE_SCHEMES = ("s3://", "s3a://")


@dataclass(frozen=True)
class Settings:
    """Where things are for this deployment. Build it with :meth:`from_env`.

    ``home`` is a local folder: the lakehouse itself, or, when ``lake`` names an object store
    (``s3a://bucket/prefix``), the folder for what is not a table (Data Docs, reports, the
    catalog's init file, the review queue's exports).
    """

    home: Path
    data_root: Path | str
    """Where relative ``source_path``s are: a folder, or an ``s3a://`` URI on an object store."""
    spark_master: str
    config_path: Path
    jar_cache: Path
    lake: str | None = None
    """The tables' root URI on an object store (``s3a://...``); None: the tables live in ``home``."""

    @classmethod
    def from_env(cls) -> Settings:
        home = env_setting("LABELLAKE_HOME")
        lake = object_store_uri(home)
        return cls(
            home=Path(env_setting("LABELLAKE_WORK_DIR") if lake else home).resolve(),
            data_root=object_store_uri(env_setting("LABELLAKE_DATA_ROOT"))
            or Path(env_setting("LABELLAKE_DATA_ROOT")).resolve(),
            spark_master=env_setting("LABELLAKE_SPARK_MASTER"),
            config_path=Path(env_setting("LABELLAKE_CONFIG")).resolve(),
            jar_cache=Path(env_setting("LABELLAKE_JAR_CACHE")).resolve(),
            lake=lake,
        )

    @property
    def tables_root(self) -> str:
        """Where the Delta tables live: ``lake`` or the ``home`` folder."""
        return self.lake or str(self.home)


def settings_env(settings: Settings) -> dict[str, str]:
    """The ``LABELLAKE_*`` variables under which a child process's :meth:`Settings.from_env` equals
    ``settings`` (a spark-submit, an Airflow task, the metastore's own Spark process)."""
    return {
        "LABELLAKE_HOME": settings.tables_root,
        "LABELLAKE_WORK_DIR": str(settings.home),
        "LABELLAKE_DATA_ROOT": str(settings.data_root),
        "LABELLAKE_SPARK_MASTER": settings.spark_master,
        "LABELLAKE_CONFIG": str(settings.config_path),
        "LABELLAKE_JAR_CACHE": str(settings.jar_cache),
    }


def object_store_uri(location: str) -> str | None:
    """``s3a://bucket/prefix`` for an ``s3://`` or ``s3a://`` location (one scheme that Spark's s3a
    and delta-rs both read), None for a local path."""
    for scheme in OBJECT_STORE_SCHEMES:
        if location.startswith(scheme):
            rest = location[len(scheme) :].strip("/")
            if not rest:
                from jobs.core.errors import ConfigError

                raise ConfigError(
                    f"LABELLAKE_HOME={location!r}: an object store home needs a bucket (s3://bucket/prefix)"
                )
            return f"s3a://{rest}"
    return None


def run_report_file(home: Path, dataset: str, run_id: str) -> Path:
    """Where a run's HTML report lives: known before the report is written, so the run log and
    the run's Data Docs pages can link to it while the run is still going."""
    return home / "_reports" / dataset / f"{run_id}.html"
