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
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession
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
from lf_library.errors import LFDefinitionError


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
U+001C-U+001F. Spelled this way it is a property lookup instead of a scan over 12 ranges
(docs/decisions/0008)."""

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
_MIN_LITERAL = 3
_MAX_ALTERNATIVES = 16
_MAX_PREFILTERS = 3


def _literal_alternatives(items: object) -> set[str] | None:
    """Every string a wholly literal sequence can match (alternations and plain groups
    included), or None when any part of it is not literal."""
    alternatives = {""}
    for op, arg in items:  # type: ignore[attr-defined]
        name = str(op)
        if name == "LITERAL":
            alternatives = {a + chr(arg) for a in alternatives}
        elif name == "SUBPATTERN" and arg[1] == 0 and arg[2] == 0:
            inner = _literal_alternatives(arg[3])
            if inner is None:
                return None
            alternatives = {a + b for a in alternatives for b in inner}
        elif name == "BRANCH":
            branches = [_literal_alternatives(branch) for branch in arg[1]]
            if any(b is None for b in branches):
                return None
            alternatives = {a + b for a in alternatives for branch in branches for b in branch}  # type: ignore[union-attr]
        else:
            return None
        if len(alternatives) > _MAX_ALTERNATIVES:
            return None
    return alternatives


def required_literal_sets(pattern: str, ignore_case: bool, min_length: int = _MIN_LITERAL) -> list[tuple[str, ...]]:
    """Sets of strings such that every match of ``pattern`` contains one string of each set.

    Used as ``contains`` pre-filters before ``rlike``: substring tests are cheap
    and reject most rows, so the regex engine runs only where a match is
    possible. Walks the top-level sequence of Python's own parse of the
    pattern: literals extend the current stretch, a group that is an
    alternation of literals (``(call|ringtone)``) multiplies it into
    alternatives, anything else (classes, repeats, anchors) ends it; an
    alternation of non-literal branches adds one set of its own (see
    :func:`_required_sets`). The strongest sets come first (longest
    shortest alternative); at most three, each alternative at least
    ``min_length`` characters (3 by default: each ``contains`` is a pass over
    the text; the text kernel finds literals of any length in one scan). With ``ignore_case`` the strings are
    lowercased and must avoid the letters whose Unicode case folding ``lower()``
    does not reproduce. An inline ``(?i)`` the caller did not declare gives none.
    """
    import re._parser as sre_parse  # CPython's own regex parser (3.11+)

    try:
        parsed = sre_parse.parse(pattern)
    except re.error:
        return []
    if parsed.state.flags & re.IGNORECASE and not ignore_case:
        return []  # an inline (?i): the caller would compare against the unlowered text
    return _required_sets(parsed, ignore_case, min_length)[:_MAX_PREFILTERS]


def _required_sets(items: object, ignore_case: bool, min_length: int = _MIN_LITERAL) -> list[tuple[str, ...]]:
    """Every usable required set of a parsed sequence, strongest first (see
    :func:`required_literal_sets`).

    An alternation of branches that are not all literal (``thanks[^\\w]*|\\bother\\b``)
    still requires something: every match is a match of one branch, so it contains
    one string of that branch's strongest set, and the union of those sets is a set
    of the alternation. It is usable only when every branch has one (a branch with
    nothing required could match anywhere).
    """
    stretches: list[set[str]] = []
    found: list[tuple[str, ...]] = []
    current = {""}

    def walk(items: object) -> None:
        nonlocal current
        for item in items:  # type: ignore[attr-defined]
            op, arg = item
            name = str(op)
            if name == "SUBPATTERN" and arg[1] == 0 and arg[2] == 0 and _literal_alternatives(arg[3]) is None:
                walk(arg[3])  # a mandatory group: its own stretches are required too
                continue
            alternatives = _literal_alternatives([item])
            if alternatives is None:
                stretches.append(current)
                current = {""}
                if name == "BRANCH":
                    found.extend(_branch_set(arg[1], ignore_case, min_length))
            else:
                current = {a + b for a in current for b in alternatives}
                if len(current) > _MAX_ALTERNATIVES:
                    current = {""}

    walk(items)
    stretches.append(current)
    usable = list(found)
    for stretch in stretches:
        strings = _case_folded(sorted(stretch), ignore_case)
        if strings is not None and min(map(len, strings)) >= min_length:
            usable.append(tuple(_drop_superstrings(strings)))
    usable.sort(key=lambda alts: -min(map(len, alts)))
    return usable


def _case_folded(strings: list[str], ignore_case: bool) -> list[str] | None:
    """``strings`` as the lowercased text holds them: as they are, or under ``ignore_case``
    lowercased, and None when one has a letter whose case folding ``lower()`` does not reproduce."""
    if not ignore_case:
        return strings
    if not all(x.isascii() and not (set(x.lower()) & _CASE_UNSAFE) for x in strings):
        return None
    return sorted({x.lower() for x in strings})


def _branch_set(branches: list[Any], ignore_case: bool, min_length: int) -> list[tuple[str, ...]]:
    """The one required set of an alternation: the union of each branch's strongest set, or
    nothing when a branch requires nothing or the union grows past ``_MAX_ALTERNATIVES``."""
    strongest = []
    for branch in branches:
        sets = _required_sets(branch, ignore_case, min_length)
        if not sets:
            return []
        strongest.append(sets[0])
    union = _drop_superstrings(sorted({x for alts in strongest for x in alts}))
    return [tuple(union)] if len(union) <= _MAX_ALTERNATIVES else []


def _drop_superstrings(strings: list[str]) -> list[str]:
    """``thanks.`` is redundant beside ``thanks``: containing the longer implies the shorter."""
    return [x for x in strings if not any(y != x and y in x for y in strings)]


def literal_anchor(
    pattern: str, ignore_case: bool, min_length: int = _MIN_LITERAL
) -> tuple[list[str], int, int] | None:
    """Where a match of ``pattern`` can start, from where its first literal stretch occurs.

    When the pattern's top-level sequence is a part of bounded width (``low``..``high``
    characters) followed by a run of literals (``(thanks\\.|thanks)``), every match starts
    that many characters before an occurrence of one of the run's strings. Returns the strings
    (each at least ``min_length`` characters, lowercased under ``ignore_case`` as in
    :func:`required_literal_sets`), ``low`` and ``high``; None when there is no such run.
    The text kernel tries the regex only at those starts instead of at every character.
    """
    import re._parser as sre_parse  # CPython's own regex parser (3.11+)

    try:
        parsed = sre_parse.parse(pattern)
    except re.error:
        return None
    if parsed.state.flags & re.IGNORECASE and not ignore_case:
        return None
    low = high = 0
    stretch: set[str] | None = None
    for item in parsed:
        alternatives = _literal_alternatives([item])
        if alternatives is None and stretch is None:
            item_low, item_high = sre_parse.SubPattern(parsed.state, [item]).getwidth()
            low, high = low + item_low, high + item_high
            if high >= sre_parse.MAXREPEAT:
                return None
            continue
        if alternatives is None:
            break
        stretch = alternatives if stretch is None else {a + b for a in stretch for b in alternatives}
        if len(stretch) > _MAX_ALTERNATIVES:
            return None
    strings = _case_folded(sorted(stretch or []), ignore_case)
    if not strings or min(map(len, strings)) < min_length:
        return None
    # A string that starts with another starts where it does; one merely containing another does not.
    return [x for x in strings if not any(y != x and x.startswith(y) for y in strings)], low, high


def required_literal(pattern: str, ignore_case: bool) -> str | None:
    """The longest single string every match of ``pattern`` must contain (None if there is none)."""
    singles = [alts[0] for alts in required_literal_sets(pattern, ignore_case) if len(alts) == 1]
    return max(singles, key=len, default=None)


def literal_prefilter(haystack: Column, literal_sets: list[tuple[str, ...]]) -> Column | None:
    """AND over the sets of (OR over each set's ``contains``); None when there are no sets."""
    condition = None
    for alternatives in literal_sets:
        any_of = haystack.contains(F.lit(alternatives[0]))
        for other in alternatives[1:]:
            any_of = any_of | haystack.contains(F.lit(other))
        condition = any_of if condition is None else condition & any_of
    return condition


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
        haystack = F.lower(text) if (lf.lowercase or lf.ignore_case) else text
        prefilter = literal_prefilter(haystack, required_literal_sets(lf.pattern, lf.ignore_case))
        return matches if prefilter is None else prefilter & matches
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
        return {
            "<": value < lf.value,
            "<=": value <= lf.value,
            ">": value > lf.value,
            ">=": value >= lf.value,
            "==": value == lf.value,
            "!=": value != lf.value,
        }[lf.op]
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


def check_with_spark(spark: SparkSession, pack: LFPack, rows: DataFrame | None = None) -> None:
    """Compile each regex LF's pattern with Java's engine, and parse each SQL LF's condition (and
    resolve it against ``rows``, the table the LFs will read), as they will run: a pattern Python
    accepts and Java does not (``[[a]x``), or SQL that does not parse or names an unknown column,
    fails here naming the LF instead of inside a Spark task."""
    jvm = spark._jvm
    for lf in pack:
        try:
            if isinstance(lf, RegexLF) and jvm is not None:
                jvm.java.util.regex.Pattern.compile(java_regex(lf.pattern, lf.ignore_case))
            elif isinstance(lf, SqlLF):
                condition = F.expr(lf.condition)
                if rows is not None:
                    rows.where(condition)  # analysed now: unknown columns and functions fail here
        except Exception as exc:  # pyspark re-raises the JVM's errors as its own types
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            what = (
                f"regex {lf.pattern!r} is invalid for Java, which runs it"
                if isinstance(lf, RegexLF)
                else f"SQL condition {getattr(lf, 'condition', '')!r} does not run"
            )
            raise LFDefinitionError(f"LF {lf.name!r}: {what}: {first}") from exc
