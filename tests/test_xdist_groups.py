"""The suite's own plumbing: tests that share a lakehouse really run on one pytest-xdist worker."""

from __future__ import annotations

import pytest

from tests.conftest import shares_first_run


@shares_first_run("self-check")
def test_a_grouped_test_is_scheduled_with_its_group(request: pytest.FixtureRequest) -> None:
    """``--dist loadgroup`` tags a grouped test's id with its group. A pytest or xdist upgrade that
    drops the tag (pytest-dev/pytest-xdist#1386) would silently spread a group over both workers,
    each building the shared lakehouse itself: ``make test`` would pass, only slower."""
    if not getattr(request.config.option, "loadgroup", False):  # set on xdist workers
        pytest.skip("runs under make test's --dist loadgroup")
    assert request.node.nodeid.endswith("@first-run-self-check"), request.node.nodeid
