"""The token lookup for many keyword LFs gives exactly the votes of the per-LF expressions."""

from __future__ import annotations

import gzip
import json
from itertools import islice

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.stages.apply.votes import votes_long
from lf_library.compile import compile_lf
from lf_library.core import KeywordLF, LFPack
from lf_library.keyword_index import MIN_LFS_FOR_INDEX, indexable, split_for_index
from lf_library.packs import load_pack
from lf_library.reference import python_lf
from tests.conftest import DATA_ROOT

EDGE_TEXTS = [
    ("e1", "Café society: a NAÏVE plot, naïve acting; the_end is near. CAFÉ!"),
    ("e2", "bad_movie bad-movie BAD 10/10 well...worth it"),
    ("e3", "Ünïcödé wörds: señor, façade, straße; Good good GOOD"),
    ("e4", ""),
    ("e5", None),
]


def _per_lf_votes(source: DataFrame, pack: LFPack) -> DataFrame:
    """The reference path: one compiled expression per LF, exploded."""
    wide = source.select("id", *[compile_lf(lf, pack, F.col("text")) for lf in pack.declarative])
    entries = [F.struct(F.lit(lf.name).alias("lf"), F.col(lf.name).alias("vote")) for lf in pack.declarative]
    return (
        wide.select("id", F.explode(F.array(*entries)).alias("v")).where("v.vote >= 0").select("id", "v.lf", "v.vote")
    )


def _reviews(spark, n: int) -> DataFrame:
    with gzip.open(DATA_ROOT / "imdb" / "train.jsonl.gz", "rt") as handle:
        rows = [(r["id"], r["text"]) for r in map(json.loads, islice(handle, n))]
    return spark.createDataFrame(rows + EDGE_TEXTS, "id string, text string")


def _pack_with_edge_cases() -> LFPack:
    imdb = load_pack("imdb")
    extra = [
        KeywordLF("kw_cafe_naive", "POS", keywords=("café", "naïve", "cafe"), match="word"),
        KeywordLF("kw_the_end", "NEG", keywords=("the_end",), match="word"),
        KeywordLF("kw_bad_cs", "NEG", keywords=("BAD", "Bad"), match="word", case_sensitive=True),
        KeywordLF("kw_good_cs", "POS", keywords=("Good",), match="word", case_sensitive=True),
        KeywordLF("kw_ten", "POS", keywords=("10",), match="word"),
        KeywordLF("kw_strasse", "POS", keywords=("straße",), match="word"),
    ]
    return LFPack("imdb_plus", imdb.classes, list(imdb) + extra)


def test_token_lookup_equals_per_lf_expressions_on_real_reviews(spark) -> None:
    pack = _pack_with_edge_cases()
    indexed, compiled = split_for_index(pack)
    assert len(indexed) >= MIN_LFS_FOR_INDEX
    assert not any(indexable(lf) for lf in compiled)  # only phrases stay per-LF
    source = _reviews(spark, 3000)
    got = votes_long(source, pack).select("id", "lf", "vote")
    expected = _per_lf_votes(source, pack)
    assert got.count() == expected.count() > 3000
    assert got.exceptAll(expected).count() == 0 and expected.exceptAll(got).count() == 0
    edge = {(r.lf, r.vote) for r in got.where("id = 'e1'").collect()}
    assert ("kw_cafe_naive", 1) in edge and ("kw_the_end", 0) in edge


def test_token_lookup_matches_python_semantics_on_edge_texts(spark) -> None:
    pack = _pack_with_edge_cases()
    source = spark.createDataFrame(EDGE_TEXTS, "id string, text string")
    got = {(r.id, r.lf, r.vote) for r in votes_long(source, pack).collect()}
    expected = {(row_id, lf.name, python_lf(lf, pack)(text)) for row_id, text in EDGE_TEXTS for lf in pack} - {
        (i, n, -1) for i, _ in EDGE_TEXTS for n in pack.names
    }
    assert got == expected


def test_small_or_phrase_packs_keep_per_lf_expressions() -> None:
    youtube = load_pack("youtube_spam")
    assert split_for_index(youtube)[0] == []
    assert not indexable(KeywordLF("bigram", "POS", keywords=("not good",), match="word"))
    assert not indexable(KeywordLF("substr", "POS", keywords=("good",)))
