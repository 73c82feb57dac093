"""The class archive's name is the same in every process that starts a Spark JVM."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import SimpleNamespace

from jobs.jvm_archive import archive_path
from jobs.settings import Settings


def test_a_spark_submit_driver_finds_the_archive_set_up_built(monkeypatch) -> None:
    """Under ``spark-submit`` pyspark is imported from a zip inside ``$SPARK_HOME``: the driver
    must still name set-up's archive, or the executors it launches start without it."""
    settings = Settings.from_env()
    built = archive_path(settings)
    spark_home = Path(importlib.util.find_spec("pyspark").origin).parent
    zipped = SimpleNamespace(origin=str(spark_home / "python" / "lib" / "pyspark.zip" / "pyspark" / "__init__.py"))
    monkeypatch.setenv("SPARK_HOME", str(spark_home))
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: zipped)
    assert archive_path(settings) == built
