"""A week of nightly relabels over a changing source (issue 10's soak test, at a small N).

:func:`jobs.bench.week_soak.run_week` replays seven nights on 2,000 rows of the
real YouTube comments: a first load, rows appended, texts edited and rows
deleted, an LF edited (day 4), a malformed file (day 5), an LF removed (day 6)
and a quiet night. Each night runs incrementally and is checked against a full
recompute of the same source and LF set, for one label per live id, lineage,
the runs-table story, time travel of deleted ids and the quarantine. The same
code runs at 1M rows as ``labellake bench week`` (``docs/benchmarks.md``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from jobs.bench.week_scenario import MALFORMED_LINES
from jobs.bench.week_soak import run_week
from jobs.core.settings import Settings


@pytest.mark.slow
def test_seven_nights_each_equal_a_full_recompute(spark, settings: Settings, tmp_path: Path) -> None:
    week = run_week("youtube_spam", 2000, settings=settings, workdir=tmp_path, progress=lambda line: None)
    assert week["failures"] == [] and week["ok"]
    nights = {n["day"]: n for n in week["nights"]}
    assert [nights[d]["live_rows"] for d in range(1, 8)] == [1800, 2000, 1980, 1980, 2020, 2020, 2020]
    assert all(
        n["equal_to_full_recompute"] == {"differing_votes": 0, "differing_labels": 0, "equal": True}
        for n in nights.values()
    )
    lfs = week["lfs"]
    # What each night recomputed: new rows x every LF, edited rows x every LF, one LF x every row, nothing.
    assert [nights[d]["lf_row_pairs"] for d in range(1, 8)] == [1800 * lfs, 200 * lfs, 20 * lfs, 1980, 40 * lfs, 0, 0]
    assert nights[3]["deleted"] == 20 and nights[3]["row_changes"]["deleted"] == 20
    assert nights[5]["quarantined"] == {"malformed record": len(MALFORMED_LINES), "null or empty text": 1}
    assert nights[7]["full_recompute_seconds"] is None  # same inputs as night 6: its full result stands
