"""Deployment settings, read once from the environment.

One place decides where the lakehouse lives, where the raw data is and which
Spark master to use, so moving from a laptop to a cluster is a matter of
environment variables, never of code:

==========================  =======================================  ==========================
variable                    meaning                                  default
==========================  =======================================  ==========================
``LABELLAKE_HOME``          lakehouse root; every table lives here   ``<project>/lakehouse``
``LABELLAKE_DATA_ROOT``     root the dataset ``source_path`` s use   ``<project>/../shared/datasets``
``LABELLAKE_SPARK_MASTER``  Spark master URL                         ``local[*]``
``LABELLAKE_CONFIG``        datasets config file                     ``<project>/config/datasets.toml``
``LABELLAKE_JAR_CACHE``     where set-up put the Delta jars          ``<project>/.cache/jars``
==========================  =======================================  ==========================
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Settings:
    """Where things are for this deployment. Build it with :meth:`from_env`."""

    home: Path
    data_root: Path
    spark_master: str
    config_path: Path
    jar_cache: Path

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        return cls(
            home=Path(env.get("LABELLAKE_HOME", PROJECT_ROOT / "lakehouse")).resolve(),
            data_root=Path(env.get("LABELLAKE_DATA_ROOT", PROJECT_ROOT.parent / "shared" / "datasets")).resolve(),
            spark_master=env.get("LABELLAKE_SPARK_MASTER", "local[*]"),
            config_path=Path(env.get("LABELLAKE_CONFIG", PROJECT_ROOT / "config" / "datasets.toml")).resolve(),
            jar_cache=Path(env.get("LABELLAKE_JAR_CACHE", PROJECT_ROOT / ".cache" / "jars")).resolve(),
        )


def run_report_file(home: Path, dataset: str, run_id: str) -> Path:
    """Where a run's HTML report lives: known before the report is written, so the run log and
    the run's Data Docs pages can link to it while the run is still going."""
    return home / "_reports" / dataset / f"{run_id}.html"
