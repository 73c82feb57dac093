"""The expectations gate on real data: a normal run passes, a bad LF edit and an emptied column do not.

The YouTube comments are relabeled once with the tutorial LFs (published),
then with an LF added that votes SPAM on every row: the class-balance and
drift expectations fail, nothing is published, and the labels table keeps its
version. A copy of the comments whose text column was emptied fails the source
suite at ingest, naming the column and its null share, and leaves the source
table as it was.
"""

from __future__ import annotations

import dataclasses
import glob
import json
import math
from pathlib import Path
from urllib.parse import unquote

import pandas as pd
import pytest
from deltalake import DeltaTable
from pyspark.sql import functions as F

from jobs.core.errors import ValidationFailed
from jobs.core.lineage import RunContext
from jobs.core.settings import Settings
from jobs.lake.runs import run_record
from jobs.lake.tables import table
from jobs.pipeline import run_pipeline, run_stage
from tests.conftest import DATA_ROOT, PACK_V1_RUN, THRESHOLDS, YOUTUBE, shares_first_run, write_config

DATASET = "youtube_spam"


def _settings(base: Settings, tmp_path: Path, pack: str, **overrides: object) -> Settings:
    config = write_config(
        tmp_path / f"{pack.split(':')[-1]}.toml",
        {DATASET: {**YOUTUBE, "lf_pack": pack, "expectations": THRESHOLDS, **overrides}},
    )
    return dataclasses.replace(base, config_path=config)


def _checks(outcomes: list[dict]) -> dict[str, dict]:
    return {o["check"]: o for o in outcomes}


@shares_first_run("pack_v1")
@pytest.mark.slow
def test_spam_everywhere_lf_fails_balance_and_drift(spark, lake_after_run, tmp_path: Path) -> None:
    good, _ = lake_after_run(*PACK_V1_RUN)
    record = run_record(spark, good, "good")
    checks = _checks(json.loads(record["validation"]))
    assert all(o["success"] for o in checks.values())
    assert "drift_kl" not in checks  # first run: nothing to drift from
    assert checks["gold_accuracy"]["observed"] == pytest.approx(1333 / 1436, abs=1e-4)
    source_checks = _checks(json.loads(record["source_validation"]))
    assert {"source_text_not_null", "source_row_count"} <= set(source_checks)
    # 3 comment ids occur twice in the files: GX checks that the accepted ones are unique.
    assert source_checks["source_id_unique"]["observed"] == {"unexpected_count": 0, "sample": []}
    assert _checks(json.loads(record["votes_validation"]))["votes_in_label_space"]["success"]
    docs = json.loads(record["data_docs"])
    assert Path(docs["index"]).is_file() and docs["pages"]
    assert any("drift checks skipped" in note for note in docs["notes"])
    labels = table(good, DATASET, "labels")
    version = DeltaTable(str(labels.path)).version()

    bad = _settings(good, tmp_path, "tests.packs.incremental_packs:pack_spam_everywhere")
    with pytest.raises(ValidationFailed) as failure:
        run_pipeline(RunContext("bad", DATASET), bad, spark)
    failed = {f["check"] for f in failure.value.failures}
    assert {"class_share_max[SPAM]", "drift_kl", "drift_label_changes"} <= failed
    assert "class_share_max[SPAM]" in str(failure.value) and "drift_kl" in str(failure.value)
    assert DeltaTable(str(labels.path)).version() == version  # not published
    assert DeltaTable(str(labels.path)).to_pandas()["_run_id"].eq("good").all()
    record = run_record(spark, bad, "bad")
    assert record["status"] == "failed" and "drift_kl" in record["error"]
    outcomes = _checks(json.loads(record["validation"]))
    assert outcomes["drift_kl"]["observed"] > 0.1 and not outcomes["drift_kl"]["success"]
    assert outcomes["drift_lf_coverage"]["success"]  # the other LFs did not move; the new one has no past
    staging = DeltaTable(str(table(bad, DATASET, "staging_labels").path)).to_pandas()
    assert (staging["_run_id"] == "bad").sum() == 1953  # kept for inspection

    # What the on-call engineer opens: the failed run's report and its failed Data Docs page render
    # offline in a real browser, and say that it failed (issue 32).
    from jobs.reports.run_report import write_run_report
    from tests.browser import assert_renders, look_offline

    report = write_run_report(bad, DATASET, "bad")
    assert "FAILED" in report.read_text() and "v0 (published)" in report.read_text()  # candidates beside v0
    assert_renders(look_offline(report, tmp_path / "failed_report.png"))
    failed_page = Path(unquote(json.loads(record["data_docs"])["pages"][0].removeprefix("file://")))
    assert "Failed" in failed_page.read_text()
    assert "of the labeled rows are SPAM" in failed_page.read_text()  # a sentence, not GX's column line
    assert_renders(look_offline(failed_page, tmp_path / "failed_data_docs.png"))


