"""Dawid-Skene fitted on the executors equals the driver's fit on the same patterns."""

from __future__ import annotations

import numpy as np
import pytest

from jobs.bench.label_model_eval import patterns_and_counts
from jobs.label_models import DawidSkene
from jobs.stages.fit.on_executors import fit_dawid_skene_on_executors, sparse_vote_patterns
from tests.conftest import shares_first_run
from tests.label_models.test_label_models import synthetic_votes


def test_executor_fit_equals_the_driver_fit(spark) -> None:
    m, k = 30, 4
    rng = np.random.default_rng(5)
    # Every row its own pattern, as with many sources; EM converges in 15 iterations (15 Spark passes).
    L, _ = synthetic_votes(2000, [0.4, 0.3, 0.2, 0.1], list(rng.uniform(0.6, 0.9, m)), list(rng.uniform(0.2, 0.5, m)))
    names = [f"lf_{j:02d}" for j in range(m)]
    ids = spark.createDataFrame([(f"r{i}",) for i in range(len(L))], "id string")
    rows, cols = np.nonzero(L >= 0)
    votes = spark.createDataFrame(
        [(f"r{i}", names[j], int(L[i, j])) for i, j in zip(rows, cols, strict=True)]
        + [("r0", "not_in_the_pack", 1), ("ghost", names[0], 1)],
        "id string, lf string, vote int",
    )
    patterns = sparse_vote_patterns(spark, ids, votes, names, k)

    P, counts, _ = patterns_and_counts(L)
    assert patterns.count() == len(P)  # the empty pattern included, the ghost id not
    assert patterns.agg({"count": "sum"}).first()[0] == len(L)

    driver = DawidSkene(k, smoothing=0.1).fit(P, counts)
    executors = fit_dawid_skene_on_executors(patterns.repartition(3), m, k, smoothing=0.1)
    assert executors.iterations == driver.iterations > 1
    assert np.allclose(executors.mu, driver.mu, atol=1e-9) and np.allclose(executors.pi, driver.pi, atol=1e-9)
    assert np.allclose(executors.predict_proba(P), driver.predict_proba(P), atol=1e-9)


@shares_first_run("dawid_skene")
@pytest.mark.slow
def test_fit_stage_on_the_executors_publishes_the_driver_labels(spark, tmp_path, monkeypatch, lake_after_run) -> None:
    """A pack too wide for packed codes with more patterns than the threshold: the fit stage keeps
    the patterns in Spark, and publishes what the driver path publishes."""
    import dataclasses
    import json

    from deltalake import DeltaTable

    from jobs.core.lineage import RunContext
    from jobs.lake.tables import table
    from jobs.patterns.vote_patterns import PatternCodec
    from jobs.pipeline import run_pipeline
    from tests.conftest import DAWID_SKENE_RUN, write_config

    def published(home):
        labels = DeltaTable(str(table(home, "youtube_spam", "labels").path)).to_pandas().set_index("id").sort_index()
        model = DeltaTable(str(table(home, "youtube_spam", "label_models").path)).to_pandas().iloc[0]
        return labels, json.loads(model["selection"])["selected_by"]

    reference, _ = lake_after_run(*DAWID_SKENE_RUN)  # the default: patterns fitted on the driver
    driver, driver_by = published(reference)
    monkeypatch.setattr(PatternCodec, "for_lfs", classmethod(lambda cls, names, k: None))  # the string path
    monkeypatch.setenv("LABELLAKE_FIT_ON_EXECUTORS_ABOVE", "0")
    # A copy of that lakehouse whose config differs only in a threshold the labels pass either way:
    # the fit key changes, so the next run reuses the ingest and the votes and fits again.
    datasets, run = DAWID_SKENE_RUN
    entry = datasets["youtube_spam"]
    refit = {"youtube_spam": {**entry, "expectations": {**entry["expectations"], "min_coverage": 0.49}}}
    home, _ = lake_after_run(datasets, run, home_name="executors")
    home = dataclasses.replace(home, config_path=write_config(tmp_path / "refit.toml", refit))
    results = run_pipeline(RunContext("executors", "youtube_spam"), home, spark)
    assert results["ingest"].reused and results["apply_lfs"].plan.mode == "incremental"
    executors, executors_by = published(home)
    assert executors_by == "patterns on the executors" and driver_by == "config"
    assert len(executors) == len(driver) == 1953
    assert (executors["label_model_label"] == driver["label_model_label"]).all()
    assert (executors["_lf_versions"] == driver["_lf_versions"]).all()
    assert np.allclose(np.stack(executors["probs"]), np.stack(driver["probs"]), atol=1e-9)
    assert (driver["label_model_label"] == -1).sum() > 0  # uncovered rows: -1 and the class prior on both paths
