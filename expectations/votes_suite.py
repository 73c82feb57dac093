"""The contract on a run's votes: every vote in its LF's label space; every LF fires somewhere.

Both are properties of the distinct ``(lf, vote)`` pairs, not of single votes, so
the suite runs on those pairs, then Great Expectations on a pandas frame of a few
hundred rows, whatever the row count. An LF's votes are settled without reading
them when the table's file statistics do it (:func:`in_space_from_ranges`): none is
null, and every integer from the least to the greatest is a vote the LF may cast.
The others are counted by one Spark aggregate over their votes (the LF is the
table's partition column, so only the vote column of their files is read). At 10M
rows the suite had been GX's map expectations over some 20M votes, about 8 s.

``vote_in_label_space`` is each pair checked against the votes its LF may cast
(a keyword LF declares one class; a Python LF may vote any class). The pairs
outside are counted in Spark and the most frequent are handed to GX, so a
buggy LF that returns a different number on every row still makes a small
frame. A failure names the pairs, their vote counts and a few row ids
(:func:`votes_view`). An LF that never votes is flagged by
``ExpectColumnDistinctValuesToContainSet`` (a warning by default).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from expectations.descriptions import checked_suite

if TYPE_CHECKING:  # GX takes seconds to import: only a stage that validates pays for it
    import great_expectations as gx

PAIRS_SHOWN = 20
"""At most this many out-of-space pairs go into the suite's frame (the most frequent)."""
IDS_SHOWN = 5


@dataclass(frozen=True)
class OutsideSpace:
    """The votes no LF may cast: how many, in how many ``(lf, vote)`` pairs, and the most frequent pairs
    with a few of their row ids."""

    votes: int = 0
    pairs: int = 0
    shown: list[dict[str, Any]] = field(default_factory=list)


def vote_pairs(spark: SparkSession, votes: DataFrame, vote_space: Mapping[str, Sequence[int]]) -> DataFrame:
    """Each ``(lf, vote)`` pair of ``votes`` with its count and ``vote_in_label_space``: is it one of the
    votes ``vote_space`` lets that LF cast?"""
    allowed = [(name, int(v)) for name, space in vote_space.items() for v in space]
    space = spark.createDataFrame(allowed, "lf string, vote int").withColumn("_allowed", F.lit(True))
    counted = votes.groupBy("lf", "vote").agg(F.count(F.lit(1)).alias("votes"))
    return counted.join(F.broadcast(space), ["lf", "vote"], "left").select(
        "lf", "vote", "votes", F.coalesce("_allowed", F.lit(False)).alias("vote_in_label_space")
    )


def in_space_from_ranges(ranges: Mapping[str, Any], vote_space: Mapping[str, Sequence[int]]) -> list[dict[str, Any]]:
    """Rows of the suite's frame for the LFs of ``vote_space`` whose votes the file statistics in
    ``ranges`` place in their label space: no null vote, and every integer from the least vote to
    the greatest one the LF may cast. One row per LF: its vote when it has one, else null, and
    its vote count. ``ranges`` maps an LF to ``rows``, ``least``, ``greatest`` and ``nulls``
    (``jobs.lake.table_files.ValueRange``); an LF it lacks is not settled here."""
    settled = []
    for lf, space in vote_space.items():
        r = ranges.get(lf)
        if r is None or r.nulls or r.least is None or r.greatest is None:
            continue
        allowed = set(space)
        if r.greatest - r.least + 1 <= len(allowed) and all(v in allowed for v in range(r.least, r.greatest + 1)):
            vote = r.least if r.least == r.greatest else None
            settled.append({"lf": lf, "vote": vote, "votes": r.rows, "vote_in_label_space": True})
    return settled


