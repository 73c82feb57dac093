"""The per-LF coverage drift suite runs on pandas (a row per LF): it names the LFs that moved, and an
LF new in this run, with no past coverage, is not one of them."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from expectations.gx_runner import run_suite
from expectations.lf_health_suite import build_lf_health_suite, lf_health_view, observed_lf_health_value
from jobs.core.dataset_sections import ExpectationConfig


def test_the_lf_health_suite_names_the_lfs_that_moved(tmp_path: Path) -> None:
    current = pd.DataFrame({"lf": ["moved", "steady", "new"], "coverage": [0.5, 0.1, 0.3]})
    published = pd.DataFrame({"lf": ["moved", "steady"], "coverage": [0.1, 0.12]})
    thresholds = ExpectationConfig()
    checked = run_suite(
        tmp_path,
        "d",
        lambda: build_lf_health_suite("d_lf_health", thresholds, "r0"),
        lf_health_view(current, published),
        "r1",
        thresholds.severity_of,
        observed_lf_health_value,
        index_columns=["lf"],
        data_docs=False,
    )
    (outcome,) = checked.outcomes
    assert not outcome["success"] and outcome["observed"] == {"lfs_moved": ["moved"], "unexpected_count": 1}


def test_gx_config_variables_template_is_dropped_and_a_users_file_kept(tmp_path: Path) -> None:
    """GX re-parses ``config_variables.yml`` on every context variable read: its comment-only
    template goes when a context is made; a file holding a user's variables stays and still works."""
    from expectations.gx_runner import _context, gx_root

    context = _context(tmp_path, "d")
    variables = gx_root(tmp_path, "d") / "gx" / "uncommitted" / "config_variables.yml"
    assert not variables.exists() and "instance_id" not in context.config_provider.get_values()
    variables.write_text("my_bucket: labels\n", encoding="utf-8")
    _context(tmp_path / "other", "d")  # another project: this one's file is untouched
    assert variables.exists() and context.config_provider.get_values()["my_bucket"] == "labels"
