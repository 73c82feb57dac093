"""Pattern counts updated from the moved rows: equal to counting every row, and refused when the
stored counts cannot describe the stored rows."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa

from jobs.patterns.moved_counts import origin_counts

KEYS = ["_p0"]


def test_moved_rows_update_the_stored_counts_and_impossible_counts_are_refused() -> None:
    stored_rows = pd.Series([3, 3, 3, 5, 5, 7])  # six rows' stored codes
    new_rows = pd.Series([3, 4, 3, 5, 4, 8])  # an edit moved rows 1, 4 and 5
    stored = pa.table({"_p0": [3, 5, 7], "label": [0, 1, 1], "count": [3, 2, 1]})
    moved_mask = stored_rows != new_rows
    moved = (
        pd.DataFrame({"_p0": new_rows[moved_mask], "_s_p0": stored_rows[moved_mask]})
        .groupby(["_p0", "_s_p0"], as_index=False)
        .size()
        .rename(columns={"size": "count"})
    )
    by_origin = origin_counts(stored, moved, KEYS)
    assert by_origin is not None
    expected = pd.DataFrame({"_p0": new_rows, "_s_p0": stored_rows}).groupby(["_p0", "_s_p0"]).size().rename("count")
    assert by_origin.set_index(["_p0", "_s_p0"])["count"].sort_index().equals(expected.sort_index())
    # A pattern 7 row cannot move twice: counts that say otherwise describe other rows.
    tampered = pa.table({"_p0": [3, 5, 7], "label": [0, 1, 1], "count": [3, 2, 0]})
    assert origin_counts(tampered, moved, KEYS) is None
