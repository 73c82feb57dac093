"""The label-model interface shared by every model."""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

ABSTAIN = -1


@dataclass(frozen=True)
class LinearScores:
    """A fitted model's prediction written as ``bias + sum over LFs of table[j, vote]``, then a link.

    Every model here scores a class by adding one number per (LF, vote) to a
    per-class constant; only the numbers and the final link differ. Written
    this way the prediction needs no pattern table: Spark evaluates it per row
    from the packed vote codes on the executors (:mod:`jobs.stages.fit.predict_on_executors`),
    so predicting millions of distinct patterns costs no driver memory and no join.

    ``link`` is ``"softmax"`` (scores are log-probabilities up to a constant) or
    ``"top_split"`` (majority vote: the mass split evenly over the top-scoring classes).
    """

    bias: np.ndarray  # (k,)
    table: np.ndarray  # (m, k_vote, k_class): what LF j voting v adds to each class's score
    link: str

    def predict_proba(self, L: np.ndarray) -> np.ndarray:
        """The same prediction in numpy (the reference the Spark expression is tested against)."""
        L = np.asarray(L)
        m = self.table.shape[0]
        scores = np.tile(self.bias.astype(np.float64), (len(L), 1))
        for j in range(m):
            voted = L[:, j] >= 0
            scores[voted] += self.table[j, L[voted, j]]
        if self.link == "top_split":
            winners = np.isclose(scores, scores.max(axis=1, keepdims=True)).astype(np.float64)
            return np.asarray(winners / winners.sum(axis=1, keepdims=True))
        shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
        return np.asarray(shifted / shifted.sum(axis=1, keepdims=True))


class LabelModel(ABC):
    """Fit on (patterns, counts); predict class probabilities for patterns.

    ``predict`` turns probabilities into a label, or -1 where the model has no
    unique best class (no votes, or a tie), as Snorkel's ``tie_break_policy="abstain"``.

    ``class_balance`` is an optional prior over classes (fixed, not learned);
    ``seed`` makes any randomized step reproducible. Fitted models describe
    themselves with :meth:`params` (JSON-able) and :meth:`version` (a hash of
    the hyper-parameters and fitted parameters), which go into lineage.
    """

    name: str = "base"

    def __init__(self, cardinality: int, class_balance: Sequence[float] | None = None, seed: int = 0):
        if cardinality < 2:
            raise ValueError(f"cardinality must be >= 2, got {cardinality}")
        self.cardinality = cardinality
        self.seed = seed
        self.class_balance = None
        if class_balance is not None:
            prior = np.asarray(class_balance, dtype=np.float64)
            if prior.shape != (cardinality,) or (prior <= 0).any() or not np.isclose(prior.sum(), 1.0):
                raise ValueError(
                    f"class_balance must be {cardinality} positive numbers summing to 1, got {list(class_balance)}"
                )
            self.class_balance = prior

    @staticmethod
    def check_matrix(L: np.ndarray, cardinality: int) -> np.ndarray:
        L = np.asarray(L)
        if not np.issubdtype(L.dtype, np.integer):
            raise ValueError(f"L must hold integers (class indices, -1 = abstain), got {L.dtype}")
        if L.ndim != 2:
            raise ValueError(f"L must be 2-D (patterns x LFs), got shape {L.shape}")
        bad = (L < ABSTAIN) | (L >= cardinality)
        if bad.any():
            row, col = map(int, np.argwhere(bad)[0])
            raise ValueError(f"L[{row}, {col}] = {L[row, col]} is not -1 or a class in [0, {cardinality})")
        return L

    def check_predict_input(self, L: np.ndarray, fitted: bool, n_lfs: int) -> np.ndarray:
        """``L`` validated for prediction: the model is fitted and ``L`` has the LFs it was fitted on."""
        if not fitted:
            raise ValueError(f"{self.name}: fit before predict")
        L = self.check_matrix(L, self.cardinality)
        if L.shape[1] != n_lfs:
            raise ValueError(f"{self.name}: fitted on {n_lfs} LFs, got {L.shape[1]}")
        return L

    def prior(self) -> np.ndarray:
        """The class prior used for prediction: the configured balance, else uniform."""
        if self.class_balance is not None:
            return self.class_balance
        return np.full(self.cardinality, 1.0 / self.cardinality)

    def class_prior(self) -> np.ndarray:
        """The class distribution the fitted model believes in (learned where the model learns one)."""
        return self.prior()

    @abstractmethod
    def fit(self, L: np.ndarray, counts: np.ndarray) -> LabelModel:
        """Learn from distinct patterns ``L`` (P x m) weighted by ``counts`` (P,)."""

    @abstractmethod
    def predict_proba(self, L: np.ndarray) -> np.ndarray:
        """(P, k) class probabilities, rows summing to 1."""

    def predict(self, L: np.ndarray) -> np.ndarray:
        probs = self.predict_proba(L)
        best = probs.max(axis=1, keepdims=True)
        unique = (np.isclose(probs, best)).sum(axis=1) == 1
        return np.where(unique, probs.argmax(axis=1), ABSTAIN)

    def lf_accuracies(self) -> np.ndarray | None:
        """Learned P(vote correct | LF votes), one per LF, or None for models without them."""
        return None

    def linear_scores(self) -> LinearScores | None:
        """The fitted prediction as :class:`LinearScores`, or None for a model that is not additive
        over LFs (it is then predicted per pattern on the driver and joined back)."""
        return None

    def hyperparameters(self) -> dict[str, Any]:
        return {"class_balance": None if self.class_balance is None else self.class_balance.tolist(), "seed": self.seed}

    def fitted_parameters(self) -> dict[str, Any]:
        return {}

    def params(self) -> dict[str, Any]:
        accuracies = self.lf_accuracies()
        return {
            "model": self.name,
            "cardinality": self.cardinality,
            "hyperparameters": self.hyperparameters(),
            "fitted": self.fitted_parameters(),
            "lf_accuracies": None if accuracies is None else [round(float(a), 6) for a in accuracies],
        }

    def version(self) -> str:
        """A short stable hash of the model: same hyper-parameters and fit give the same version."""
        payload = json.dumps(self.params(), sort_keys=True, default=float)
        return hashlib.sha256(payload.encode()).hexdigest()[:12]
