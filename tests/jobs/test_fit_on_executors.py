"""Dawid-Skene fitted on the executors equals the driver's fit on the same patterns."""

from __future__ import annotations

import numpy as np

from jobs.fit_on_executors import fit_dawid_skene_on_executors, sparse_vote_patterns
from jobs.label_model_eval import patterns_and_counts
from jobs.label_models import DawidSkene
from tests.jobs.test_label_models import synthetic_votes


def test_executor_fit_equals_the_driver_fit(spark) -> None:
    m, k = 30, 4
    rng = np.random.default_rng(5)
    # Every row its own pattern, as with many sources; EM converges in 15 iterations (15 Spark passes).
    L, _ = synthetic_votes(2000, [0.4, 0.3, 0.2, 0.1], list(rng.uniform(0.6, 0.9, m)), list(rng.uniform(0.2, 0.5, m)))
    names = [f"lf_{j:02d}" for j in range(m)]
    ids = spark.createDataFrame([(f"r{i}",) for i in range(len(L))], "id string")
    rows, cols = np.nonzero(L >= 0)
    votes = spark.createDataFrame([(f"r{i}", names[j], int(L[i, j])) for i, j in zip(rows, cols)]
                                  + [("r0", "not_in_the_pack", 1), ("ghost", names[0], 1)],
                                  "id string, lf string, vote int")
    patterns = sparse_vote_patterns(spark, ids, votes, names, k)

    P, counts, _ = patterns_and_counts(L)
    assert patterns.count() == len(P)                       # the empty pattern included, the ghost id not
    assert patterns.agg({"count": "sum"}).first()[0] == len(L)

    driver = DawidSkene(k, smoothing=0.1).fit(P, counts)
    executors = fit_dawid_skene_on_executors(patterns.repartition(3), m, k, smoothing=0.1)
    assert executors.iterations == driver.iterations > 1
    assert np.allclose(executors.mu, driver.mu, atol=1e-9) and np.allclose(executors.pi, driver.pi, atol=1e-9)
    assert np.allclose(executors.predict_proba(P), driver.predict_proba(P), atol=1e-9)
