"""An edit's code differences summed by Arrow equal Spark's, on real trec votes (6 classes, 4 code columns)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jobs.patterns.incremental import _spark_change
from jobs.patterns.vote_changes import code_changes
from jobs.patterns.vote_patterns import PatternCodec
from tests.conftest import DATA_ROOT

EDITED = ["lf_000", "lf_020", "lf_045", "lf_067"]  # one LF in each code column


def _votes(folder: Path, lf: str, rows: list[tuple[str, int]]) -> list[str]:
    """One LF's votes as a votes partition holds them (``lf=<name>/part-*.parquet``), in two files."""
    path = folder / f"lf={lf}"
    path.mkdir(parents=True)
    half = len(rows) // 2
    files = []
    for i, part in enumerate((rows[:half], rows[half:])):
        table = pa.table({"id": [r[0] for r in part], "vote": pa.array([r[1] for r in part], pa.int32())})
        pq.write_table(table, path / f"part-{i}.parquet")
        files.append(str(path / f"part-{i}.parquet"))
    return files


def test_arrow_code_changes_equal_sparks_on_real_votes(spark, tmp_path: Path) -> None:
    data = json.loads((DATA_ROOT / "wrench" / "trec" / "valid.json").read_text())
    n_lfs = len(next(iter(data.values()))["weak_labels"])
    codec = PatternCodec.for_lfs([f"lf_{j:03d}" for j in range(n_lfs)], 6)
    assert codec is not None and len(codec.columns) == 4
    old: dict[str, list[str]] = {}
    new: dict[str, list[str]] = {}
    spark_rows: dict[str, list[tuple[str, str, int]]] = {"old": [], "new": []}
    for lf in EDITED:
        j = int(lf[3:])
        before = [(k, int(d["weak_labels"][j])) for k, d in data.items() if d["weak_labels"][j] >= 0]
        # The edit: every third vote moves to the next class, every fifth is dropped, and the
        # LF now also votes class 0 on every seventh row it abstained on.
        after = [(k, (v + 1) % 6 if i % 3 == 0 else v) for i, (k, v) in enumerate(before) if i % 5]
        after += [(k, 0) for i, (k, d) in enumerate(data.items()) if d["weak_labels"][j] < 0 and i % 7 == 0]
        old[lf] = _votes(tmp_path / "old", lf, before)
        new[lf] = _votes(tmp_path / "new", lf, after)
        spark_rows["old"] += [(k, lf, v) for k, v in before]
        spark_rows["new"] += [(k, lf, v) for k, v in after]
    in_hand = code_changes(codec, old, new)
    frames = {name: spark.createDataFrame(rows, "id string, lf string, vote int") for name, rows in spark_rows.items()}
    by_spark = _spark_change(codec, frames["old"], frames["new"])
    expected = by_spark.toArrow()
    by_spark.unpersist()
    assert in_hand.column_names == expected.column_names
    assert in_hand.num_rows == expected.num_rows > 50
    assert in_hand.sort_by("id").equals(expected.sort_by("id").cast(in_hand.schema))


def test_a_changed_vote_outside_the_classes_names_lf_row_and_vote(tmp_path: Path) -> None:
    codec = PatternCodec.for_lfs(["lf_a", "lf_b"], 2)
    assert codec is not None
    old = {"lf_b": _votes(tmp_path / "old", "lf_b", [("r1", 0), ("r2", 1)])}
    new = {"lf_b": _votes(tmp_path / "new", "lf_b", [("r1", 1), ("r2", 2)])}
    with pytest.raises(ValueError, match="LF lf_b cast a vote outside the 2 classes on row r2: 2"):
        code_changes(codec, old, new)