@shares_first_run("pack_v1")
def test_bad_run_published_when_its_failures_are_warnings(spark, lake_after_run, tmp_path: Path) -> None:
    good, _ = lake_after_run(*PACK_V1_RUN)
    lenient = _settings(
        good,
        tmp_path,
        "tests.packs.incremental_packs:pack_spam_everywhere",
        expectations={
            **THRESHOLDS,
            "severity": {
                "class_share_max": "warning",
                "class_share_min": "warning",
                "drift_kl": "warning",
                "drift_label_changes": "warning",
                "gold_accuracy": "warning",
                "drift_mean_confidence": "warning",
            },
        },
    )
    run_pipeline(RunContext("lenient", DATASET), lenient, spark)
    record = run_record(spark, lenient, "lenient")
    assert record["status"] == "published"
    warned = {w["check"] for w in json.loads(record["warnings"])}
    assert {"class_share_max[SPAM]", "drift_kl"} <= warned
    assert json.loads(record["thresholds"])["severity"]["drift_kl"] == "warning"


def test_emptied_text_column_fails_source_suite(spark, settings: Settings, tmp_path: Path) -> None:
    data = tmp_path / "raw"
    data.mkdir()
    frames = {
        Path(p).name: pd.read_csv(p, dtype=str, keep_default_na=False)
        for p in sorted(glob.glob(str(DATA_ROOT / "youtube_spam" / "*.csv")))
    }
    seen: set[str] = set()
    for name, frame in frames.items():  # each id once: the ingest's id count answers source_id_unique
        frames[name] = frame[~frame["COMMENT_ID"].isin(seen)].drop_duplicates("COMMENT_ID")
        seen |= set(frame["COMMENT_ID"])
        frames[name].to_csv(data / name, index=False)
    ds = _settings(settings, tmp_path, "youtube_spam", source_path=str(data / "*.csv"))
    run_stage("ingest", RunContext("full-text", DATASET), ds, spark)
    counted = _checks(json.loads(run_record(spark, ds, "full-text")["source_validation"]))["source_id_unique"]
    assert counted["success"] and counted["observed"]["counted"] == "no input id occurs twice"
    source = table(ds, DATASET, "source")
    version = DeltaTable(str(source.path)).version()
    for name, frame in frames.items():
        frame.assign(CONTENT="").to_csv(data / name, index=False)
    with pytest.raises(ValidationFailed) as failure:
        run_stage("ingest", RunContext("empty-text", DATASET), ds, spark)
    message = str(failure.value)
    assert "source_text_not_null" in message and "on CONTENT" in message and "'null_share': 1.0" in message
    assert DeltaTable(str(source.path)).version() == version
    assert run_record(spark, ds, "empty-text")["status"] == "failed"
    # Its report says where the run stopped and why, with no placeholders for what never ran.
    from jobs.reports.run_report import write_run_report

    page = write_run_report(ds, DATASET, "empty-text").read_text()
    assert "failed at ingest" in page and "source_text_not_null" in page and "None" not in page


