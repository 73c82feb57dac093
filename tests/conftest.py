"""One Delta-enabled SparkSession for the whole test run, and per-test lakehouses.

Spark starts once (seconds); each test gets its own ``LABELLAKE_HOME`` under
``tmp_path`` so tables never leak between tests. Real data is read from
``../shared/datasets``.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path

import pytest

from jobs.datasets import write_datasets_toml as write_config  # noqa: F401 - tests import it from here
from jobs.settings import PROJECT_ROOT, Settings

DATA_ROOT = Path(os.environ.get("LABELLAKE_DATA_ROOT", PROJECT_ROOT.parent / "shared" / "datasets")).resolve()


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory):
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ.setdefault("LABELLAKE_SHUFFLE_PARTITIONS", "2")
    from jobs.spark_session import get_spark

    home = tmp_path_factory.mktemp("spark-home")
    settings = dataclasses.replace(Settings.from_env(), home=home, spark_master="local[2]")
    session = get_spark("labellake-tests", settings)
    yield session
    session.stop()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings with a fresh lakehouse under ``tmp_path`` and the shared real data."""
    return dataclasses.replace(Settings.from_env(), home=tmp_path / "lakehouse", data_root=DATA_ROOT)


YOUTUBE = {
    "source_path": "youtube_spam/*.csv",
    "format": "csv",
    "id_column": "COMMENT_ID",
    "text_column": "CONTENT",
    "gold_column": "CLASS",
    "classes": ["HAM", "SPAM"],
    "gold_values": {"0": "HAM", "1": "SPAM"},
    "lf_pack": "youtube_spam",
    "label_model": "majority_vote",
    "expectations": {"min_coverage": 0.5, "class_share": {"HAM": [0.05, 0.95], "SPAM": [0.05, 0.95]}},
}
