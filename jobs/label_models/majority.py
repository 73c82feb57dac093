"""Majority vote: the baseline every other label model must beat."""

from __future__ import annotations

import numpy as np

from jobs.label_models.base import LabelModel, LinearScores
from jobs.label_models.onehot import OneHotVotes


def majority_posteriors(votes: OneHotVotes) -> np.ndarray:
    """Majority-vote posteriors: the mass split evenly over the top classes, uniform without
    votes. Majority vote's prediction, and the usual start of EM (Dawid-Skene)."""
    tallies = votes.class_votes()
    winners = (tallies == tallies.max(axis=1, keepdims=True)).astype(float)
    return np.asarray(winners / winners.sum(axis=1, keepdims=True))


class MajorityVote(LabelModel):
    """Each non-abstaining LF counts one vote; probabilities spread evenly over the top classes.

    A pattern with no votes gets the uniform distribution (and label -1); a tie
    between classes splits the mass between them (and label -1).

    >>> import numpy as np
    >>> mv = MajorityVote(cardinality=2).fit(np.array([[1, 1, 0], [-1, -1, -1]]), np.array([3, 1]))
    >>> mv.predict_proba(np.array([[1, 1, 0], [0, 1, -1], [-1, -1, -1]])).tolist()
    [[0.0, 1.0], [0.5, 0.5], [0.5, 0.5]]
    >>> mv.predict(np.array([[1, 1, 0], [0, 1, -1]])).tolist()
    [1, -1]
    """

    name = "majority_vote"

    def fit(self, L: np.ndarray, counts: np.ndarray) -> MajorityVote:
        self.check_matrix(L, self.cardinality)
        self.n_lfs = L.shape[1]
        return self

    def linear_scores(self) -> LinearScores | None:
        """One point per vote for its class; the mass goes evenly to the top classes."""
        if getattr(self, "n_lfs", None) is None:
            return None
        k = self.cardinality
        return LinearScores(np.zeros(k), np.tile(np.eye(k), (self.n_lfs, 1, 1)), "top_split")

    def predict_proba(self, L: np.ndarray) -> np.ndarray:
        L = self.check_matrix(L, self.cardinality)
        return majority_posteriors(OneHotVotes.from_patterns(L, None, self.cardinality))
