"""Majority vote on vote patterns."""

from __future__ import annotations

import numpy as np
import pytest

from jobs.fit_label_model import pattern_matrix
from jobs.label_models import MajorityVote, make_label_model
from jobs.errors import ConfigError


def test_majority_vote_probabilities_and_ties() -> None:
    L = np.array([[1, 1, 0], [0, -1, -1], [1, 0, -1], [-1, -1, -1], [2, 2, 1]])
    mv = MajorityVote(cardinality=3).fit(L, np.ones(len(L)))
    probs = mv.predict_proba(L)
    assert np.allclose(probs.sum(axis=1), 1.0)
    assert probs[0].tolist() == [0.0, 1.0, 0.0]
    assert probs[2].tolist() == [0.5, 0.5, 0.0]
    assert np.allclose(probs[3], 1 / 3)
    assert mv.predict(L).tolist() == [1, 0, -1, -1, 2]


def test_rejects_votes_outside_the_label_space() -> None:
    with pytest.raises(ValueError, match=r"L\[0, 1\] = 5"):
        MajorityVote(cardinality=2).fit(np.array([[0, 5]]), np.array([1]))
    with pytest.raises(ConfigError, match="unknown label model"):
        make_label_model("nope", 2)


def test_pattern_matrix_from_pattern_strings() -> None:
    L = pattern_matrix(["a=1,c=0", "", "b=1"], ["a", "b", "c"])
    assert L.tolist() == [[1, -1, 0], [-1, -1, -1], [-1, 1, -1]]
