"""Compiled LFs agree with the Python semantics they are written against."""

from __future__ import annotations

import re

from pyspark.sql import functions as F

from lf_library import KeywordLF, LFPack, RegexLF, SqlLF, WordCountLF
from lf_library.compile import compile_pack

TEXTS = [
    "Check this out",
    "check\nout",  # '.' does not cross \n in Python
    "check\rout",  # ... but does cross \r
    "CHECK\u2028OUT",  # ... and the Unicode line separator
    "a\u00a0b\u3000c d\u200be",  # NBSP and ideographic space split; ZWSP does not
    "  leading and trailing  ",
    "",
    "My song, plz subscribe http://x",
    "\u0130stanbul my",  # dotted capital I lowercases to two chars
    "one two three four five",
    None,
]


def _python_votes(text: str | None) -> list[int]:
    if text is None:
        return [-1, -1, -1, -1, -1]
    return [
        1 if re.search(r"check.*out", text, flags=re.I) else -1,
        0 if len(text.split()) < 5 else -1,
        1 if any(k in text.lower() for k in ("my", "plz")) else -1,
        1 if re.search(r"\bsong\b", text, flags=re.I) else -1,
        0 if len(text) > 10 else -1,
    ]


def test_compiled_votes_match_python(spark) -> None:
    pack = LFPack(
        "t",
        ("HAM", "SPAM"),
        [
            RegexLF("rx", "SPAM", pattern=r"check.*out", ignore_case=True),
            WordCountLF("short", "HAM", max_words=5),
            KeywordLF("kw", "SPAM", keywords=("my", "plz")),
            KeywordLF("song_word", "SPAM", keywords=("song",), match="word"),
            SqlLF("long", "HAM", condition="length(text) > 10"),
        ],
    )
    df = spark.createDataFrame([(i, t) for i, t in enumerate(TEXTS)], "i int, text string")
    rows = df.select("i", F.array(*compile_pack(pack)).alias("v")).orderBy("i").collect()
    for row in rows:
        text = TEXTS[row["i"]]
        expected = _python_votes(text)
        if text is None:
            expected[4] = -1
        assert list(row["v"]) == expected, repr(text)


def test_word_count_splits_on_exactly_pythons_whitespace(spark) -> None:
    import sys

    separators = [chr(i) for i in range(sys.maxunicode + 1) if chr(i).isspace()]
    near_misses = ["\u200b", "\ufeff", "\u180e", "_", "\u00ad"]  # not whitespace for Python
    rows = [(c, f"a{c}b") for c in separators + near_misses]
    pack = LFPack("t", ("HAM", "SPAM"), [WordCountLF("two_words", "HAM", min_words=2, max_words=3)])
    df = spark.createDataFrame(rows, "c string, text string")
    got = {r["c"]: r["v"] for r in df.select("c", compile_pack(pack)[0].alias("v")).collect()}
    for c, text in rows:
        assert got[c] == (0 if len(text.split()) == 2 else -1), hex(ord(c))


def test_threshold_and_lookup_lfs(spark, tmp_path) -> None:
    from lf_library import LookupLF, ThresholdLF

    lookup_file = tmp_path / "spammers.txt"
    lookup_file.write_text("# known spam authors\nBot One\n  bot two \n\n")
    lookup = LookupLF.from_file("known_spammer", "SPAM", column="author", path=str(lookup_file), normalize="lower")
    assert lookup.values == frozenset({"bot one", "bot two"})
    edited = LookupLF("known_spammer", "SPAM", column="author", values=frozenset({"bot one"}), normalize="lower")
    assert edited.version != lookup.version  # the lookup's content is part of the version
    pack = LFPack(
        "t",
        ("HAM", "SPAM"),
        [
            lookup,
            ThresholdLF("long_text", "HAM", column="text_length", op=">=", value=10),
            ThresholdLF("many_likes", "HAM", column="likes", op=">", value=100),
        ],
    )
    df = spark.createDataFrame(
        [("BOT TWO", "short", "5"), ("ann", "a much longer text", "250"), (None, "x", None)],
        "author string, text string, likes string",
    )
    got = [list(r["v"]) for r in df.select(F.array(*compile_pack(pack)).alias("v")).collect()]
    assert got == [[1, -1, -1], [-1, 0, 0], [-1, -1, -1]]


def test_word_count_thresholds_match_python_at_every_boundary(spark) -> None:
    texts = [
        "",
        " ",
        "one",
        " one ",
        "one two",
        "a\tb\nc  d",
        "a b c d e",
        "a b c d e f",
        " a  b c\u3000d e ",
        "x " * 70,
        "x " * 64 + "y",
        "\u00a0".join(["w"] * 65),
    ]
    lfs = (
        [WordCountLF(f"min{n}", "HAM", min_words=n) for n in (0, 1, 2, 5, 6, 65, 66)]
        + [WordCountLF(f"max{n}", "SPAM", max_words=n) for n in (1, 5, 65)]
        + [WordCountLF("between", "HAM", min_words=2, max_words=5)]
    )
    pack = LFPack("t", ("HAM", "SPAM"), lfs)
    df = spark.createDataFrame([(i, t) for i, t in enumerate(texts)], "i int, text string")
    for row in df.select("i", F.array(*compile_pack(pack)).alias("v")).collect():
        n = len(texts[row["i"]].split())
        expected = (
            [0 if n >= lf.min_words else -1 for lf in lfs[:7]]
            + [1 if n < lf.max_words else -1 for lf in lfs[7:10]]
            + [0 if 2 <= n < 5 else -1]
        )
        assert list(row["v"]) == expected, (texts[row["i"]][:20], n)


