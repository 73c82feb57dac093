"""The dataset lease on an object store (issue 33), against the test S3 server: a dead holder's
expired lease is taken over and its run marked killed, a live one refuses; and a wrong store
setting is one line naming the endpoint and the fault, before anything runs."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jobs.core.errors import DatasetBusy
from jobs.core.lineage import RunContext
from jobs.core.settings import Settings
from jobs.lake.dataset_lock import dataset_lock
from jobs.lake.lease_lock import lease_uri
from jobs.lake.object_store import create_object, read_object
from jobs.lake.runs import run_record


def _note(run_id: str, expires: float) -> bytes:
    holder = {"run_id": run_id, "trigger": "schedule", "dag_id": "nightly_relabel", "mode": "incremental"}
    return json.dumps({**holder, "pid": 1, "host": "elsewhere", "expires": expires}).encode()


def test_an_expired_lease_is_taken_over_and_a_live_one_refuses(s3_server, tmp_path: Path, monkeypatch) -> None:
    for key, value in s3_server.env().items():
        monkeypatch.setenv(key, value)
    settings = dataclasses.replace(Settings.from_env(), home=tmp_path, lake=f"s3a://{s3_server.bucket}/{tmp_path.name}")
    uri = lease_uri(settings, "youtube_spam")
    assert create_object(uri, _note("died-at-night", time.time() - 5)) is not None
    with dataset_lock(settings, RunContext("next-run", "youtube_spam"), wait_s=0):
        assert json.loads(read_object(uri).data)["run_id"] == "next-run"
        with pytest.raises(DatasetBusy, match="next-run"):  # a second process's view: the lease is live
            with dataset_lock(dataclasses.replace(settings), RunContext("third-run", "youtube_spam"), wait_s=0):
                pass
    assert read_object(uri) is None
    dead = run_record(None, settings, "died-at-night", "youtube_spam")
    assert dead["status"] == "killed" and "died holding the dataset lock" in dead["error"]


def test_wrong_store_settings_are_one_line_errors(s3_server, tmp_path: Path) -> None:
    base = {**os.environ, **s3_server.env(), "LABELLAKE_WORK_DIR": str(tmp_path)}
    cases = (
        ({"AWS_SECRET_ACCESS_KEY": "wrong", "LABELLAKE_HOME": "s3://labellake/x"}, "refused the credentials"),
        ({"LABELLAKE_HOME": "s3://no-such-bucket/x"}, "has no such bucket"),
        ({"AWS_ALLOW_HTTP": "", "LABELLAKE_HOME": "s3://labellake/x"}, "set AWS_ALLOW_HTTP=true"),
        ({"LABELLAKE_HOME": "s3://"}, "needs a bucket"),
    )
    for env, message in cases:
        done = subprocess.run(
            [sys.executable, "-m", "jobs.cli.main", "tables"], env={**base, **env}, capture_output=True, text=True
        )
        assert done.returncode == 2 and message in done.stderr, (env, done.stderr[-1000:])
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_a_missing_bucket_is_named_whatever_digits_its_error_carries() -> None:
    """The server's error text carries a request time and random ids: a ``403`` in them is not a
    refusal (a clean-clone CI run once reported versitygw's missing bucket as refused credentials)."""
    from jobs.lake.object_store import store_problem

    missing = (
        "Error performing GET http://127.0.0.1:42039/no-such-bucket?list-type=2 in 403.2µs - Server returned "
        "non-2xx status code: 404 Not Found: <Error><Code>NoSuchBucket</Code><HostId>Zj403Gh1</HostId></Error>"
    )
    assert store_problem(missing) == "has no such bucket"
    assert "refused the credentials" in (store_problem("returned non-2xx status code: 403 Forbidden: ") or "")
    assert store_problem("status code: 500 Internal Server Error, took 1.403ms") is None
