"""Resolve the Delta Lake jars from Maven Central once, into a project-owned cache.

Spark's own Ivy resolution (``spark.jars.packages``) is used with its cache
inside the project, then the jars Delta needs and Spark does not already ship
are copied to ``.cache/jars`` with a manifest. Every later session loads them
with ``spark.jars`` and starts without network.

Why the filtering: Ivy also drags in older copies of jars that ``pyspark``
already ships (Jackson 2.13, Hadoop, Parquet, log4j). Keeping only the jars
whose artifact is not in ``pyspark/jars`` avoids two versions of one library
on the classpath.

Why a version list: ``delta-spark`` on PyPI is 4.4.1, but Maven Central may
not serve the matching JVM artifact for Spark 4.1 yet; 4.4.0 is the same
protocol and API. The first version that resolves wins and is recorded.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path

from jobs.core.settings import PROJECT_ROOT, Settings
from jobs.spark.conf import CLUSTER_MANIFEST, JAR_MANIFEST

DELTA_ARTIFACT = "io.delta:delta-spark_4.1_2.13"
DELTA_VERSIONS = ("4.4.1", "4.4.0")

_VERSION_SUFFIX = re.compile(r"-\d[\w.\-]*\.jar$")


def _artifact_name(jar_file: str, ivy: bool) -> str:
    """Artifact id of a jar file name, without group and version.

    Ivy names files ``group_artifact-version.jar`` (``io.delta_delta-storage-4.4.0.jar``),
    pyspark ships ``artifact-version.jar`` (``jackson-core-2.21.2.jar``).
    """
    base = jar_file.split("_", 1)[1] if ivy else jar_file
    return _VERSION_SUFFIX.sub("", base)


def _resolve_with_ivy(coordinate: str, ivy_dir: Path, excludes: str = "") -> list[Path]:
    """Let Spark's Ivy resolve ``coordinate`` and its dependencies into ``ivy_dir``."""
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = (
        SparkSession.builder.master("local[1]")
        .appName("labellake-setup-jars")
        .config("spark.jars.packages", coordinate)
        .config("spark.jars.ivy", str(ivy_dir))
        .config("spark.ui.enabled", "false")
    )
    if excludes:
        builder = builder.config("spark.jars.excludes", excludes)
    spark = builder.getOrCreate()
    spark.stop()
    return sorted((ivy_dir / "jars").glob("*.jar"))


def _cached_jars(cache: Path, manifest: Path) -> list[Path] | None:
    """The jars ``manifest`` lists, when every one is in ``cache``; None otherwise."""
    if not manifest.exists():
        return None
    names = json.loads(manifest.read_text())["jars"]
    return [cache / n for n in names] if all((cache / n).exists() for n in names) else None


def _pyspark_jar_artifacts() -> set[str]:
    """Artifact ids of the jars pyspark ships (Ivy's copies of those are not cached)."""
    import pyspark

    return {_artifact_name(p.name, ivy=False) for p in (Path(pyspark.__file__).parent / "jars").glob("*.jar")}


def resolve(settings: Settings | None = None, force: bool = False) -> list[Path]:
    """Make sure the Delta jars are in the cache; return their paths."""
    settings = settings or Settings.from_env()
    cache = settings.jar_cache
    manifest = cache / JAR_MANIFEST
    cached = None if force else _cached_jars(cache, manifest)
    if cached is not None:
        return cached

    spark_jars = _pyspark_jar_artifacts()
    ivy_dir = PROJECT_ROOT / ".cache" / "ivy"
    errors: list[str] = []
    for version in DELTA_VERSIONS:
        coordinate = f"{DELTA_ARTIFACT}:{version}"
        shutil.rmtree(ivy_dir / "jars", ignore_errors=True)
        try:
            resolved = _resolve_with_ivy(coordinate, ivy_dir)
        except Exception as exc:  # Ivy reports "not found" as a gateway failure
            errors.append(f"{coordinate}: {exc.__class__.__name__}")
            continue
        if not any("delta-spark" in p.name for p in resolved):
            errors.append(f"{coordinate}: resolved without a delta-spark jar")
            continue
        cache.mkdir(parents=True, exist_ok=True)
        kept = [p for p in resolved if _artifact_name(p.name, ivy=True) not in spark_jars]
        for jar in kept:
            shutil.copy2(jar, cache / jar.name)
        manifest.write_text(json.dumps({"coordinate": coordinate, "jars": [p.name for p in kept]}, indent=2))
        print(f"labellake: cached {len(kept)} Delta jars for {coordinate} in {cache}")
        return [cache / p.name for p in kept]
    raise SystemExit("labellake: could not resolve the Delta jars: " + "; ".join(errors))


CLUSTER_PACKAGES = (
    "org.apache.hadoop:hadoop-aws:3.4.2",
    "software.amazon.awssdk:s3:2.29.52",
    "software.amazon.awssdk:s3-transfer-manager:2.29.52",
    "software.amazon.awssdk:sts:2.29.52",
    "org.postgresql:postgresql:42.7.8",
)
"""What a cluster deployment needs beyond Delta: s3a for the Hadoop 3.4.2 that pyspark ships, with
the AWS SDK modules it uses instead of the SDK's 500 MB ``bundle`` jar (excluded), and the
Postgres JDBC driver of a shared Hive metastore."""


def resolve_cluster_jars(settings: Settings | None = None, force: bool = False) -> list[Path]:
    """The cluster jars (s3a, the metastore's JDBC driver) in the cache, with their own manifest,
    resolved once like the Delta jars."""
    settings = settings or Settings.from_env()
    cache = settings.jar_cache
    manifest = cache / CLUSTER_MANIFEST
    cached = None if force else _cached_jars(cache, manifest)
    if cached is not None:
        return cached
    spark_jars = _pyspark_jar_artifacts()
    ivy_dir = PROJECT_ROOT / ".cache" / "ivy-s3"
    shutil.rmtree(ivy_dir / "jars", ignore_errors=True)
    resolved = _resolve_with_ivy(",".join(CLUSTER_PACKAGES), ivy_dir, excludes="software.amazon.awssdk:bundle")
    if not any("hadoop-aws" in p.name for p in resolved):  # Ivy runs only when a JVM starts: see __main__
        raise SystemExit(f"labellake: the cluster jars did not resolve ({CLUSTER_PACKAGES}); got {resolved}")
    kept = [p for p in resolved if _artifact_name(p.name, ivy=True) not in spark_jars]
    cache.mkdir(parents=True, exist_ok=True)
    for jar in kept:
        shutil.copy2(jar, cache / jar.name)
    manifest.write_text(json.dumps({"packages": CLUSTER_PACKAGES, "jars": [p.name for p in kept]}, indent=2))
    print(f"labellake: cached {len(kept)} cluster jars (s3a, Postgres JDBC) in {cache}")
    return [cache / p.name for p in kept]


if __name__ == "__main__":
    # One resolution per process: Spark reads spark.jars.packages only when its JVM starts, so a
    # second session in the same process would resolve nothing (set-up runs `cluster` apart).
    if "cluster" in sys.argv:
        resolve_cluster_jars(force="--force" in sys.argv)
        raise SystemExit(0)
    resolve(force="--force" in sys.argv)
    from lf_library.kernel_build import build_kernel_jar

    kernel = build_kernel_jar(Settings.from_env().jar_cache)
    outcome = f"built: {kernel}" if kernel else "not built (no JDK); LFs run as expressions"
    print(f"labellake: text LF kernel {outcome}")