def test_votes_suite_names_silent_lfs_and_votes_outside_their_space(spark, settings: Settings, tmp_path: Path) -> None:
    """Real votes of the tutorial LFs on real comments, with two LFs' votes removed and one LF's
    SPAM votes turned to HAM: ``votes_lf_fires`` names exactly the two silent LFs (GX 1.24 leaves
    its ``observed_value`` empty, so the names come from its missing list), and
    ``votes_in_label_space`` counts the turned votes and names their pair and rows. The same
    holds when the votes are a Delta table whose file statistics settle the sound LFs: only the
    turned LF's votes are read."""
    from expectations.gx_runner import run_suite
    from expectations.votes_suite import (
        build_votes_suite,
        in_space_from_ranges,
        observed_votes_value,
        vote_pairs,
        votes_view,
    )
    from jobs.core.datasets import get_dataset
    from jobs.lake.table_files import partition_value_ranges
    from jobs.lake.tables import TableRef
    from jobs.stages.apply.votes import compute_votes
    from lf_library.packs import load_pack

    pack = load_pack("youtube_spam")
    comments = pd.read_csv(sorted(glob.glob(str(DATA_ROOT / "youtube_spam" / "*.csv")))[0])
    frame = spark.createDataFrame(
        comments[["COMMENT_ID", "CONTENT"]].rename(columns={"COMMENT_ID": "id", "CONTENT": "text"})
    )
    ds = get_dataset(DATASET, _settings(settings, tmp_path, "youtube_spam"))
    votes, _, _ = compute_votes(frame, pack, ds)  # the votes apply_lfs writes: (id, lf, vote, lf_version)
    votes = votes.where(~F.col("lf").isin("keyword_song", "short_comment"))
    turned = votes.withColumn("vote", F.when(F.col("lf") == "keyword_link", F.lit(0)).otherwise(F.col("vote")))
    link_ids = {r["id"] for r in votes.where(F.col("lf") == "keyword_link").select("id").collect()}

    def outcomes(view, outside):
        checked = run_suite(
            tmp_path, DATASET, lambda: build_votes_suite("votes", pack.names), view, "run-x",
            lambda check: "warning", observed_votes_value(pack.names, outside), index_columns=["lf", "vote"],
        )  # fmt: skip
        return _checks(checked.outcomes)

    def check(votes):
        return outcomes(*votes_view(votes, vote_pairs(spark, votes, pack.vote_space())))

    def check_through_statistics(votes, name):
        ref = TableRef(DATASET, name, tmp_path / name)
        votes.write.format("delta").partitionBy("lf").save(str(ref.path))
        ranges = partition_value_ranges(ref, 0, "lf", "vote")
        assert ranges is not None and set(ranges) == set(pack.names) - {"keyword_song", "short_comment"}
        settled = in_space_from_ranges(ranges, pack.vote_space())
        to_count = sorted(set(ranges) - {r["lf"] for r in settled})
        if not to_count:
            return outcomes(*votes_view(None, None, settled)), to_count
        read = ref.read(spark, 0).where(F.col("lf").isin(to_count))
        return outcomes(*votes_view(read, vote_pairs(spark, read, pack.vote_space()), settled)), to_count

    by_stats, counted = check_through_statistics(votes, "sound")
    assert counted == []  # every LF settled by its statistics: no vote read
    for sound in (check(votes), by_stats):
        assert not sound["votes_lf_fires"]["success"]
        assert sound["votes_lf_fires"]["observed"] == {"silent_lfs": ["keyword_song", "short_comment"]}
        assert sound["votes_in_label_space"]["success"]
    by_stats, counted = check_through_statistics(turned, "turned")
    assert counted == ["keyword_link"]  # only the LF whose statistics leave its space is read
    for checks in (check(turned), by_stats):
        outside = checks["votes_in_label_space"]
        assert not outside["success"] and outside["observed"]["unexpected_count"] == len(link_ids) > 0
        (pair,) = outside["observed"]["sample"]
        assert (pair["lf"], pair["vote"], pair["votes"]) == ("keyword_link", 0, len(link_ids))
        assert set(pair["ids"]) <= link_ids and len(pair["ids"]) == min(5, len(link_ids))


