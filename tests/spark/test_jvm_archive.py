"""The class archive's name is the same in every process that starts a Spark JVM."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import SimpleNamespace

from jobs.core.settings import Settings
from jobs.spark.jvm_archive import archive_path


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


def test_listing_jars_for_a_dag_never_compiles_the_kernel(tmp_path, monkeypatch) -> None:
    """Airflow parses DAG files often and with a timeout: the DAG module lists the session's jars
    with ``build=False``, which must not run javac when the LF kernel is not built yet."""
    import dataclasses
    import json
    import shutil

    from jobs.core.settings import Settings
    from jobs.spark.conf import session_jars

    cache = tmp_path / "jars"
    cache.mkdir()
    (cache / "manifest.json").write_text(json.dumps({"jars": []}))
    settings = dataclasses.replace(Settings.from_env(), jar_cache=cache)
    called: list[str] = []
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: called.append(name))  # no JDK found, and noted
    assert (
        session_jars(settings, build=False) == []
        and called == []
        and list(cache.iterdir()) == [cache / "manifest.json"]
    )
    assert session_jars(settings) == [] and "javac" in called  # the default does try to build it
