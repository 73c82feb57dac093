"""A blocking failure holds until its cause changes, and publish never rolls labels back (issue 29, items 3, 4).

On one real YouTube file (about 350 comments), through the in-process pipeline.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from deltalake import DeltaTable

from jobs.core.errors import StageOrderError, ValidationFailed
from jobs.core.lineage import RunContext
from jobs.core.settings import Settings
from jobs.lake.runs import run_record
from jobs.lake.tables import table
from jobs.pipeline import run_pipeline, run_stage
from tests.conftest import YOUTUBE, write_config

ONE_FILE = {**YOUTUBE, "source_path": "youtube_spam/Youtube01-Psy.csv"}


def _settings(tmp_path: Path, settings: Settings, **entry: object) -> Settings:
    config = write_config(tmp_path / f"datasets-{len(entry)}.toml", {"youtube_spam": {**ONE_FILE, **entry}})
    return dataclasses.replace(settings, config_path=config)


def test_failed_votes_check_blocks_every_rerun_until_the_lf_changes(spark, tmp_path: Path, settings: Settings) -> None:
    bad = _settings(tmp_path, settings, lf_pack="tests.packs.bad_packs:pack_wrong_label")
    with pytest.raises(ValidationFailed, match="votes"):
        run_pipeline(RunContext("bad-1", "youtube_spam"), bad, spark)
    # Nothing changed: the votes on record are the invalid ones, so the rerun checks them again.
    with pytest.raises(ValidationFailed, match="votes"):
        run_pipeline(RunContext("bad-2", "youtube_spam"), bad, spark)
    assert not table(bad, "youtube_spam", "labels").exists()
    assert run_record(spark, bad, "bad-2", "youtube_spam")["status"] == "failed"

    good = _settings(tmp_path, settings)  # the LF is fixed (here: removed), its votes dropped
    run_pipeline(RunContext("good-1", "youtube_spam"), good, spark)
    labels = DeltaTable(str(table(good, "youtube_spam", "labels").path))
    assert labels.version() == 0 and set(labels.to_pandas()["_run_id"]) == {"good-1"}


@pytest.mark.slow
def test_publish_refuses_an_older_run_and_a_retry_stays_a_no_op(spark, tmp_path: Path, settings: Settings) -> None:
    yt = _settings(tmp_path, settings)
    for stage in ("ingest", "apply_lfs", "fit_label_model", "validate"):
        run_stage(stage, RunContext("old", "youtube_spam"), yt, spark)  # validated, not published
    # The same files and LFs: "new" reuses old's ingest and votes (jobs/stages/reused_outputs.py) and fits.
    run_pipeline(RunContext("new", "youtube_spam"), yt, spark)
    labels_ref = table(yt, "youtube_spam", "labels")
    before = DeltaTable(str(labels_ref.path)).version()

    with pytest.raises(StageOrderError, match="older than run new"):
        run_stage("publish", RunContext("old", "youtube_spam"), yt, spark)
    assert DeltaTable(str(labels_ref.path)).version() == before

    run_stage("publish", RunContext("new", "youtube_spam"), yt, spark)  # an Airflow retry: no-op
    run_pipeline(RunContext("newer", "youtube_spam", mode="full"), yt, spark)
    run_stage("publish", RunContext("new", "youtube_spam"), yt, spark)  # published before, then replaced
    labels = DeltaTable(str(labels_ref.path))
    assert labels.version() == before + 1 and set(labels.to_pandas()["_run_id"]) == {"newer"}
