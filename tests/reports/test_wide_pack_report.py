"""The run report of a wide pack, seen in a real browser (issue 32): sms_spam's 73 regex LFs on the
5,574 real SMS messages, fitted by majority vote (the label model is not what is checked here)."""

from __future__ import annotations

import dataclasses
import re
import tomllib
from pathlib import Path

from jobs.core.lineage import RunContext
from jobs.core.settings import Settings
from jobs.pipeline import run_pipeline
from jobs.reports.lf_sections import HEATMAP_LFS
from jobs.reports.run_report import write_run_report
from tests.browser import assert_renders, look_offline
from tests.conftest import DATA_ROOT, PROJECT_ROOT, write_config


def test_the_sms_spam_report_renders_all_73_lfs_and_a_top_conflict_heatmap(spark, tmp_path: Path) -> None:
    shipped = tomllib.loads((PROJECT_ROOT / "config" / "datasets.toml").read_text())["datasets"]["sms_spam"]
    sms = {k: v for k, v in shipped.items() if k not in ("model_selection", "end_model")}
    config = write_config(tmp_path / "datasets.toml", {"sms_spam": {**sms, "label_model": "majority_vote"}})
    lake = dataclasses.replace(Settings.from_env(), home=tmp_path / "lake", data_root=DATA_ROOT, config_path=config)
    run_pipeline(RunContext("sms-1", "sms_spam"), lake, spark)

    report = write_run_report(lake, "sms_spam", "sms-1")
    html = report.read_text()
    assert "published" in html and "5,574 rows" in html
    lf_rows = re.findall(r"<tr><td>(?:ham|spam)_\d\d_\w+</td><td>regex</td>", html)
    assert len(lf_rows) == 73
    assert 'aria-label="Pairwise LF conflict rate"' in html and f"the {HEATMAP_LFS} LFs" in html
    assert 'aria-label="LF coverage and empirical accuracy"' in html
    assert_renders(look_offline(report, tmp_path / "sms_spam_report.png"))