def test_file_statistics_settle_only_votes_inside_a_contiguous_space(tmp_path: Path) -> None:
    """An LF is settled by its statistics only when no vote is null and every integer between the
    least and greatest vote is one it may cast: a gap in its space, or a null, leaves it to be read.
    GX checks settled rows whose vote is unknown (an LF that casts several)."""
    from expectations.gx_runner import run_suite
    from expectations.votes_suite import build_votes_suite, in_space_from_ranges, observed_votes_value, votes_view
    from jobs.lake.table_files import ValueRange

    space = {"one": (1,), "every": (0, 1, 2), "gap": (0, 2), "nulls": (0, 1, 2), "wide": (0, 1, 2), "none": (0,)}
    ranges = {
        "one": ValueRange(rows=5, least=1, greatest=1, nulls=0),
        "every": ValueRange(rows=9, least=0, greatest=2, nulls=0),
        "gap": ValueRange(rows=4, least=0, greatest=2, nulls=0),
        "nulls": ValueRange(rows=3, least=0, greatest=1, nulls=1),
        "wide": ValueRange(rows=3, least=-(2**31), greatest=2, nulls=0),
    }
    settled = {r["lf"]: r for r in in_space_from_ranges(ranges, space)}
    assert set(settled) == {"one", "every"}
    assert (settled["one"]["vote"], settled["one"]["votes"]) == (1, 5)
    assert (settled["every"]["vote"], settled["every"]["votes"]) == (None, 9)
    view, outside = votes_view(None, None, list(settled.values()))
    checked = run_suite(
        tmp_path, DATASET, lambda: build_votes_suite("votes", list(space)), view, "run-x",
        lambda check: "warning", observed_votes_value(list(space), outside), index_columns=["lf", "vote"],
    )  # fmt: skip
    outcomes = _checks(checked.outcomes)
    assert outcomes["votes_in_label_space"]["success"]
    assert outcomes["votes_lf_fires"]["observed"] == {"silent_lfs": ["gap", "none", "nulls", "wide"]}


