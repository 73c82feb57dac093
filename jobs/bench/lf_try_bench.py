"""The try-loop inside ``bench e2e``: ``lf try --pack`` of the edited pack, timed against the LF-edit
rerun it stands in for (measured in the same bench), and its label-change estimate against the
changes that rerun then counts."""

from __future__ import annotations

import json
import time
from typing import Any

from jobs.core.settings import Settings
from jobs.lake.runs import run_record

WARM_TRIES = 3


def timed_try(spark: Any, settings: Settings, dataset: str) -> dict[str, Any]:
    """The first try (draws the sample with ``spark``) and the best of :data:`WARM_TRIES` warm ones."""
    from jobs.lf_try.api import TryRequest, try_change

    request = TryRequest(dataset, pack=True)
    started = time.monotonic()
    result = try_change(request, settings, spark_factory=lambda: spark)
    cold = time.monotonic() - started
    warm = []
    for _ in range(WARM_TRIES):
        started = time.monotonic()
        result = try_change(request, settings, spark_factory=_no_spark)
        warm.append(time.monotonic() - started)
    return {
        "cold_seconds": round(cold, 2),
        "warm_seconds": round(min(warm), 3),
        "sample_rows": result["sample"]["rows"],
        "lfs": [{k: lf[k] for k in ("lf", "labeled", "coverage", "overlaps", "conflicts")} for lf in result["lfs"]],
        "estimated_label_changes": result["label_changes"]["estimated_rows_in_table"],
        "sample_noise_rows": result["label_changes"].get("without_the_change"),
    }


def _no_spark() -> Any:
    raise AssertionError("a warm try started Spark")


def compare_with_rerun(
    tried: dict[str, Any], rerun: dict[str, Any], settings: Settings, dataset: str, rows: int
) -> None:
    """Add to ``tried`` the warm try's share of the rerun's seconds, and the labels the rerun's
    validation counted as changed (the try's estimate is checked against it)."""
    tried["warm_vs_lf_edit_rerun"] = round(tried["warm_seconds"] / max(rerun["seconds"], 1e-9), 4)
    record = run_record(None, settings, "bench-lf-change", dataset) or {}
    outcomes = json.loads(record.get("validation") or "[]")
    share = next((o.get("observed") for o in outcomes if o.get("check") == "drift_label_changes"), None)
    tried["rerun_changed_rows"] = round(float(share) * rows) if isinstance(share, (int, float)) else None
