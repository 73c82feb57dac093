"""The JVM text kernel casts exactly the votes of the compiled expressions and of Python.

``votes_long`` sends keyword, regex and word-count LFs through the kernel
(``lf_library/kernel/LfKernel.java``); these tests hold it to the same
references as the expressions: Python's own ``str.lower``/``re``/``split`` on
Unicode edge cases, every whitespace code point, and WRENCH's stored votes.
"""

from __future__ import annotations

import itertools
import json
import sys

import pytest
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.stages.apply.votes import votes_long
from lf_library import KeywordLF, LFPack, RegexLF, SqlLF, WordCountLF
from lf_library.compile import compile_pack
from lf_library.packs import load_pack
from lf_library.reference import python_lf
from lf_library.text_kernel import KERNEL_ENV, condition_spec, kernel_enabled
from tests.conftest import DATA_ROOT
from tests.lf_library.test_compile import TEXTS

EDGE_TEXTS = TEXTS + [
    "\ufeffCheck out my channel\ufeff",  # the BOM most YouTube comments carry
    "ΣΊΣΥΦΟΣ song ΟΔΟΣ",  # final sigma: lower() depends on context
    "\u212aelvin MY Song",  # KELVIN SIGN lowercases to ASCII 'k'
    "\u01c5 titlecase \u1e9e sharp S",  # titlecase digraph, capital sharp s
    "emoji \U0001f600 check \U0001f4a9 out",  # supplementary code points (surrogate pairs)
    "PLZ\u00a0subscribe\u2028song",  # NBSP and line separator between words
    "\u0085next\u001cline\u001fsplit",  # NEL and the separators Python splits on
    "songs, song., (song) _song_ song_",  # word boundaries around the keyword
    "x" * 5000 + " check " + "y" * 5000 + " out",
]


def _edge_pack() -> LFPack:
    return LFPack(
        "edge",
        ("HAM", "SPAM"),
        [
            KeywordLF("kw_ci", "SPAM", keywords=("my", "plz", "subscribe")),
            KeywordLF("kw_cs", "HAM", keywords=("MY", "Song"), case_sensitive=True),
            KeywordLF("kw_word", "HAM", keywords=("song",), match="word"),
            KeywordLF("kw_word_cs", "SPAM", keywords=("PLZ",), match="word", case_sensitive=True),
            RegexLF("rx_ci", "SPAM", pattern=r"check.*out", ignore_case=True),
            RegexLF("rx_lower", "SPAM", pattern=r"\bch\w+ ", lowercase=True),
            RegexLF("rx_cs", "HAM", pattern=r"[A-Z]{2,}\s"),
            RegexLF("rx_literal", "SPAM", pattern=r"(?:channel|kelvin)\W*$", ignore_case=True),
            WordCountLF("short", "HAM", max_words=5),
            WordCountLF("long", "SPAM", min_words=4),
            WordCountLF("between", "HAM", min_words=2, max_words=4),
            SqlLF("sql_len", "HAM", condition="length(text) > 40"),
        ],
    )


def votes_as_arrays(df: DataFrame, pack: LFPack) -> DataFrame:
    """``(id, got)``: ``votes_long``'s votes of every row of ``df`` as one array in pack order
    (-1 for abstain), the shape ``compile_pack`` gives, built in Spark."""
    votes = votes_long(df, pack)
    by_id = votes.groupBy("id").agg(F.map_from_entries(F.collect_list(F.struct("lf", "vote"))).alias("m"))
    got = F.array(*[F.coalesce(F.col("m")[lf.name], F.lit(-1)) for lf in pack])
    return df.select("id").join(by_id, "id", "left").select("id", got.alias("got"))


def test_kernel_is_built_and_registered_here(spark) -> None:
    assert kernel_enabled(spark), "javac is on this machine, so the kernel jar must be on the classpath"


@pytest.mark.parametrize("kernel", ["on", "off"])
def test_votes_match_python_on_unicode_edge_cases(spark, monkeypatch, kernel: str) -> None:
    monkeypatch.setenv(KERNEL_ENV, kernel)
    pack = _edge_pack()
    df = spark.createDataFrame([(str(i), t) for i, t in enumerate(EDGE_TEXTS)], "id string, text string")
    got = {r["id"]: list(r["got"]) for r in votes_as_arrays(df, pack).collect()}
    expressions = {r["id"]: list(r["v"]) for r in df.select("id", F.array(*compile_pack(pack)).alias("v")).collect()}
    references = [python_lf(lf, pack) for lf in pack.declarative if not isinstance(lf, SqlLF)]
    for i, text in enumerate(EDGE_TEXTS):
        expected = [f(text) for f in references] + [0 if text is not None and len(text) > 40 else -1]
        assert got[str(i)] == expected, (repr(text[:60]) if text else text, pack.names)
        assert expressions[str(i)] == expected