def votes_view(
    votes: DataFrame | None, pairs: DataFrame | None, settled: Sequence[dict[str, Any]] = ()
) -> tuple[pd.DataFrame, OutsideSpace]:
    """The suite's frame: the ``settled`` rows (:func:`in_space_from_ranges`), then from
    :func:`vote_pairs` (persisted by the caller; None when no LF is left to count) every pair inside
    a label space and the :data:`PAIRS_SHOWN` most frequent outside; with the outside votes counted
    and their row ids sampled from ``votes`` (only when there are any)."""
    if votes is None or pairs is None:
        return _frame(list(settled)), OutsideSpace()
    inside = [r.asDict() for r in pairs.where("vote_in_label_space").collect()]
    outside_pairs = pairs.where(~F.col("vote_in_label_space"))
    top = [r.asDict() for r in outside_pairs.orderBy(F.desc("votes"), "lf", "vote").limit(PAIRS_SHOWN).collect()]
    # An LF whose only votes are outside its space still fires: one pair of each such LF joins the frame.
    per_lf = outside_pairs.groupBy("lf").agg(F.max_by("vote", "votes").alias("vote"), F.max("votes").alias("votes"))
    seen = {(p["lf"], p["vote"]) for p in top}
    extra = [r.asDict() for r in per_lf.collect()] if top else []
    top += [{**p, "vote_in_label_space": False} for p in extra if (p["lf"], p["vote"]) not in seen]
    outside = OutsideSpace()
    if top:
        totals = outside_pairs.agg(F.count(F.lit(1)).alias("pairs"), F.sum("votes").alias("votes")).first()
        shown = [{"lf": p["lf"], "vote": p["vote"], "votes": p["votes"]} for p in top]
        for pair in shown[:IDS_SHOWN]:
            of_pair = votes.where((F.col("lf") == pair["lf"]) & (F.col("vote") == pair["vote"]))
            pair["ids"] = [r["id"] for r in of_pair.select("id").limit(IDS_SHOWN).collect()]
        outside = OutsideSpace(int(totals["votes"]), int(totals["pairs"]), shown)
    return _frame([*settled, *inside, *top]), outside


def _frame(pairs: list[dict[str, Any]]) -> pd.DataFrame:
    columns = ["lf", "vote", "votes", "vote_in_label_space"]
    frame = pd.DataFrame([{c: p[c] for c in columns} for p in pairs], columns=columns)
    return frame.astype({"lf": "string", "vote": "Int64", "votes": "int64", "vote_in_label_space": "bool"})


def build_votes_suite(name: str, lf_names: Sequence[str]) -> gx.ExpectationSuite:
    import great_expectations as gx

    E = gx.expectations
    return checked_suite(
        name,
        [
            (
                E.ExpectColumnValuesToBeInSet(column="vote_in_label_space", value_set=[True]),
                "votes_in_label_space",
                "every vote is a class its LF may vote",
            ),
            (
                E.ExpectColumnDistinctValuesToContainSet(column="lf", value_set=list(lf_names)),
                "votes_lf_fires",
                f"all {len(lf_names)} LFs vote on some row",
            ),
        ],
    )


def observed_votes_value(names: list[str], outside: OutsideSpace | None = None):
    def observed(check: str, result: dict) -> object:
        if check == "votes_lf_fires":
            # GX 1.24 reports the set members it did not see in ``partial_missing_list`` (its
            # ``observed_value`` is null for this expectation); older results carry the values seen.
            if "partial_missing_list" in result or "missing_count" in result:
                return {"silent_lfs": sorted(result.get("partial_missing_list") or [])}
            return {"silent_lfs": sorted(set(names) - set(result.get("observed_value") or []))}
        if outside is not None:  # GX saw pairs; the votes were counted in Spark
            return {"unexpected_count": outside.votes, "pairs": outside.pairs, "sample": outside.shown[:IDS_SHOWN]}
        return {
            "unexpected_count": result.get("unexpected_count", 0),
            "sample": result.get("partial_unexpected_index_list", [])[:5],
        }

    return observed
