"""Many whole-word keyword LFs applied as one token lookup instead of one regex each.

A pack of hundreds or thousands of keyword LFs (generated from a vocabulary,
or a lexicon such as the IMDB list) compiled one expression per LF costs
``LFs x text length`` per row: 1,000 LFs over 1M reviews is about an hour on
two cores, and the projection grows past what Spark's code generation handles
well. Snorkel's Spark applier has the same shape and is reported to time out
at 1,800 LFs (snorkel issue #1500).

A whole-word keyword made only of word characters matches exactly when one of
the text's maximal runs of word characters equals it, so the text is split
into its distinct words once per row and the words are joined against a small
broadcast table ``(word, lf, vote, lf_version)``: the cost is one tokenization
per row plus one hash probe per distinct word, whatever the number of LFs.

"Word character" is Java's Unicode ``\\w`` (``(?U)``), the same class the
compiled whole-word regex of :mod:`lf_library.compile` uses for ``\\b``, so both
paths give the same votes (checked by ``tests/lf_library/test_keyword_index.py``
on real reviews, and by ``labellake bench lfs --generated-lfs`` against a
plain-Python baseline). Keywords with spaces or punctuation (bigrams such as
"not good") keep the regex path.
"""

from __future__ import annotations

import re

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lf_library.core import KeywordLF, LabelingFunction, LFPack

MIN_LFS_FOR_INDEX = 16
"""Below this many indexable LFs the per-LF expressions are cheaper than tokenizing."""

_SINGLE_WORD = re.compile(r"\w+")
JAVA_NON_WORD = r"(?U)\W+"


def indexable(lf: LabelingFunction) -> bool:
    """Whether ``lf`` is a whole-word keyword LF whose keywords are single words."""
    return isinstance(lf, KeywordLF) and lf.match == "word" and all(_SINGLE_WORD.fullmatch(k) for k in lf.keywords)


def split_for_index(pack: LFPack) -> tuple[list[KeywordLF], list[LabelingFunction]]:
    """(LFs applied through the token lookup, declarative LFs compiled one by one)."""
    candidates = [lf for lf in pack.declarative if isinstance(lf, KeywordLF) and indexable(lf)]
    if len(candidates) < MIN_LFS_FOR_INDEX:
        return [], list(pack.declarative)
    chosen = {lf.name for lf in candidates}
    return candidates, [lf for lf in pack.declarative if lf.name not in chosen]


def _keyword_table(spark: SparkSession, pack: LFPack, lfs: list[KeywordLF], case_sensitive: bool) -> DataFrame:
    rows = sorted(
        {
            (k if case_sensitive else k.lower(), lf.name, pack.label_index(lf), lf.version)
            for lf in lfs
            for k in lf.keywords
        }
    )
    return spark.createDataFrame(rows, "word string, lf string, vote int, lf_version string")


def token_votes(source: DataFrame, pack: LFPack, lfs: list[KeywordLF], text: str = "text") -> DataFrame:
    """``(id, lf, vote, lf_version)`` of ``lfs`` by one tokenization per row and a broadcast join."""
    spark = source.sparkSession
    parts = []
    for case_sensitive in (False, True):
        group = [lf for lf in lfs if lf.case_sensitive == case_sensitive]
        if not group:
            continue
        haystack = F.col(text) if case_sensitive else F.lower(F.col(text))
        words = source.select("id", F.explode(F.array_distinct(F.split(haystack, JAVA_NON_WORD))).alias("word"))
        matched = words.join(F.broadcast(_keyword_table(spark, pack, group, case_sensitive)), "word")
        votes = matched.select("id", "lf", "vote", "lf_version")
        if any(len({k if case_sensitive else k.lower() for k in lf.keywords}) > 1 for lf in group):
            # An LF with several keywords can match several words of one row; one vote each.
            votes = votes.dropDuplicates(["id", "lf"])
        parts.append(votes)
    result = parts[0]
    for part in parts[1:]:
        result = result.unionByName(part)
    return result