@pytest.mark.parametrize("scan", ["automaton", "few literals"])
def test_overlapping_keywords_are_each_found_in_one_scan(spark, scan: str) -> None:
    """The kernel finds all keywords in one scan: literals that overlap, nest, end inside each
    other or repeat a character are each found exactly where ``in`` finds them, by the automaton
    (the whole pack: more than ``LiteralScanner.FEW`` literals) and by one ``indexOf`` per literal
    (a few LFs at a time, as in an LF edit's rerun)."""
    words = ["he", "she", "his", "hers", "ushe", "a", "aa", "aaa", "ab", "bab", "\U0001f600", "SHE"]
    words += ["sher", "ers", "rs", "us", "baba", "abab"]  # past FEW (16) lowercase literals in one pack
    assert len({w for w in words if not w.isupper()}) > 16
    lfs = [KeywordLF(f"kw_{i}", "SPAM", keywords=(w,), case_sensitive=w.isupper()) for i, w in enumerate(words)] + [
        RegexLF("rx_two", "HAM", pattern=r"sh.*aab", ignore_case=True),
        # Tried only a bounded width before its literal: two code points, up to four UTF-16 units.
        RegexLF("rx_wide", "SPAM", pattern=r"^.{2}free"),
        RegexLF("rx_word", "HAM", pattern=r"( |^)(thanks\.|thanks)[^\w]*( |$)", lowercase=True),
        RegexLF("rx_after", "SPAM", pattern=r"(?<=\d)(usd|eur)\b", ignore_case=True, lowercase=True),
        # Overlapping windows before repeated anchors: each start is tried once.
        RegexLF("rx_window", "SPAM", pattern=r".{2,5}e$"),
        RegexLF("rx_one_start", "HAM", pattern=r"(?<=x)..e"),
    ]
    packs = [LFPack("overlap", ("HAM", "SPAM"), lfs)]
    if scan == "few literals":
        packs = [LFPack("overlap", ("HAM", "SPAM"), lfs[i : i + 4]) for i in range(0, len(lfs), 4)]
    texts = ["ushers", "aaaa", "h", "", "babab", "x\U0001f600x", "a SHE aab", "hishers", "USHERS aaB", "aa"]
    texts += ["\U0001f600\U0001f600free", "xyfree", "xyzfree", "ok THANKS. bye", "thanksgiving thanks", "xthanks"]
    texts += ["10USD", "ten usd", "5eur5eur", "\U0001f600\U0001f600\U0001f600free", "x\U0001f600free", "\U0001f600free"]
    texts += ["eeeeeeeeeeee", "xxeyyyyyyye", "abe", "ae", "\U0001f600\U0001f600e", "e\U0001f600e\U0001f600eeqe"]
    texts += ["axaee", "xaee", "axxaeee"]
    texts += ["".join(word) for n in range(6, 9) for word in itertools.product("axe", repeat=n) if word[-1] == "e"]
    df = spark.createDataFrame([(str(i), t) for i, t in enumerate(texts)], "id string, text string")
    for pack in packs:
        got = {r["id"]: list(r["got"]) for r in votes_as_arrays(df, pack).collect()}
        references = [python_lf(lf, pack) for lf in pack.declarative]
        for i, text in enumerate(texts):
            assert got[str(i)] == [f(text) for f in references], (text, pack.names)
    wide = next(lf for lf in lfs if lf.name == "rx_wide")
    assert condition_spec(wide, 0)["anchor"] == {"strings": ["free"], "low": 2, "high": 2}


def test_word_count_splits_on_every_python_whitespace_code_point(spark) -> None:
    """All of Unicode, one row per code point: 'a<c>b' is two words exactly when c.isspace()."""
    rows = [(str(cp), f"a{chr(cp)}b") for cp in range(sys.maxunicode + 1) if not 0xD800 <= cp <= 0xDFFF]
    pack = LFPack("t", ("HAM", "SPAM"), [WordCountLF("two_words", "HAM", min_words=2, max_words=3)])
    df = spark.createDataFrame(rows, "id string, text string")
    two_words = {r["id"] for r in votes_long(df, pack).collect()}
    expected = {cp for cp, text in rows if len(text.split()) == 2}
    assert two_words == expected
    assert len(expected) == 29  # Python's str.isspace() set


def test_null_and_empty_texts_get_no_text_votes(spark) -> None:
    pack = LFPack(
        "t", ("HAM", "SPAM"), [KeywordLF("kw", "SPAM", keywords=("a",)), WordCountLF("few", "HAM", max_words=3)]
    )
    df = spark.createDataFrame([("null", None), ("empty", "")], "id string, text string")
    assert sorted((r.id, r.lf) for r in votes_long(df, pack).collect()) == [("empty", "few")]


@pytest.mark.parametrize(
    ("pack_name", "folder", "split"),
    [
        ("sms_spam", "sms", "train"),
        ("trec", "trec", "valid"),
        ("youtube_spam", "youtube", "test"),
    ],
)
def test_kernel_reproduces_wrench_votes(spark, pack_name: str, folder: str, split: str) -> None:
    """The golden tests again, through ``votes_long`` (the kernel) instead of the expressions."""
    full = load_pack(pack_name)
    pack = LFPack(full.name, full.classes, full.declarative)
    data = json.loads((DATA_ROOT / "wrench" / folder / f"{split}.json").read_text())
    rows = [(k, v["data"]["text"], v["weak_labels"][: len(pack)]) for k, v in data.items()]
    df = spark.createDataFrame(rows, "id string, text string, expected array<int>")
    got = votes_as_arrays(df, pack).join(df.select("id", "expected"), "id")
    mismatches = got.where("expected != got").limit(3).collect()
    assert not mismatches, mismatches
    assert got.count() == len(rows) > 100
