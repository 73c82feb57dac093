"""Golden tests: the sms_spam and trec rule packs reproduce WRENCH's stored votes exactly."""

from __future__ import annotations

import json

import pytest
from pyspark.sql import functions as F

from lf_library.compile import compile_pack
from lf_library.packs import load_pack
from tests.conftest import DATA_ROOT


@pytest.mark.parametrize(
    ("pack_name", "folder", "split", "n_lfs"),
    [
        ("sms_spam", "sms", "train", 73),
        ("trec", "trec", "train", 68),
        ("trec", "trec", "valid", 68),
    ],
)
def test_rule_pack_reproduces_wrench_votes(spark, pack_name: str, folder: str, split: str, n_lfs: int) -> None:
    pack = load_pack(pack_name)
    assert len(pack) == n_lfs
    labels = json.loads((DATA_ROOT / "wrench" / folder / "label.json").read_text())
    assert [labels[str(i)].upper() for i in range(len(labels))] == list(pack.classes)
    data = json.loads((DATA_ROOT / "wrench" / folder / f"{split}.json").read_text())
    rows = [(k, v["data"]["text"], v["weak_labels"]) for k, v in data.items()]
    df = spark.createDataFrame(rows, "id string, text string, expected array<int>")
    got = df.select("id", "expected", F.array(*compile_pack(pack)).alias("got"))
    mismatches = got.where("expected != got").limit(3).collect()
    assert not mismatches, mismatches
    assert got.count() == len(rows)


def test_imdb_pack_reads_the_published_keyword_list() -> None:
    pack = load_pack("imdb")
    assert len(pack) == 136
    assert sum(lf.label == "POS" for lf in pack) == 57
    assert pack.names[0] == "pos_absorbed" and "neg_waste_money" in pack.names
