"""Row pattern codes summed in apply's projection equal the codes regrouped from the long votes,
and the votes exploded from the codes stored with them are the votes."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd
import pytest
from pyspark.sql import functions as F

from jobs.core.datasets import get_dataset
from jobs.core.settings import Settings
from jobs.patterns.vote_patterns import PatternCodec, row_patterns
from jobs.stages.apply.votes import VOTE_CODES, compute_votes, pattern_codes, votes_of_codes
from lf_library.packs import load_pack
from tests.conftest import DATA_ROOT, YOUTUBE, write_config


def _sms() -> pd.DataFrame:
    lines = (DATA_ROOT / "sms_spam" / "SMSSpamCollection").read_text(encoding="utf-8").splitlines()
    return pd.DataFrame({"id": [f"sms:{i}" for i in range(len(lines))], "text": [x.split("\t", 1)[1] for x in lines]})


def _youtube() -> pd.DataFrame:
    frames = [pd.read_csv(f) for f in sorted((DATA_ROOT / "youtube_spam").glob("*.csv"))]
    comments = pd.concat(frames).drop_duplicates("COMMENT_ID")
    return pd.DataFrame({"id": comments["COMMENT_ID"].astype(str), "text": comments["CONTENT"].astype(str)})


@pytest.mark.parametrize("dataset", ["sms_spam", "youtube_spam"])
def test_codes_from_the_projection_equal_the_votes_regrouped_by_id(
    spark, tmp_path: Path, settings: Settings, dataset: str
) -> None:
    """sms_spam: 73 kernel LFs over two code columns; youtube_spam: Python LFs, whose abstains are
    null codes. Every row gets the codes the fit would build from the votes apply writes."""
    configured = dataclasses.replace(
        settings, config_path=write_config(tmp_path / "datasets.toml", {"youtube_spam": YOUTUBE})
    )
    ds = get_dataset("youtube_spam", configured)
    pack = load_pack(dataset)
    source = spark.createDataFrame(_sms() if dataset == "sms_spam" else _youtube())
    codec = PatternCodec.for_lfs(pack.names, len(pack.classes))
    assert codec is not None
    votes, _, cached = compute_votes(source, pack, ds)
    codes, _, more_cached = pattern_codes(source, pack, ds, codec)
    try:
        assert votes is not None and codes is not None
        expected = row_patterns(source.select("id"), votes, pack.names, len(pack.classes))
        assert codes.columns == ["id", *expected.keys, VOTE_CODES]
        packed = codes.select("id", *expected.keys)
        got, want = sorted(map(tuple, packed.collect())), sorted(map(tuple, expected.rows.collect()))
        assert len(got) == source.count() and got == want
        assert sum(1 for row in got if any(row[1:])) > len(got) // 4  # most rows have some vote
        stored = codes.localCheckpoint().select("id", F.col(VOTE_CODES).alias("codes"))
        assert sorted(map(tuple, votes_of_codes(stored, pack).collect())) == sorted(map(tuple, votes.collect()))
    finally:
        for frame in cached + more_cached:
            frame.unpersist()
