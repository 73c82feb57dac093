"""Weighted majority vote with weights learned without labels.

Each LF's weight is the log-odds of its accuracy, ``log(a (k - 1) / (1 - a))``
(the Bayes-optimal vote weight when an LF is right with probability ``a`` and
wrong uniformly otherwise). ``a`` is estimated as how often the LF agrees with
the weighted vote of the *other* LFs where they reach a decision, and the
estimate is iterated a few times. An LF no better than chance gets weight 0,
never a negative one (it is ignored, not inverted). With equally accurate LFs
all weights are equal and the model is majority vote.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from jobs.label_models.base import LabelModel, LinearScores
from jobs.label_models.onehot import OneHotVotes, normalize_log


class WeightedMajorityVote(LabelModel):
    name = "weighted_majority_vote"

    def __init__(
        self,
        cardinality: int,
        class_balance: Sequence[float] | None = None,
        seed: int = 0,
        iterations: int = 5,
        pseudo_count: float = 1.0,
    ):
        super().__init__(cardinality, class_balance, seed)
        self.iterations, self.pseudo_count = iterations, pseudo_count
        self.accuracy: np.ndarray | None = None
        self.weights: np.ndarray | None = None

    def _weights(self, accuracy: np.ndarray) -> np.ndarray:
        k = self.cardinality
        a = np.clip(accuracy, 1e-6, 1 - 1e-6)
        return np.asarray(np.maximum(np.log(a * (k - 1) / (1 - a)), 0.0))

    def fit(self, L: np.ndarray, counts: np.ndarray) -> WeightedMajorityVote:
        L = self.check_matrix(L, self.cardinality)
        k, m = self.cardinality, L.shape[1]
        votes = OneHotVotes.from_patterns(L, counts, k)
        weights = np.ones(m)
        accuracy = np.full(m, 0.5)
        S = votes.S.tocsc()
        for _ in range(self.iterations):
            tallies = votes.class_votes(weights)
            for j in range(m):
                block = S[:, j * k : (j + 1) * k].tocsr()
                rows = np.flatnonzero(np.diff(block.indptr))
                if not len(rows):
                    continue
                own = np.asarray(block[rows].todense())  # one-hot of LF j's vote
                others = tallies[rows] - weights[j] * own
                top = others.max(axis=1, keepdims=True)
                decided = (np.isclose(others, top).sum(axis=1) == 1) & (top[:, 0] > 0)
                agree = decided & (own.argmax(axis=1) == others.argmax(axis=1))
                w = votes.weights[rows]
                accuracy[j] = (w[agree].sum() + self.pseudo_count * 0.5) / (w[decided].sum() + self.pseudo_count)
            weights = self._weights(accuracy)
        self.accuracy, self.weights = accuracy, weights
        return self

    def predict_proba(self, L: np.ndarray) -> np.ndarray:
        if self.weights is None:
            raise ValueError(f"{self.name}: fit before predict")
        L = self.check_matrix(L, self.cardinality)
        votes = OneHotVotes.from_patterns(L, None, self.cardinality)
        return normalize_log(votes.class_votes(self.weights) + np.log(self.prior())[None, :])

    def lf_accuracies(self) -> np.ndarray | None:
        return self.accuracy

    def linear_scores(self) -> LinearScores | None:
        if self.weights is None:
            return None
        k = self.cardinality
        return LinearScores(np.log(self.prior()), self.weights[:, None, None] * np.eye(k)[None], "softmax")

    def hyperparameters(self) -> dict[str, Any]:
        return {**super().hyperparameters(), "iterations": self.iterations, "pseudo_count": self.pseudo_count}

    def fitted_parameters(self) -> dict[str, Any]:
        return {} if self.weights is None else {"weights": np.round(self.weights, 6).tolist()}
