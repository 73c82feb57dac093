"""A class-data archive (JDK AppCDS) of the classes a labellake Spark driver loads.

Every DAG task is its own ``spark-submit``, so every stage pays for a cold JVM:
loading and verifying some 20,000 Spark, Delta and Hadoop classes before the
first row moves: on a 2-core VM, most of a small stage (docs/decisions/0001).
Set-up runs a small workload that
touches what a relabel does, with ``-XX:ArchiveClassesAtExit``, and every
driver JVM then maps the archive with ``-XX:SharedArchiveFile``.

Safe by construction: the JVM itself checks the archive against its own build
and the classpath (jar sizes and times) and silently runs without it on any
mismatch, so a stale archive costs speed, never correctness.
``LABELLAKE_JVM_ARCHIVE=off`` turns it off.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from jobs.core.settings import Settings, env_switch

ARCHIVE_ENV = "LABELLAKE_JVM_ARCHIVE"
QUIET = "-Xlog:cds=off -Xlog:cds+dynamic=off"
"""A mismatched archive is a warning on stdout, which would garble command output."""


def _java_binary() -> str:
    java_home = os.environ.get("JAVA_HOME")
    found = Path(java_home) / "bin" / "java" if java_home else shutil.which("java")
    return os.path.realpath(found) if found else "java"


def _spark_jars_dir() -> Path | None:
    """The Spark install's jars: ``$SPARK_HOME/jars`` under ``spark-submit`` (whose Python imports
    pyspark from a zip inside it, so the spec would point into the zip), else pyspark's own."""
    spark_home = os.environ.get("SPARK_HOME")
    if spark_home and (Path(spark_home) / "jars").is_dir():
        return Path(spark_home) / "jars"
    spec = importlib.util.find_spec("pyspark")  # without importing pyspark
    return Path(spec.origin).parent / "jars" if spec and spec.origin else None


def archive_path(settings: Settings) -> Path:
    """Where this JDK and this Spark install's archive lives (a new install gets a new name)."""
    jars = _spark_jars_dir()
    key = "\n".join(
        [
            _java_binary(),
            *(sorted(p.name for p in jars.glob("*.jar")) if jars and jars.is_dir() else []),
            *(sorted(p.name for p in settings.jar_cache.glob("*.jar")) if settings.jar_cache.is_dir() else []),
        ]
    )
    return settings.jar_cache.parent / "jvm" / f"driver-{hashlib.sha256(key.encode()).hexdigest()[:16]}.jsa"


def archive_options(settings: Settings) -> str:
    """The driver JVM flags that map the archive, or "" when there is none (or it is turned off)."""
    if not env_switch(ARCHIVE_ENV):
        return ""
    path = archive_path(settings)
    return f"-XX:SharedArchiveFile={path} {QUIET}" if path.is_file() else ""


def build_archive(settings: Settings | None = None) -> Path | None:
    """Run the workload in a fresh JVM that writes the archive at exit; the archive's path, or
    None when the JVM could not write one (set-up goes on: sessions just start slower)."""
    from lf_library.kernel_build import build_kernel_jar

    settings = settings or Settings.from_env()
    build_kernel_jar(settings.jar_cache)  # the kernel jar is on the classpath, so in the archive's name
    target = archive_path(settings)
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="labellake-jvm-archive-") as scratch:
        partial = Path(scratch) / target.name
        env = {
            **os.environ,
            ARCHIVE_ENV: "off",
            # C1 only, one GC thread: the archive holds classes, not compiled code, and a JVM that
            # exits after a minute never repays C2 (set-up 47 -> 40 s).
            "LABELLAKE_DRIVER_JAVA_OPTIONS": f"-XX:ArchiveClassesAtExit={partial} {QUIET} "
            "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC",
            "PYSPARK_PYTHON": sys.executable,
        }
        done = subprocess.run(
            [sys.executable, "-m", "jobs.spark.jvm_archive_workload", scratch],
            env=env,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0 or not partial.is_file():
            print(f"labellake: no JVM class archive (sessions start slower): {done.stderr.strip()[-500:]}")
            return None
        shutil.move(str(partial), target)
    for stale in target.parent.glob("driver-*.jsa"):
        if stale != target:
            stale.unlink()
    return target


if __name__ == "__main__":
    built = build_archive()
    print(f"labellake: JVM class archive {built or 'not built'}")
