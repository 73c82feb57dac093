"""LF analysis from pattern counts equals Snorkel's LFAnalysis definitions on a label matrix."""

from __future__ import annotations

import numpy as np

from jobs.stages.fit.lf_analysis import lf_summary


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


def test_matches_snorkel_definitions() -> None:
    rng = np.random.default_rng(7)
    n, m, k = 300, 6, 3
    L = np.where(rng.random((n, m)) < 0.4, rng.integers(0, k, (n, m)), -1)
    Y = rng.integers(0, k, n)
    # Distinct patterns with row counts, and (pattern, gold) counts: what the fit stage has in hand.
    patterns, counts = np.unique(L, axis=0, return_counts=True)
    with_gold, gold_counts = np.unique(np.column_stack([L, Y]), axis=0, return_counts=True)
    gold = (with_gold[:, :m], with_gold[:, m], gold_counts)
    got = lf_summary(patterns, counts, n, [f"lf{j}" for j in range(m)], gold)
    ref = _snorkel_reference(L, Y)
    for j in range(m):
        row = got[f"lf{j}"]
        assert np.isclose(row["coverage"], ref["coverage"][j])
        assert np.isclose(row["overlaps"], ref["overlaps"][j])
        assert np.isclose(row["conflicts"], ref["conflicts"][j])
        assert row["correct"] == ref["correct"][j] and row["incorrect"] == ref["incorrect"][j]
        assert np.isclose(row["empirical_accuracy"], ref["correct"][j] / (ref["correct"][j] + ref["incorrect"][j]))
        assert row["polarity"] == sorted(set(L[:, j][L[:, j] != -1].tolist()))