def test_required_literal_prefilter_is_conservative() -> None:
    from lf_library.compile import required_literal

    assert required_literal(r"check.*out", ignore_case=True) == "check"
    assert required_literal(r"( |^)(thanks\.|thanks)[^\w]*( |$)", ignore_case=False) == "thanks"
    assert required_literal(r"abc(?:de)?f+g", ignore_case=False) == "abc"
    assert required_literal(r"ab|cd", ignore_case=False) is None  # no literal every match has
    assert required_literal(r"(?i)checkout", ignore_case=False) is None  # inline flag: not safe here
    assert required_literal(r"subscribe", ignore_case=True) is None  # 's' folds from 'ſ' under re.I
    assert required_literal(r"x(?i:abc)", ignore_case=False) is None


def test_required_literal_sets_cover_alternations_and_every_mandatory_stretch() -> None:
    from lf_library.compile import required_literal_sets

    sms_rule = r"( |^)(call|ringtone|ringtone)[^\w]* ([^\s]+ )*(free|free)[^\w]*( |$)"
    assert required_literal_sets(sms_rule, ignore_case=False) == [("call", "ringtone"), ("free",)]
    assert required_literal_sets(r"( |^)(thanks\.|thanks)[^\w]*( |$)", False) == [("thanks",)]
    assert required_literal_sets(r"check.*out", ignore_case=True) == [("check",), ("out",)]
    assert required_literal_sets(r"ab|cd", False) == []  # 2 characters: not worth a scan
    assert required_literal_sets(r"(abc|de)x", False) == [("abcx", "dex")]  # one of the two, whole
    assert required_literal_sets(r"(?:abc|xyz)?def", False) == [("def",)]  # an optional group is not required
    assert required_literal_sets(r"subscribe|channel", ignore_case=True) == []  # 's' folds from 'ſ'
    # An alternation of non-literal branches: one string of the union of their strongest sets.
    edited = r"(?:( |^)(thanks\.|thanks)[^\w]*( |$))|\bother\b"
    assert required_literal_sets(edited, False) == [("other", "thanks")]
    assert required_literal_sets(r"foo\d+|bar.*baz|qux", False) == [("bar", "foo", "qux")]
    assert required_literal_sets(r"x(abc\d|def\s)yz", False) == [("abc", "def")]
    assert required_literal_sets(r"a.b|longer", False) == []  # a branch requiring nothing usable


def test_prefilters_never_reject_a_python_match() -> None:
    """Every string a pattern matches (Python re.search) contains one string of each set."""
    import json
    import random

    from lf_library.compile import required_literal_sets
    from lf_library.packs import load_pack
    from tests.conftest import DATA_ROOT

    texts = [
        v["data"]["text"].lower()
        for v in json.loads((DATA_ROOT / "wrench" / "trec" / "train.json").read_text()).values()
    ]
    random.Random(0).shuffle(texts)
    patterns = [lf.pattern for lf in load_pack("trec")]
    # Alternations of whole rules, as an edit that widens an LF writes them.
    patterns += [f"(?:{a})|{b}" for a, b in zip(patterns, patterns[1:] + patterns[:1], strict=False)]
    for pattern in patterns:
        sets = required_literal_sets(pattern, False)
        rx = re.compile(pattern)
        for text in texts[:1500]:
            if rx.search(text):
                assert all(any(a in text for a in alts) for alts in sets), (pattern, text)


def test_literal_anchor_bounds_where_a_match_can_start() -> None:
    """A start of bounded width then a run of literals anchors the pattern; an unbounded start or
    no run does not; a string that only contains another is kept (it starts elsewhere)."""
    from lf_library.compile import literal_anchor

    assert literal_anchor(r"( |^)(thanks\.|thanks)[^\w]*( |$)", False) == (["thanks"], 0, 1)
    assert literal_anchor(r"\w{2,5}free", False) == (["free"], 2, 5)
    assert literal_anchor(r"(ab c|b c)x", False) == (["ab cx", "b cx"], 0, 0)
    assert literal_anchor(r"\w+free", False) is None  # the start has no bounded width
    assert literal_anchor(r"( |^)(i)[^\w]*", False) is None  # shorter than the default 3
    assert literal_anchor(r"( |^)(i)[^\w]*", False, 1) == (["i"], 0, 1)
    assert literal_anchor(r"(?i)free", False) is None  # an undeclared inline ignore-case
    assert literal_anchor(r"FREE now", True) == (["free now"], 0, 0)
