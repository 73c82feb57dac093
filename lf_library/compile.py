"""Where a declarative LF becomes a Spark column expression.

Each LF compiles to an ``int`` column: the class index it votes, or -1
(abstain), never null. The translations keep Python's semantics, because LFs
are written and checked against Python (Snorkel) behaviour:

- keywords: Python ``str.lower`` / Spark ``lower`` then substring, or a
  whole-word regex;
- regex: Python ``re.search`` becomes Java ``find`` (``rlike``) with
  ``(?d)`` so ``.`` stops only at ``\\n`` as in Python, ``(?U)`` so ``\\w``,
  ``\\s``, ``\\b`` are Unicode-aware as in Python, ``(?iu)`` for
  ``ignore_case``, and ``(?P<name>`` groups renamed;
- word counts: Python's ``len(text.split())`` splits on every character for
  which ``str.isspace()`` is true, so the same set is spelled out for Java.
"""

from __future__ import annotations

import re
import sys

from pyspark.sql import Column
from pyspark.sql import functions as F

from lf_library.core import (
    ABSTAIN,
    KeywordLF,
    LabelingFunction,
    LFPack,
    LookupLF,
    RegexLF,
    SqlLF,
    ThresholdLF,
    WordCountLF,
)


def _java_char_class(codepoints: list[int]) -> str:
    """A Java regex character-class body for the given code points, as ranges."""
    parts: list[str] = []
    start = prev = codepoints[0]
    for cp in codepoints[1:] + [-2]:
        if cp == prev + 1:
            prev = cp
            continue
        parts.append(f"\\x{{{start:X}}}" if start == prev else f"\\x{{{start:X}}}-\\x{{{prev:X}}}")
        start = prev = cp
    return "".join(parts)


PY_WHITESPACE_CLASS = _java_char_class([i for i in range(sys.maxunicode + 1) if chr(i).isspace()])
"""Every character Python's ``str.split()`` splits on, as a Java class body (for reference)."""

PY_WORD = r"(?U)[^\s\x{1C}-\x{1F}]+"
r"""A run of non-whitespace as Python's ``str.split()`` sees it. Java's Unicode
``\s`` is the White_Space property; Python also splits on the separators
U+001C-U+001F. Spelled this way it is 6x faster than the explicit class
(a property lookup instead of a scan over 12 ranges), which made
``short_comment`` alone cost 80% of the youtube pack's time at 1M rows."""

_UNICODE_CLASSES = re.compile(r"\\[wWsSdDbB]")


def java_regex(pattern: str, ignore_case: bool = False) -> str:
    """Translate a Python ``re`` pattern into a Java pattern with the same matches."""
    translated = pattern.replace("(?P<", "(?<")
    translated = re.sub(r"\(\?P=(\w+)\)", r"\\k<\1>", translated)
    flags = "d"
    if _UNICODE_CLASSES.search(pattern):
        flags += "U"
    if ignore_case:
        flags += "iu"
    return f"(?{flags}){translated}"


_WS = r"\s\x{1C}-\x{1F}"
EARLY_STOP_WORDS = 64


def at_least_words(text: Column, n: int) -> Column:
    """``len(text.split()) >= n``, stopping after ``n`` words instead of counting them all.

    A possessive, anchored regex walks at most ``n`` words, so "fewer than 5
    words" costs the same on a tweet and on a 10 kB review. Past
    ``EARLY_STOP_WORDS`` it falls back to counting.
    """
    if n <= 0:
        return F.lit(True)
    if n > EARLY_STOP_WORDS:
        return F.regexp_count(text, F.lit(PY_WORD)) >= F.lit(n)
    return text.rlike(f"(?U)^[{_WS}]*+(?:[^{_WS}]++[{_WS}]++){{{n - 1}}}[^{_WS}]")


_CASE_UNSAFE = set("is")  # Python and Java fold 'ſ'->'s', 'ı'->'i' under ignore-case; lower() does not


