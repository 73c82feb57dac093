"""Majority vote: the baseline every other label model must beat."""

from __future__ import annotations

import numpy as np

from jobs.label_models.base import LabelModel


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

    def fit(self, L: np.ndarray, counts: np.ndarray) -> "MajorityVote":
        self.check_matrix(L, self.cardinality)
        return self

    def predict_proba(self, L: np.ndarray) -> np.ndarray:
        L = self.check_matrix(L, self.cardinality)
        tallies = np.stack([(L == c).sum(axis=1) for c in range(self.cardinality)], axis=1).astype(float)
        top = tallies.max(axis=1, keepdims=True)
        winners = (tallies == top).astype(float)
        return winners / winners.sum(axis=1, keepdims=True)
