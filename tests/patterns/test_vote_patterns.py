"""Vote patterns as long codes equal the string patterns, row by row, on real votes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from jobs.patterns.vote_patterns import PatternCodec, pattern_matrix, row_patterns, string_patterns
from tests.conftest import DATA_ROOT


def _wrench_votes(spark, folder: str, split: str):
    data = json.loads((DATA_ROOT / "wrench" / folder / f"{split}.json").read_text())
    n_lfs = len(next(iter(data.values()))["weak_labels"])
    names = [f"lf_{j:03d}" for j in range(n_lfs)]
    rows = [(k, names[j], int(v)) for k, d in data.items() for j, v in enumerate(d["weak_labels"]) if v >= 0]
    ids = spark.createDataFrame([(k,) for k in data], "id string")
    return ids, spark.createDataFrame(rows, "id string, lf string, vote int"), names


@pytest.mark.parametrize(("folder", "classes", "columns"), [("youtube", 2, 1), ("trec", 6, 4), ("sms", 2, 2)])
def test_coded_patterns_equal_string_patterns(spark, folder: str, classes: int, columns: int) -> None:
    ids, votes, names = _wrench_votes(spark, folder, "valid")
    patterned = row_patterns(ids, votes, names, classes)
    assert patterned.codec is not None and len(patterned.keys) == columns
    coded = patterned.rows.join(patterned.distinct_counts().select("pattern", *patterned.keys), patterned.keys)
    expected = string_patterns(ids, votes)
    assert coded.count() == expected.count() == ids.count()
    assert expected.join(coded, ["id", "pattern"], "left_anti").count() == 0
    counted = patterned.distinct_counts().toPandas()
    assert np.array_equal(
        patterned.codec.matrix(counted[patterned.keys].to_numpy()), pattern_matrix(counted["pattern"].tolist(), names)
    )
    # The Python decoding (used for the patterns a gold join names) writes Spark's strings.
    assert (
        patterned.pattern_strings(list(counted[patterned.keys].itertuples(index=False, name=None)))
        == counted["pattern"].tolist()
    )


def test_wide_packs_fall_back_to_strings() -> None:
    assert PatternCodec.for_lfs([f"lf_{j}" for j in range(1000)], 20) is None
    codec = PatternCodec.for_lfs([f"lf_{j}" for j in range(73)], 2)
    assert codec is not None and codec.per_column == 39 and len(codec.columns) == 2
    assert 3**39 - 1 < 2**63 - 1 < 3**40 - 1


def test_a_vote_outside_the_classes_fails_naming_lf_and_row(spark) -> None:
    ids = spark.createDataFrame([("r1",)], "id string")
    votes = spark.createDataFrame([("r1", "lf_a", 2)], "id string, lf string, vote int")
    with pytest.raises(Exception, match="LF lf_a cast a vote outside the 2 classes on row r1"):
        row_patterns(ids, votes, ["lf_a"], 2).rows.collect()


def test_coded_patterns_spell_any_source_name(spark) -> None:
    """Annotator sources are named as the annotation file spells the person: quotes, backslashes
    and accents reach the coded pattern string unchanged."""
    names = sorted(["annotator:o'brien", "annotator:a\\b", "annotator:zoë", "lf_x"])
    ids = spark.createDataFrame([("r1",), ("r2",), ("r3",)], "id string")
    rows = [("r1", names[0], 1), ("r1", names[1], 0), ("r2", names[2], 1), ("r2", names[3], 0)]
    votes = spark.createDataFrame(rows, "id string, lf string, vote int")
    patterned = row_patterns(ids, votes, names, 2)
    assert patterned.codec is not None
    coded = patterned.rows.join(patterned.distinct_counts().select("pattern", *patterned.keys), patterned.keys)
    expected = string_patterns(ids, votes)
    assert coded.count() == expected.count() == 3
    assert expected.join(coded, ["id", "pattern"], "left_anti").count() == 0
    spelled = {r["pattern"] for r in coded.collect()}
    assert spelled == {"annotator:a\\b=1,annotator:o'brien=0", "annotator:zoë=1,lf_x=0", ""}


def test_pattern_counts_written_in_hand_or_by_spark(spark, tmp_path, monkeypatch) -> None:
    """The counts collected and committed by delta-rs are the table Spark reads back; over the
    in-hand limit, or on a table delta-rs cannot write, nothing is written and Spark's writer takes
    over (real trec votes, 6 classes)."""
    from jobs.lake.tables import TableRef
    from jobs.stages.fit import fit_patterns

    ids, votes, names = _wrench_votes(spark, "trec", "valid")
    distinct = row_patterns(ids, votes, names, 6).distinct_counts()
    ref = TableRef("trec", "pattern_counts", tmp_path / "pattern_counts")
    counted = fit_patterns.written_in_hand(distinct, ref, '{"run_id": "r1"}')
    assert counted is not None and counted.num_rows == distinct.count() > 50
    read_back = spark.read.format("delta").load(str(ref.path))
    assert read_back.exceptAll(distinct).count() == 0 and distinct.exceptAll(read_back).count() == 0
    assert spark.sql(f"DESCRIBE HISTORY delta.`{ref.path}`").first()["userMetadata"] == '{"run_id": "r1"}'
    monkeypatch.setattr(fit_patterns, "COUNTS_IN_HAND", counted.num_rows - 1)
    assert fit_patterns.written_in_hand(distinct, ref, '{"run_id": "r2"}') is None
    assert spark.sql(f"DESCRIBE HISTORY delta.`{ref.path}`").count() == 1  # not written
    # A table delta-rs cannot overwrite (column mapping someone enabled) is left to Spark, untouched.
    monkeypatch.setattr(fit_patterns, "COUNTS_IN_HAND", 200_000)
    mapped = TableRef("trec", "pattern_counts", tmp_path / "mapped")
    distinct.write.format("delta").option("delta.columnMapping.mode", "name").save(str(mapped.path))
    assert fit_patterns.written_in_hand(distinct, mapped, '{"run_id": "r3"}') is None
    assert spark.sql(f"DESCRIBE HISTORY delta.`{mapped.path}`").count() == 1
