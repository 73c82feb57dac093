"""Build the text LF kernel's jar (``kernel/LfKernel.java``) with the machine's JDK.

Kept free of ``pyspark`` imports, like :mod:`jobs.spark.conf`, which puts the
jar on every session's and every ``spark-submit``'s classpath. The jar's name
carries the hash of the Java source, so editing the kernel rebuilds it and a
stale jar is never loaded; older builds are removed.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

KERNEL_SOURCE = Path(__file__).with_name("kernel") / "LfKernel.java"
_COMPILE_CLASSPATH = ("spark-sql-api_", "jackson-databind-", "jackson-core-", "jackson-annotations-")


def kernel_jar_name() -> str:
    """The jar's file name: it carries the source hash, so a stale jar is never used."""
    digest = hashlib.sha256(KERNEL_SOURCE.read_bytes()).hexdigest()[:12]
    return f"labellake-lf-kernel-{digest}.jar"


def build_kernel_jar(cache: Path) -> Path | None:
    """Compile ``LfKernel.java`` against pyspark's own jars into ``cache``.

    Returns the jar, or None (with a warning) when no JDK compiler is found:
    labellake then runs on compiled expressions, slower but with the same votes.
    """
    jar = cache / kernel_jar_name()
    if jar.exists():
        return jar
    javac, jar_tool = shutil.which("javac"), shutil.which("jar")
    if javac is None or jar_tool is None:
        log.warning("LF kernel: no javac/jar on PATH; text LFs run as Spark expressions")
        return None
    spec = importlib.util.find_spec("pyspark")
    if spec is None or spec.origin is None:
        log.warning("LF kernel: pyspark not installed; cannot build")
        return None
    spark_jars = Path(spec.origin).parent / "jars"
    classpath = [str(p) for p in sorted(spark_jars.glob("*.jar")) if p.name.startswith(_COMPILE_CLASSPATH)]
    cache.mkdir(parents=True, exist_ok=True)
    partial = cache / f".{jar.name}.{os.getpid()}.tmp"  # concurrent builders never share a file
    with tempfile.TemporaryDirectory() as classes:
        try:
            subprocess.run(
                [javac, "--release", "17", "-cp", os.pathsep.join(classpath), "-d", classes, str(KERNEL_SOURCE)],
                check=True,
                capture_output=True,
                text=True,
            )
            subprocess.run([jar_tool, "cf", str(partial), "-C", classes, "."], check=True, capture_output=True)
        except subprocess.CalledProcessError as exc:
            log.warning(
                "LF kernel: build failed (%s); text LFs run as Spark expressions",
                (exc.stderr or "")[:500] if isinstance(exc.stderr, str) else exc,
            )
            partial.unlink(missing_ok=True)
            return None
        partial.replace(jar)
    for old in cache.glob("labellake-lf-kernel-*.jar"):
        if old != jar:
            old.unlink()
    log.info("LF kernel: built %s", jar)
    return jar
