"""The text LF kernel: every keyword, regex and word-count LF of a pack in one JVM pass.

Spark evaluates compiled LF expressions one at a time: each ``contains``
walks the row's UTF-8 bytes again, each ``rlike`` decodes the row to a Java
string again, and ``lower`` takes a slow path on any non-ASCII text (81% of
YouTube comments carry a BOM). ``LfKernel.java`` (next to this file) decodes
and lowercases a row once and tests every text condition on that string
(measured in docs/decisions/0008).

What stays the same: the kernel is a Spark Java UDF in the same projection,
so rows never leave the JVM and no Python runs per row; its semantics are
those of :mod:`lf_library.compile` (tests compare the two on real text and on
Unicode edge cases). When its jar is not on the classpath (``javac`` was
missing at set-up, or a cluster was started without it) or
``LABELLAKE_LF_KERNEL=off``, the compiled expressions are used instead.

The jar is built from the Java source by
:func:`lf_library.kernel_build.build_kernel_jar` (at set-up, or when a session
starts), named after the source's hash so an edit rebuilds it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from typing import Any

from pyspark.sql import Column, SparkSession
from pyspark.sql import functions as F

from jobs.core.settings import env_switch
from lf_library.compile import java_regex, literal_anchor, required_literal_sets
from lf_library.core import KeywordLF, LabelingFunction, RegexLF, WordCountLF

log = logging.getLogger(__name__)

KERNEL_CLASS = "ai.labellake.lf.LfKernel"
KERNEL_UDF = "labellake_lf_kernel"
KERNEL_ENV = "LABELLAKE_LF_KERNEL"


_warned: list[bool] = []  # warn once per process that the kernel is missing


def kernel_enabled(spark: SparkSession) -> bool:
    """Whether ``spark`` can load the kernel class; False means "use expressions"."""
    if not env_switch(KERNEL_ENV):
        return False
    from py4j.java_gateway import JavaClass

    jvm = spark._jvm
    try:
        loaded = jvm is not None and isinstance(jvm.ai.labellake.lf.LfKernel, JavaClass)  # a JavaPackage when missing
    except Exception:  # noqa: BLE001 - no JVM gateway (e.g. Spark Connect)
        loaded = False
    if not loaded and not _warned:
        _warned.append(True)
        log.warning("LF kernel not on the classpath; text LFs run as Spark expressions")
    return loaded


def _register(spark: SparkSession, spec: str) -> str:
    """Register a kernel UDF holding ``spec`` under a name derived from it; return the name."""
    name = f"{KERNEL_UDF}_{hashlib.sha256(spec.encode('utf-8')).hexdigest()[:16]}"
    flag = f"labellake.lfKernel.{name}"
    if spark.conf.get(flag, None) != "true":
        from pyspark.sql.types import ArrayType, IntegerType

        jvm = spark._jvm
        assert jvm is not None, "the text kernel needs a classic Spark session (a JVM gateway)"
        return_type = jvm.org.apache.spark.sql.types.DataType.fromJson(ArrayType(IntegerType()).json())
        spark._jsparkSession.udf().register(name, jvm.ai.labellake.lf.LfKernel(spec), return_type)
        spark.conf.set(flag, "true")
    return name


def in_kernel(lf: LabelingFunction) -> bool:
    """Whether the kernel evaluates ``lf``: the LFs whose condition reads only the text."""
    return isinstance(lf, (KeywordLF, RegexLF, WordCountLF))


def condition_spec(lf: LabelingFunction, code: int) -> dict[str, Any]:
    """The kernel's description of ``lf``, mirroring :func:`lf_library.compile.lf_condition`."""
    if isinstance(lf, KeywordLF):
        keywords = lf.keywords if lf.case_sensitive else tuple(k.lower() for k in lf.keywords)
        word = java_regex(r"\b(?:" + "|".join(re.escape(k) for k in keywords) + r")\b") if lf.match == "word" else None
        return {
            "kind": "keywords",
            "code": code,
            "lower": not lf.case_sensitive,
            "keywords": list(keywords),
            "word_regex": word,
        }
    if isinstance(lf, RegexLF):
        # The anchor's strings are found in the string the regex runs on only when the literals'
        # text is the regex's (not so for an ignore-case regex on the unlowered text).
        # Any literal length: one scan finds them all, where each `contains` was a pass of its own.
        anchor = literal_anchor(lf.pattern, lf.ignore_case, 1) if lf.lowercase or not lf.ignore_case else None
        return {
            "kind": "regex",
            "code": code,
            "lower": lf.lowercase,
            "pattern": java_regex(lf.pattern, lf.ignore_case),
            "literals": [list(alts) for alts in required_literal_sets(lf.pattern, lf.ignore_case, 1)],
            "literals_lower": lf.lowercase or lf.ignore_case,
            "anchor": None if anchor is None else {"strings": anchor[0], "low": anchor[1], "high": anchor[2]},
        }
    if isinstance(lf, WordCountLF):
        return {"kind": "words", "code": code, "min": lf.min_words, "max": lf.max_words}
    raise TypeError(f"LF {lf.name!r}: the text kernel has no form for {type(lf).__name__}")


def kernel_codes(spark: SparkSession, text: Column, lfs_with_codes: list[tuple[LabelingFunction, int]]) -> Column:
    """``array<int>`` of the vote codes of the LFs whose condition holds on ``text`` (null: none)."""
    spec = json.dumps([condition_spec(lf, code) for lf, code in lfs_with_codes], sort_keys=True)
    return F.call_udf(_register(spark, spec), text)
