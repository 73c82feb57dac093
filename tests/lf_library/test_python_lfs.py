"""Python LFs run in Arrow batches, survive their own bugs, and are versioned by normalized source."""

from __future__ import annotations

import dataclasses
import importlib.util
import sys
from pathlib import Path

import pytest
from deltalake import DeltaTable

from jobs.core.datasets import get_dataset
from jobs.core.errors import LFExecutionError
from jobs.core.lineage import RunContext, utc_now
from jobs.core.settings import Settings
from jobs.lake.tables import table
from jobs.stages.apply.stage import run_apply_lfs
from jobs.stages.ingest.stage import run_ingest
from lf_library.apply_python import error_column, with_python_votes
from lf_library.python_lf import batch_labeling_function, labeling_function
from tests.conftest import YOUTUBE, write_config
from tests.lf_library.python_pack import build

TEXTS = {"a": "check it out!!! now", "b": "ok", "c": "win a free phone 7", "d": "nice song, really nice"}


def test_votes_and_errors_per_row(spark) -> None:
    pack = build()
    df = spark.createDataFrame(list(TEXTS.items()), "id string, text string")
    out = {r["id"]: r for r in with_python_votes(df, pack.python, pack.classes).collect()}
    assert out["a"]["many_exclamations"] == 1 and out["b"]["many_exclamations"] == -1
    assert out["b"]["very_short"] == 0 and out["a"]["very_short"] == -1
    assert out["c"]["snorkel_keyword_free"] == 1 and out["d"]["snorkel_keyword_free"] == -1
    assert out["c"]["explodes_on_sevens"] == -1
    assert out["c"][error_column("explodes_on_sevens")] == "RuntimeError: no sevens please"
    assert out["a"][error_column("explodes_on_sevens")] is None


def test_bad_return_values_are_errors_not_votes(spark) -> None:
    @labeling_function()
    def returns_garbage(x):
        return 7 if x.text == "ok" else "EGGS"

    df = spark.createDataFrame(list(TEXTS.items()), "id string, text string")
    out = {r["id"]: r for r in with_python_votes(df, [returns_garbage], ("HAM", "SPAM")).collect()}
    assert out["b"]["returns_garbage"] == -1
    assert "not -1 or a class index" in out["b"][error_column("returns_garbage")]
    assert "not one of ('HAM', 'SPAM')" in out["a"][error_column("returns_garbage")]


def test_a_batch_lf_returning_too_few_votes_says_so(spark) -> None:
    @batch_labeling_function(label="HAM")
    def one_short(frame):
        return [0] * (len(frame) - 1)

    df = spark.createDataFrame(list(TEXTS.items()), "id string, text string")
    out = with_python_votes(df, [one_short], ("HAM", "SPAM")).collect()
    assert {r["one_short"] for r in out} == {-1}
    assert {r[error_column("one_short")] for r in out} == {"ValueError: returned 0 votes for a batch of 1 row"}


def _load(tmp_path: Path, name: str, source: str):
    path = tmp_path / f"{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_version_ignores_comments_and_whitespace(tmp_path: Path) -> None:
    header = "from lf_library.python_lf import labeling_function\n"
    v1 = _load(
        tmp_path, "lf_v1", header + "@labeling_function()\ndef lf(x):\n    return 1 if 'win' in x.text else -1\n"
    )
    v2 = _load(
        tmp_path,
        "lf_v2",
        header + "\n\n@labeling_function()\ndef lf(x):\n    '''Docs.'''\n"
        "    # a new comment\n    return 1 if 'win'   in x.text else -1   # trailing\n",
    )
    v3 = _load(
        tmp_path, "lf_v3", header + "@labeling_function()\ndef lf(x):\n    return 1 if 'won' in x.text else -1\n"
    )
    assert v1.lf.version == v2.lf.version
    assert v1.lf.version != v3.lf.version


def _python_dataset(tmp_path: Path, settings: Settings, pack: str) -> tuple[Settings, object]:
    config = write_config(tmp_path / "datasets.toml", {"yt_python": {**YOUTUBE, "lf_pack": pack}})
    settings = dataclasses.replace(settings, config_path=config)
    return settings, get_dataset("yt_python", settings)


def test_error_budget_fails_the_run_naming_the_lf(spark, tmp_path: Path, settings: Settings) -> None:
    settings, ds = _python_dataset(tmp_path, settings, "tests.lf_library.python_pack:build")
    run = RunContext("py-1", "yt_python")
    run_ingest(spark, ds, settings, run, utc_now())
    with pytest.raises(LFExecutionError, match=r"LF 'explodes_on_sevens' failed on \d+ rows .*first error on id"):
        run_apply_lfs(spark, ds, settings, run)


def test_mixed_pack_writes_votes_of_every_kind(spark, tmp_path: Path, settings: Settings) -> None:
    settings, ds = _python_dataset(tmp_path, settings, "tests.lf_library.python_pack:build_safe")
    run = RunContext("py-2", "yt_python")
    run_ingest(spark, ds, settings, run, utc_now())
    result = run_apply_lfs(spark, ds, settings, run)
    assert result.lf_errors == {}
    votes = DeltaTable(str(table(settings, "yt_python", "votes").path)).to_pandas()
    per_lf = votes.groupby("lf")["vote"].agg(["count", "min", "max"])
    assert set(per_lf.index) == {"keyword_check", "many_exclamations", "very_short", "snorkel_keyword_free"}
    assert per_lf.loc["very_short", "max"] == 0 and per_lf.loc["many_exclamations", "min"] == 1
    source = DeltaTable(str(table(settings, "yt_python", "source").path)).to_pandas()
    expected_short = int((source["text"].str.split().str.len() < 3).sum())
    assert per_lf.loc["very_short", "count"] == expected_short