def test_the_suite_names_broken_rows_and_measures_shares(spark, tmp_path: Path) -> None:
    """Row-level breakage is reported with the failing ids; shares are the real shares among labeled rows."""
    from expectations.gx_runner import run_suite
    from expectations.label_summary import group_labels
    from expectations.labels_suite import (
        build_ids_suite,
        build_label_change_suite,
        build_suite,
        name_duplicate_ids,
        observed_value,
        published_stats,
    )
    from jobs.core.dataset_sections import ExpectationConfig
    from jobs.patterns.label_transitions import joined_transitions

    rows = [
        (f"r{i}", i % 2, ["HAM", "SPAM"][i % 2], [0.9, 0.1] if i % 2 == 0 else [0.2, 0.8], 0.9 if i % 2 == 0 else 0.8)
        for i in range(40)
    ]
    rows += [
        ("u1", -1, None, [0.5, 0.5], 0.5),
        ("bad-sum", 0, "HAM", [0.7, 0.7], 0.7),  # probs sum to 1.4
        ("bad-label", 5, None, [1.0, 0.0], 1.0),  # no such class
        ("bad-len", 1, "SPAM", [1.0], 1.0),  # one prob for two classes
        ("r3", 1, "SPAM", [0.2, 0.8], 0.8),
    ]  # a duplicate id
    labels = spark.createDataFrame(
        rows, "id string, label int, label_name string, probs array<double>, confidence double"
    )
    published = spark.createDataFrame([(f"r{i}", 0) for i in range(20)], "id string, label int")
    thresholds = ExpectationConfig(
        min_coverage=0.5, class_share={"HAM": (0.2, 0.8), "SPAM": (0.2, 0.45)}, max_label_change_share=0.6
    )
    stats = published_stats(
        published.withColumn("label_name", F.lit("HAM")).withColumn("confidence", F.lit(0.9)), 0, "run-0"
    )
    groups = group_labels(labels, ("HAM", "SPAM"))
    run = run_suite(
        tmp_path / "home",
        "t",
        lambda: build_suite("t_candidate_labels", ("HAM", "SPAM"), thresholds, stats),
        groups.suite_frame(stats),
        "run-1",
        thresholds.severity_of,
        observed_value,
    )
    ids_run = run_suite(
        tmp_path / "home", "t", lambda: build_ids_suite("t_candidate_ids"), labels.select("id"), "run-1",
        thresholds.severity_of, observed_value,
    )  # fmt: skip
    name_duplicate_ids(ids_run.outcomes, labels)
    checks = _checks(run.outcomes + ids_run.outcomes)
    assert not checks["rows_valid"]["success"] and not checks["id_unique"]["success"]
    assert checks["rows_present"]["observed"] == len(rows)
    problems = groups.broken_rows()
    assert problems["unexpected_count"] == 3
    assert set(problems["sample"]) == {"sum != 1", "label not in [-1, 1]", "length != 2"}
    assert sorted(problems["ids"]) == ["bad-label", "bad-len", "bad-sum"]  # which rows
    assert checks["id_unique"]["observed"] == {
        "unique_share": pytest.approx(44 / 45, abs=1e-6),
        "duplicate_ids": ["r3"],
    }
    labeled = [r for r in rows if r[1] >= 0]
    assert checks["coverage"]["observed"] == pytest.approx(len(labeled) / len(rows), abs=1e-6)
    spam = sum(r[1] == 1 for r in labeled) / len(labeled)
    assert checks["class_share_max[SPAM]"]["observed"] == pytest.approx(spam, abs=1e-6)
    assert not checks["class_share_max[SPAM]"]["success"] and checks["class_share_min[HAM]"]["success"]
    # Drift: KL(candidate classes || published, all HAM) and the mean confidence, as GX's own
    # KL expectation and a mean over the rows would observe them.
    ham = sum(r[2] == "HAM" for r in rows) / sum(r[2] is not None for r in rows)
    kl = ham * math.log(ham / (1 - 1e-6)) + (1 - ham) * math.log((1 - ham) / 1e-6)
    assert checks["drift_kl"]["observed"] == pytest.approx(kl, rel=1e-6) and not checks["drift_kl"]["success"]
    assert checks["drift_mean_confidence"]["observed"] == pytest.approx(sum(r[4] for r in rows) / len(rows), abs=1e-6)
    # 20 ids were published (all HAM); the odd ones among them are now SPAM: 11 of the 21 rows
    # with those ids (r3 twice) changed.
    transitions = joined_transitions(labels, published, "run-0")
    assert (transitions.changed, transitions.compared) == (11, 21)
    changes = run_suite(
        tmp_path / "home",
        "t",
        lambda: build_label_change_suite("t_label_changes", thresholds, 0),
        transitions.frame(),
        "run-1",
        thresholds.severity_of,
        observed_value,
    )
    change = _checks(changes.outcomes)["drift_label_changes"]
    assert change["observed"] == pytest.approx(11 / 21, abs=1e-6) and change["success"]  # <= 0.6
    at_most_half = dataclasses.replace(thresholds, max_label_change_share=0.5)
    changes = run_suite(
        tmp_path / "home",
        "t",
        lambda: build_label_change_suite("t_label_changes", at_most_half, 0),
        transitions.frame(),
        "run-2",
        at_most_half.severity_of,
        observed_value,
    )
    assert not _checks(changes.outcomes)["drift_label_changes"]["success"]
