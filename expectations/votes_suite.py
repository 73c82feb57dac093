"""The contract on a run's votes: every vote in its LF's label space; every LF fires somewhere.

``vote_in_label_space`` is computed by joining each vote with the small broadcast
table of the votes each LF may cast (a keyword LF declares one class; a Python
LF may vote any class), so one GX map expectation covers every LF, and a
failure lists offending ``(id, lf)`` pairs. An LF that never votes is flagged
by ``ExpectColumnDistinctValuesToContainSet`` (a warning by default).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from expectations.descriptions import checked_suite

if TYPE_CHECKING:  # GX takes seconds to import: only a stage that validates pays for it
    import great_expectations as gx


def votes_view(spark: SparkSession, votes: DataFrame, vote_space: Mapping[str, Sequence[int]]) -> DataFrame:
    """Each vote with ``vote_in_label_space``: is it one of the votes ``vote_space`` lets its LF cast?"""
    allowed = [(name, int(v)) for name, space in vote_space.items() for v in space]
    space = spark.createDataFrame(allowed, "lf string, vote int").withColumn("_allowed", F.lit(True))
    return votes.join(F.broadcast(space), ["lf", "vote"], "left").select(
        "id", "lf", "vote", F.coalesce("_allowed", F.lit(False)).alias("vote_in_label_space")
    )


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


def observed_votes_value(names: list[str]):
    def observed(check: str, result: dict) -> object:
        if check == "votes_lf_fires":
            # GX 1.24 reports the set members it did not see in ``partial_missing_list`` (its
            # ``observed_value`` is null for this expectation); older results carry the values seen.
            if "partial_missing_list" in result or "missing_count" in result:
                return {"silent_lfs": sorted(result.get("partial_missing_list") or [])}
            return {"silent_lfs": sorted(set(names) - set(result.get("observed_value") or []))}
        return {
            "unexpected_count": result.get("unexpected_count", 0),
            "sample": result.get("partial_unexpected_index_list", [])[:5],
        }

    return observed
