"""Run identity and lineage values written on every labeled row and commit."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

from jobs import __version__
from jobs.core.settings import PROJECT_ROOT

RUN_MODES = ("incremental", "full")
_RUN_ID = re.compile(r"^[A-Za-z0-9_.:+\-]{1,200}$")


@dataclass(frozen=True)
class RunContext:
    """Who is running what: passed to every stage, never read from a clock inside a transform.

    ``run_id`` is Airflow's run id under the DAG, or ``cli__<UTC time>`` from
    the CLI; it keys the staging partition, the runs table row and the
    published commit, which is what makes every stage safe to retry.
    """

    run_id: str
    dataset: str
    trigger: str = "manual"
    dag_id: str = ""
    mode: str = "incremental"
    """``incremental``: reuse the votes of unchanged LFs on unchanged rows; ``full``: recompute all."""

    def __post_init__(self) -> None:
        if not _RUN_ID.match(self.run_id):
            raise ValueError(f"run id {self.run_id!r} has characters outside [A-Za-z0-9_.:+-]")
        if self.mode not in RUN_MODES:
            raise ValueError(f"run mode {self.mode!r} is not one of {RUN_MODES}")


def new_run_id(prefix: str = "cli") -> str:
    return f"{prefix}__{datetime.now(UTC).strftime('%Y-%m-%dT%H:%M:%S.%fZ')}"


def utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@lru_cache(maxsize=1)
def code_version() -> str:
    """Package version plus the git commit (``+dirty`` with local edits), when in a checkout."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        return f"{__version__}+g{sha}{'.dirty' if dirty else ''}"
    except (OSError, subprocess.SubprocessError):
        return __version__
