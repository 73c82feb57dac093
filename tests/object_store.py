"""A real S3-compatible server for the tests: the Versity S3 Gateway (``versitygw``, Apache-2.0) over a
temporary folder, on 127.0.0.1. Set-up builds it from the Go module proxy into ``.cache/bin``
(docs/decisions/0010); without it the object-store tests skip, saying so."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from jobs.core.settings import PROJECT_ROOT
from tests.ports import free_port

BINARY = PROJECT_ROOT / ".cache" / "bin" / "versitygw"
BUCKET = "labellake"


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    access_key: str = "labellake-test"
    secret_key: str = "labellake-test-secret"
    bucket: str = BUCKET

    def env(self) -> dict[str, str]:
        """The standard AWS variables delta-rs, obstore and labellake's Spark settings read."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_REGION": "us-east-1",
            "AWS_ALLOW_HTTP": "true",
        }

    def hadoop_conf(self) -> dict[str, str]:
        """s3a settings for a Spark session whose JVM started before the server (its environment
        is fixed at launch, so the keys go into the Hadoop configuration instead)."""
        return {
            "fs.s3a.endpoint": self.endpoint,
            "fs.s3a.endpoint.region": "us-east-1",
            "fs.s3a.path.style.access": "true",
            "fs.s3a.connection.ssl.enabled": "false",
            "fs.s3a.access.key": self.access_key,
            "fs.s3a.secret.key": self.secret_key,
        }


@contextmanager
def running_s3_server(root: Path) -> Iterator[S3Server]:
    """Start the gateway over ``root`` (one bucket, ``labellake``) and stop it afterwards."""
    if not BINARY.is_file():
        pytest.skip(f"no S3 server at {BINARY}: `make setup` builds versitygw where Go is installed")
    (root / BUCKET).mkdir(parents=True, exist_ok=True)
    server = S3Server(f"http://127.0.0.1:{free_port()}")
    address = server.endpoint.removeprefix("http://")
    env = {**os.environ, "ROOT_ACCESS_KEY": server.access_key, "ROOT_SECRET_KEY": server.secret_key}
    log = open(root.parent / "versitygw.log", "w")  # noqa: SIM115 - open while the server runs
    process = subprocess.Popen([str(BINARY), "--port", address, "posix", str(root)], env=env, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", int(address.rsplit(":", 1)[1])), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"versitygw did not start: see {root.parent / 'versitygw.log'}") from None
                time.sleep(0.1)
        yield server
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()
