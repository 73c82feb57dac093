"""The run report of a wide pack, seen in a real browser (issue 32): sms_spam's 73 regex LFs on the
5,574 real SMS messages (the run the try-loop test shares, :data:`tests.conftest.SMS_RUN`)."""

from __future__ import annotations

import re
from pathlib import Path

from jobs.reports.lf_sections import HEATMAP_LFS
from jobs.reports.run_report import write_run_report
from tests.browser import assert_renders, look_offline
from tests.conftest import SMS_RUN, shares_first_run


@shares_first_run("sms")
def test_the_sms_spam_report_renders_all_73_lfs_and_a_top_conflict_heatmap(lake_after_run, tmp_path: Path) -> None:
    lake, _ = lake_after_run(*SMS_RUN)

    report = write_run_report(lake, "sms_spam", "sms-1")
    html = report.read_text()
    assert "published" in html and "5,574 rows" in html
    lf_rows = re.findall(r"<tr><td>(?:ham|spam)_\d\d_\w+</td><td>regex</td>", html)
    assert len(lf_rows) == 73
    assert 'aria-label="Pairwise LF conflict rate"' in html and f"the {HEATMAP_LFS} LFs" in html
    assert 'aria-label="LF coverage and empirical accuracy"' in html
    assert_renders(look_offline(report, tmp_path / "sms_spam_report.png"))
