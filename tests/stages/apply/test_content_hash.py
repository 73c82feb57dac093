"""The source's content hash tells apart every row content an LF could read differently, and a
source hashed another way (an older labellake's SHA-256 text) makes the next run recompute in full."""

from __future__ import annotations

from pathlib import Path

from pyspark.sql import functions as F

from jobs.core.lineage import RunContext
from jobs.lake.tables import TableRef, commit_metadata
from jobs.stages.apply.recompute_plan import plan_recompute
from jobs.stages.ingest.rows import content_hash
from lf_library.packs import load_pack


def test_hash_keeps_nulls_empties_boundaries_and_names_apart(spark) -> None:
    rows = [
        ("same", "free gift", "5"),
        ("same again", "free gift", "5"),
        ("null score", "free gift", None),
        ("empty score", "free gift", ""),
        ("moved boundary", "free gif", "t5"),
        ("other text", "free gifts", "5"),
        ("null both", None, None),
        ("empty both", "", ""),
    ]
    frame = spark.createDataFrame(rows, "case string, text string, score string")
    hashed = frame.select(
        "case",
        content_hash([("text", F.col("text")), ("score", F.col("score"))]).alias("h"),
        content_hash([("text", F.col("text")), ("points", F.col("score"))]).alias("renamed"),
    )
    got = {r["case"]: (r["h"], r["renamed"]) for r in hashed.collect()}
    assert got["same"] == got["same again"]
    hashes = [h for case, (h, _) in got.items() if case != "same again"]
    assert len(set(hashes)) == len(hashes)  # every other content hashes apart
    assert all(h != renamed for h, renamed in got.values())  # a column's name is part of it


def test_a_source_hashed_another_way_is_recomputed_in_full(spark, tmp_path: Path) -> None:
    """The votes on record describe source v0, whose hashes are SHA-256 text (as before
    docs/decisions/0014); v1's are 64-bit: rows cannot be compared, so every row is recomputed."""
    pack = load_pack("youtube_spam")
    source = TableRef("ds", "source", tmp_path / "source")
    old = spark.createDataFrame([("a", "x", "9f" * 32)], "id string, text string, _content_hash string")
    old.write.format("delta").save(str(source.path))
    new = old.select("id", "text", F.xxhash64("text").alias("_content_hash"))
    new.write.format("delta").mode("overwrite").option("overwriteSchema", "true").save(str(source.path))
    votes = TableRef("ds", "votes", tmp_path / "votes")
    meta = commit_metadata(
        run_id="r0", lf_versions=pack.versions, source_version=0, classes=list(pack.classes), mode="full"
    )
    one_vote = spark.createDataFrame(
        [("a", pack.names[0], 1, "v")], "id string, lf string, vote int, lf_version string"
    )
    one_vote.write.format("delta").partitionBy("lf").option("userMetadata", meta).save(str(votes.path))

    plan = plan_recompute(spark, RunContext("r1", "ds"), pack, votes, source, 1)
    assert plan.mode == "full"
    assert "content hashes are string, v1's bigint" in plan.reason
