"""LF analysis in Spark equals Snorkel's LFAnalysis definitions on a label matrix."""

from __future__ import annotations

import numpy as np

from jobs.lf_analysis import lf_summary


def _snorkel_reference(L: np.ndarray, Y: np.ndarray) -> dict[str, np.ndarray]:
    """Snorkel 0.9/0.10 ``LFAnalysis`` formulas, written out on a dense matrix."""
    labeled = L != -1
    n_labeled = labeled.sum(axis=1)
    conflicted = np.array([len(set(row[row != -1])) > 1 for row in L])
    return {
        "coverage": labeled.mean(axis=0),
        "overlaps": (labeled & (n_labeled > 1)[:, None]).mean(axis=0),
        "conflicts": (labeled & conflicted[:, None]).mean(axis=0),
        "correct": ((L == Y[:, None]) & labeled).sum(axis=0),
        "incorrect": ((L != Y[:, None]) & labeled).sum(axis=0),
    }


def test_matches_snorkel_definitions(spark) -> None:
    rng = np.random.default_rng(7)
    n, m, k = 300, 6, 3
    L = np.where(rng.random((n, m)) < 0.4, rng.integers(0, k, (n, m)), -1)
    Y = rng.integers(0, k, n)
    votes = [(f"r{i}", f"lf{j}", int(L[i, j]), "v") for i in range(n) for j in range(m) if L[i, j] != -1]
    votes_df = spark.createDataFrame(votes, "id string, lf string, vote int, lf_version string")
    gold_df = spark.createDataFrame([(f"r{i}", int(Y[i])) for i in range(n)], "id string, label int")
    got = {r["lf"]: r for r in lf_summary(votes_df, n, gold_df).collect()}
    ref = _snorkel_reference(L, Y)
    for j in range(m):
        row = got[f"lf{j}"]
        assert np.isclose(row["coverage"], ref["coverage"][j])
        assert np.isclose(row["overlaps"], ref["overlaps"][j])
        assert np.isclose(row["conflicts"], ref["conflicts"][j])
        assert row["correct"] == ref["correct"][j] and row["incorrect"] == ref["incorrect"][j]
        assert np.isclose(row["empirical_accuracy"], ref["correct"][j] / (ref["correct"][j] + ref["incorrect"][j]))
        assert row["polarity"] == sorted(set(L[:, j][L[:, j] != -1].tolist()))
