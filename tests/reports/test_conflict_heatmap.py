"""The run report's conflict heatmap for packs wider than the heatmap (issue 32: a KeyError for
sms_spam's 73 LFs, trec's 68 and imdb's 136), from tables written with delta-rs (no Spark)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pyarrow as pa
from deltalake import write_deltalake

from jobs.core.settings import Settings
from jobs.reports.lf_sections import HEATMAP_LFS, conflict_heatmap


def test_heatmap_of_the_top_lfs_of_a_wide_pack(tmp_path: Path) -> None:
    settings = dataclasses.replace(Settings.from_env(), home=tmp_path / "lake")
    names = [f"lf_{j:02d}" for j in range(HEATMAP_LFS + 12)]
    # Every pattern names LFs outside the top ones too: lf_00 and lf_01 disagree on 10 of 40 rows.
    patterns = {
        "lf_00=0,lf_01=0,lf_40=1": 30,
        "lf_00=0,lf_01=1,lf_41=0": 10,
        ",".join(f"{n}=1" for n in names): 5,
    }
    home = settings.home / "wide"
    counts = pa.table({"pattern": list(patterns), "count": list(patterns.values())})
    write_deltalake(str(home / "pattern_counts"), counts)
    row = {
        "_run_id": ["r1"],
        "model_id": ["majority_vote@1"],
        "selection": [json.dumps({})],
        "pattern_counts_version": [0],
        "lf_names": [names],
    }
    write_deltalake(str(home / "label_models"), pa.table(row))
    html = conflict_heatmap(settings, "wide", "r1", names[:HEATMAP_LFS])
    assert 'aria-label="Pairwise LF conflict rate"' in html
    assert "<td>lf_01 x lf_00</td><td>45</td><td>10</td><td>22.2%</td>" in html
    assert "lf_40" not in html  # beyond the top LFs: counted in the patterns, not drawn
