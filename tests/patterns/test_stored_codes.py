"""Row codes apply stores before its votes are used only once those votes exist and are that run's."""

from __future__ import annotations

from pathlib import Path

from jobs.lake.tables import TableRef, commit_metadata
from jobs.patterns.incremental import store_patterns, updated_patterns
from jobs.patterns.vote_patterns import PatternCodec
from jobs.stages.apply.votes import VOTES_SCHEMA

LFS = ["lf_a", "lf_b"]


def _write_votes(spark, ref: TableRef, run_id: str, mode: str) -> None:
    meta = commit_metadata(run_id=run_id, mode=mode, source_version=0, lfs=LFS, recomputed=LFS, removed=[])
    rows = [("r1", "lf_a", 1, "v1"), ("r2", "lf_b", 0, "v1")]
    frame = spark.createDataFrame(rows, VOTES_SCHEMA)
    frame.write.format("delta").mode("overwrite").option("userMetadata", meta).save(str(ref.path))


def test_codes_naming_votes_another_run_wrote_are_rebuilt(spark, tmp_path: Path) -> None:
    """A full apply stores its codes naming the votes version it is about to write. When that write
    dies, the version may later be written by another run: the codes describe none of it."""
    votes = TableRef("t", "votes", tmp_path / "votes")
    patterns = TableRef("t", "row_patterns", tmp_path / "row_patterns")
    codec = PatternCodec.for_lfs(LFS, 2)
    assert codec is not None
    codes = spark.createDataFrame([("r1", 2 * 3), ("r2", 1)], "id string, _p0 long")
    _write_votes(spark, votes, "night-1", "full")  # votes v0
    store_patterns(codes, patterns, codec, "night-2", 0, 1, LFS, "apply_lfs")  # night-2 dies before its votes

    def updated(votes_version: int):
        return updated_patterns(spark, patterns, votes, codec, 0, votes_version, LFS)

    assert updated(0) is None  # the codes name a votes version that does not exist yet
    _write_votes(spark, votes, "night-3", "incremental")  # v1, written by another run
    assert updated(1) is None
    store_patterns(codes, patterns, codec, "night-3", 0, 1, LFS, "apply_lfs")  # night-3's own codes
    taken = updated(1)
    assert taken is not None and taken.stored_run == "night-3" and not taken.edited
    assert sorted(map(tuple, taken.rows.collect())) == [("r1", 6), ("r2", 1)]


def test_codes_of_an_earlier_full_run_take_the_later_edits(spark, tmp_path: Path) -> None:
    """The LF-edit rerun after a full run: the codes name the full run's votes version, an older
    one, whose commit must be read as that version's (not the newest commit's)."""
    votes = TableRef("t", "votes", tmp_path / "votes")
    patterns = TableRef("t", "row_patterns", tmp_path / "row_patterns")
    codec = PatternCodec.for_lfs(LFS, 2)
    assert codec is not None
    codes = spark.createDataFrame([("r1", 2 * 3), ("r2", 1)], "id string, _p0 long")
    store_patterns(codes, patterns, codec, "night-1", 0, 0, LFS, "apply_lfs")
    _write_votes(spark, votes, "night-1", "full")  # v0
    _write_votes(spark, votes, "night-2", "incremental")  # v1: both LFs recomputed
    taken = updated_patterns(spark, patterns, votes, codec, 0, 1, LFS)
    assert taken is not None and taken.stored_run == "night-1" and taken.edited == tuple(LFS)
