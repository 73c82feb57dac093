"""The fit key: a hash of everything that determines the labels, and whether the published ones have it.

When nothing that determines the labels changed since the published version
(same source and votes versions, LF set, dataset config, gold and code), the
fit stage fits nothing and records that the published labels are current;
validate and publish then pass through, and the quiet night adds no labels
version. ``--mode full`` always refits.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from dataclasses import dataclass

from pyspark.sql import SparkSession

from jobs.core.datasets import DatasetConfig
from jobs.core.lineage import code_version
from jobs.core.settings import Settings
from jobs.lake.runs import run_record
from jobs.lake.tables import TableRef, latest_commit, table

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FitResult:
    rows: int
    patterns: int
    labeled: int
    staging_version: int
    label_model: str
    current_from: str | None = None
    """Set when nothing changed: the run whose published labels are still current (nothing fitted)."""
    end_model: str | None = None
    gold_set_version: int | None = None


def fit_key(
    ds: DatasetConfig,
    source_version: int,
    votes_version: int,
    lf_set_version: str,
    gold_version: int | None,
    annotations_version: int | None = None,
) -> str:
    """A hash of everything that determines the labels: equal keys, equal labels (models are seeded).

    The whole dataset config goes in (label model, options, selection, uncovered policy, and the
    expectation thresholds, so a tightened threshold is validated again), as does the code version;
    the pack's module path does not: the LFs' content is ``lf_set_version``, so a pack moved or
    renamed with the same LFs publishes nothing new.
    """
    unused = ("nightly", "description", "review_queue", "retention", "lf_pack")
    config = {k: v for k, v in dataclasses.asdict(ds).items() if k not in unused}
    material = json.dumps(
        {
            "config": config,
            "source_version": source_version,
            "votes_version": votes_version,
            "lf_set_version": lf_set_version,
            "gold_version": gold_version,
            "code_version": code_version(),
            **({} if annotations_version is None else {"annotations_version": annotations_version}),
        },
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(material.encode()).hexdigest()[:16]


def table_version(ref: TableRef) -> int | None:
    from deltalake import DeltaTable

    return DeltaTable(str(ref.path)).version() if ref.exists() else None


def current_labels(
    spark: SparkSession | None, settings: Settings, ds: DatasetConfig, key: str, quiet: bool = False
) -> FitResult | None:
    """The published labels when they were fitted with ``key`` (nothing changed since), else None
    (``quiet``: without saying so in the log, for a check before the stage runs)."""
    labels_ref = table(settings, ds.name, "labels")
    if not labels_ref.exists():
        return None
    version, meta = latest_commit(spark, labels_ref)
    if meta.get("fit_key") != key:
        return None
    published = run_record(spark, settings, meta["run_id"], ds.name) or {}
    (log.debug if quiet else log.info)(
        "fit_label_model %s: nothing changed since run %s (fit key %s); %s@v%d stays current, nothing fitted",
        ds.name,
        meta["run_id"],
        key,
        labels_ref.name,
        version,
    )
    return FitResult(
        int(published.get("published_rows") or 0),
        int(published.get("patterns") or 0),
        int(published.get("labeled_rows") or 0),
        int(meta.get("staging_version", -1)),
        str(meta.get("label_model")),
        current_from=str(meta["run_id"]),
    )