def required_literal(pattern: str, ignore_case: bool) -> str | None:
    """The longest run of literal characters every match of ``pattern`` must contain.

    Used as a ``contains`` pre-filter before ``rlike``: the substring test is
    cheap and rejects most rows, so the regex engine runs only where a match
    is possible. Walks the top-level sequence of Python's own parse of the
    pattern (groups without scoped flags included; branches, repeats and
    classes end a run). Returns None when no safe literal of 3+ characters
    exists. With ``ignore_case`` the literal is lowercased and must avoid the
    letters whose Unicode case folding ``lower()`` does not reproduce.
    """
    import re._parser as sre_parse  # CPython's own regex parser (3.11+)

    try:
        parsed = sre_parse.parse(pattern)
    except re.error:
        return None
    if parsed.state.flags & re.IGNORECASE and not ignore_case:
        return None  # an inline (?i): the caller would compare against the unlowered text
    runs: list[str] = []
    current: list[str] = []

    def walk(items: object) -> None:
        for op, arg in items:  # type: ignore[attr-defined]
            name = str(op)
            if name == "LITERAL":
                current.append(chr(arg))
            elif name == "SUBPATTERN" and arg[1] == 0 and arg[2] == 0:
                walk(arg[3])
            else:
                runs.append("".join(current))
                current.clear()

    walk(parsed)
    runs.append("".join(current))
    if ignore_case:
        runs = [r.lower() for r in runs if r.isascii() and not (set(r.lower()) & _CASE_UNSAFE)]
    best = max(runs, key=len, default="")
    return best if len(best) >= 3 else None


def _vote_when(condition: Column, label_index: int) -> Column:
    return F.when(condition, F.lit(label_index)).otherwise(F.lit(ABSTAIN)).cast("int")


def lf_condition(lf: LabelingFunction, text: Column) -> Column:
    """The boolean Spark condition under which ``lf`` votes its label."""
    if isinstance(lf, KeywordLF):
        haystack = text if lf.case_sensitive else F.lower(text)
        keywords = lf.keywords if lf.case_sensitive else tuple(k.lower() for k in lf.keywords)
        condition = haystack.contains(F.lit(keywords[0]))
        for keyword in keywords[1:]:
            condition = condition | haystack.contains(F.lit(keyword))
        if lf.match == "substring":
            return condition
        # Whole words: the substring test is a cheap pre-filter (most rows fail it);
        # the word-boundary regex runs only where a keyword occurs at all.
        alternatives = "|".join(re.escape(k) for k in keywords)
        return condition & haystack.rlike(java_regex(rf"\b(?:{alternatives})\b"))
    if isinstance(lf, RegexLF):
        target = F.lower(text) if lf.lowercase else text
        matches = target.rlike(java_regex(lf.pattern, lf.ignore_case))
        literal = required_literal(lf.pattern, lf.ignore_case)
        if literal is None:
            return matches
        haystack = F.lower(text) if (lf.lowercase or lf.ignore_case) else text
        return haystack.contains(F.lit(literal)) & matches
    if isinstance(lf, WordCountLF):
        condition = F.lit(True)
        if lf.min_words is not None:
            condition = condition & at_least_words(text, lf.min_words)
        if lf.max_words is not None:
            condition = condition & ~at_least_words(text, lf.max_words)
        return condition & text.isNotNull()
    if isinstance(lf, SqlLF):
        return F.expr(lf.condition)
    if isinstance(lf, ThresholdLF):
        value = F.length(text) if lf.column == "text_length" else F.col(lf.column).cast("double")
        return {"<": value < lf.value, "<=": value <= lf.value, ">": value > lf.value,
                ">=": value >= lf.value, "==": value == lf.value, "!=": value != lf.value}[lf.op]
    if isinstance(lf, LookupLF):
        value = F.col(lf.column).cast("string")
        if lf.normalize == "lower":
            value = F.lower(F.trim(value))
        return value.isin(sorted(lf.values))
    raise TypeError(f"LF {lf.name!r}: no Spark compiler for {type(lf).__name__}")


def compile_lf(lf: LabelingFunction, pack: LFPack, text: Column) -> Column:
    """``lf`` as an int vote column (class index or -1), named after the LF."""
    return _vote_when(lf_condition(lf, text), pack.label_index(lf)).alias(lf.name)


def compile_pack(pack: LFPack, text: Column | None = None) -> list[Column]:
    """Every declarative LF of ``pack`` as a vote column, in pack order (Python LFs excluded)."""
    text = text if text is not None else F.col("text")
    return [compile_lf(lf, pack, text) for lf in pack.declarative]
