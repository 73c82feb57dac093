"""The label-model interface shared by every model."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

ABSTAIN = -1


class LabelModel(ABC):
    """Fit on (patterns, counts); predict class probabilities for patterns.

    ``predict`` turns probabilities into a label, or -1 where the model has no
    unique best class (no votes, or a tie), as Snorkel's ``tie_break_policy="abstain"``.
    """

    name: str = "base"

    def __init__(self, cardinality: int):
        if cardinality < 2:
            raise ValueError(f"cardinality must be >= 2, got {cardinality}")
        self.cardinality = cardinality

    @staticmethod
    def check_matrix(L: np.ndarray, cardinality: int) -> np.ndarray:
        L = np.asarray(L, dtype=np.int64)
        if L.ndim != 2:
            raise ValueError(f"L must be 2-D (patterns x LFs), got shape {L.shape}")
        bad = (L < ABSTAIN) | (L >= cardinality)
        if bad.any():
            row, col = map(int, np.argwhere(bad)[0])
            raise ValueError(f"L[{row}, {col}] = {L[row, col]} is not -1 or a class in [0, {cardinality})")
        return L

    @abstractmethod
    def fit(self, L: np.ndarray, counts: np.ndarray) -> "LabelModel":
        """Learn from distinct patterns ``L`` (P x m) weighted by ``counts`` (P,)."""

    @abstractmethod
    def predict_proba(self, L: np.ndarray) -> np.ndarray:
        """(P, k) class probabilities, rows summing to 1."""

    def predict(self, L: np.ndarray) -> np.ndarray:
        probs = self.predict_proba(L)
        best = probs.max(axis=1, keepdims=True)
        unique = (np.isclose(probs, best)).sum(axis=1) == 1
        return np.where(unique, probs.argmax(axis=1), ABSTAIN)
