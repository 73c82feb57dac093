"""One Delta-enabled SparkSession for the whole test run, and per-test lakehouses.

Spark starts once (seconds); each test gets its own ``LABELLAKE_HOME`` under
``tmp_path`` so tables never leak between tests. Real data is read from
``../shared/datasets``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sys
import tomllib
from pathlib import Path

import pytest

from jobs.core.datasets import write_datasets_toml as write_config  # noqa: F401 - tests import it from here
from jobs.core.lineage import RunContext
from jobs.core.settings import PROJECT_ROOT, Settings
from jobs.spark.conf import EXECUTOR_JAVA_OPTIONS_ENV, EXTRA_CONF_ENV, JAVA_OPTIONS_ENV
from tests.object_store import running_s3_server

TEST_SESSION_CONF = (
    "spark.sql.codegen.wholeStage=false spark.sql.codegen.factoryMode=NO_CODEGEN spark.sql.adaptive.enabled=false"
)
"""Spark settings of every test session: no generated code, no adaptive re-planning (docs/decisions/0002)."""
TEST_JVM_OPTIONS = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"
"""JVM flags of the JVMs tests start in subprocesses: C1-only JIT, one GC thread (docs/decisions/0002)."""

# Set before any session starts, so every spark-submit, CLI run and cluster executor the tests
# start inherits them (the in-process session takes the SQL settings only, see ``spark``). A
# short-lived JVM on test-sized data never repays C2 compilation or generated code: a cold
# youtube run used 205 CPU-s with Spark's defaults, 124 CPU-s with these. A variable already
# set (e.g. by a developer) wins.
os.environ.setdefault(EXTRA_CONF_ENV, TEST_SESSION_CONF)
os.environ.setdefault(JAVA_OPTIONS_ENV, TEST_JVM_OPTIONS)
os.environ.setdefault(EXECUTOR_JAVA_OPTIONS_ENV, TEST_JVM_OPTIONS)
os.environ.setdefault("LABELLAKE_SHUFFLE_PARTITIONS", "2")
# A publish registers new tables in the Hive metastore with a Spark process of its own (10 s):
# only tests/lake/test_metastore.py, which checks it, pays for that.
os.environ.setdefault("LABELLAKE_METASTORE", "off")

DATA_ROOT = Path(os.environ.get("LABELLAKE_DATA_ROOT", PROJECT_ROOT.parent / "shared" / "datasets")).resolve()


def _run_first_rank(item: pytest.Item) -> int:
    """3: starts a Spark cluster; 2: runs the DAGs (``e2e``); 1: ``slow``; 0: the rest."""
    if "standalone_master" in getattr(item, "fixturenames", ()):
        return 3
    return 2 if item.get_closest_marker("e2e") else 1 if item.get_closest_marker("slow") else 0


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the longest tests first, each rank in file order.

    pytest-xdist hands out tests in collection order; a long test collected last
    would leave one worker idle while the other finishes it."""
    items.sort(key=_run_first_rank, reverse=True)


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory):
    os.environ["PYSPARK_PYTHON"] = sys.executable
    from jobs.spark.session import get_spark

    home = tmp_path_factory.mktemp("spark-home")
    settings = dataclasses.replace(Settings.from_env(), home=home, spark_master="local[2]")
    # This long-lived session keeps C2 and parallel GC: over a whole run of the suite its compiled
    # code pays back (in-process tests took up to twice as long under C1, docs/decisions/0002).
    # A developer's own flags stay.
    flags = os.environ.pop(JAVA_OPTIONS_ENV) if os.environ.get(JAVA_OPTIONS_ENV) == TEST_JVM_OPTIONS else None
    try:
        session = get_spark("labellake-tests", settings)
    finally:
        if flags is not None:
            os.environ[JAVA_OPTIONS_ENV] = flags
    yield session
    session.stop()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory):
    """A real S3-compatible server on 127.0.0.1 for this test process (tests/object_store.py)."""
    with running_s3_server(tmp_path_factory.mktemp("s3") / "data") as server:
        yield server


@pytest.fixture
def s3_lake(spark, s3_server, tmp_path: Path, monkeypatch) -> Settings:
    """Settings whose tables live on the S3 server (a fresh prefix), the work folder under ``tmp_path``;
    the AWS variables set for delta-rs and obstore, the s3a keys for the shared Spark session."""
    for key, value in s3_server.env().items():
        monkeypatch.setenv(key, value)
    hadoop = spark.sparkContext._jsc.hadoopConfiguration()
    for key, value in s3_server.hadoop_conf().items():
        hadoop.set(key, value)
    lake = f"s3a://{s3_server.bucket}/{tmp_path.name}"
    return dataclasses.replace(Settings.from_env(), home=tmp_path / "work", data_root=DATA_ROOT, lake=lake)


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

THRESHOLDS = {
    "min_coverage": 0.5,
    "class_share": {"HAM": [0.2, 0.8], "SPAM": [0.2, 0.8]},
    "max_kl_divergence": 0.1,
    "max_label_change_share": 0.25,
    "min_gold_accuracy": 0.8,
}
"""Every expectation a labels suite has, at values the real YouTube comments pass."""


PACK_V1_RUN = (
    {"youtube_spam": {**YOUTUBE, "lf_pack": "tests.packs.incremental_packs:pack_v1", "expectations": THRESHOLDS}},
    RunContext("good", "youtube_spam"),
)
"""A first run with the test pack v1 and every expectation: several tests start from its lakehouse."""


def shares_first_run(name: str) -> pytest.MarkDecorator:
    """Mark tests that start from one ``lake_after_run`` lakehouse: pytest-xdist runs them on one
    worker, which builds that lakehouse once (each worker process keeps its own ``_first_runs``)."""
    return pytest.mark.xdist_group(f"first-run-{name}")


def _shipped_sms() -> dict:
    shipped = tomllib.loads((PROJECT_ROOT / "config" / "datasets.toml").read_text())["datasets"]["sms_spam"]
    return {k: v for k, v in shipped.items() if k != "end_model"}


SMS_RUN = ({"sms_spam": _shipped_sms()}, RunContext("sms-1", "sms_spam"))
"""sms_spam as shipped (73 regex LFs, model selection on dev gold) without its end model: the
wide-pack report and the try-loop start from its lakehouse."""


DAWID_SKENE_RUN = ({"youtube_spam": {**YOUTUBE, "label_model": "dawid_skene"}}, RunContext("run-1", "youtube_spam"))
"""A first run of the tutorial LFs under Dawid-Skene (review queue, executor fit)."""


@pytest.fixture(scope="session")
def _first_runs(spark, tmp_path_factory: pytest.TempPathFactory):
    """Lakehouses after one pipeline run, built once per (config, run) per test process."""
    from jobs.pipeline import run_pipeline

    built: dict[str, tuple[Settings, dict]] = {}

    def build(datasets: dict, run: RunContext) -> tuple[Settings, dict]:
        key = json.dumps([datasets, dataclasses.asdict(run)], sort_keys=True, default=str)
        if key not in built:
            root = tmp_path_factory.mktemp("first-run")
            config = write_config(root / "datasets.toml", datasets)
            lake = dataclasses.replace(
                Settings.from_env(), home=root / "lakehouse", data_root=DATA_ROOT, config_path=config
            )
            built[key] = (lake, run_pipeline(run, lake, spark))
        return built[key]

    return build


@pytest.fixture
def lake_after_run(_first_runs, tmp_path: Path):
    """``(datasets, run) -> (Settings, stage results)``: a private copy of the lakehouse that
    ``run`` over the ``datasets`` config leaves (the run itself happens once per test process)."""

    def copy(datasets: dict, run, home_name: str = "lakehouse") -> tuple[Settings, dict]:
        source, results = _first_runs(datasets, run)
        home = tmp_path / home_name
        shutil.copytree(source.home, home)
        config = write_config(tmp_path / f"{home_name}.toml", datasets)
        return dataclasses.replace(source, home=home, config_path=config), results

    return copy
