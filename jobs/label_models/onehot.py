"""Vote patterns as a sparse one-hot matrix: the shared input of every fitted model.

A pattern matrix ``L`` (P patterns x m LFs, -1 = abstain) becomes ``S``, a
``P x (m*k)`` CSR matrix with a 1 at column ``j*k + v`` where LF ``j`` voted
class ``v``; abstains are simply absent. Every model's sufficient statistics
are then sparse products (``S.T @ (weights * posteriors)``, ``S @ log_mu``),
so cost follows the number of *votes* in the distinct patterns, never the
number of rows and never a dense ``n x m x k`` tensor: 1,000 LFs x 20 classes
is a 20,000-column sparse matrix, not a 20,000 x 20,000 dense one per row.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from jobs.label_models.base import ABSTAIN


@dataclass(frozen=True)
class OneHotVotes:
    S: sp.csr_matrix  # (P, m*k) one-hot votes
    weights: np.ndarray  # (P,) rows sharing each pattern
    n_lfs: int
    cardinality: int

    @classmethod
    def from_patterns(cls, L: np.ndarray, counts: np.ndarray | None, cardinality: int) -> OneHotVotes:
        P, m = L.shape
        rows, cols = np.nonzero(L != ABSTAIN)
        data = np.ones(len(rows), dtype=np.float64)
        S = sp.csr_matrix((data, (rows, cols * cardinality + L[rows, cols])), shape=(P, m * cardinality))
        weights = np.ones(P) if counts is None else np.asarray(counts, dtype=np.float64)
        if weights.shape != (P,):
            raise ValueError(f"counts must have one entry per pattern ({P}), got shape {weights.shape}")
        return cls(S, weights, m, cardinality)

    @property
    def total(self) -> float:
        return float(self.weights.sum())

    def class_votes(self, lf_weights: np.ndarray | None = None) -> np.ndarray:
        """(P, k): how many LFs (or how much LF weight) voted each class in each pattern."""
        k = self.cardinality
        w = np.ones(self.n_lfs) if lf_weights is None else np.asarray(lf_weights, dtype=np.float64)
        collapse = sp.csr_matrix(np.kron(w[:, None], np.eye(k)))  # column j*k+v -> class v, times w_j
        return np.asarray((self.S @ collapse).todense())

    def covered(self) -> np.ndarray:
        """(P,) bool: at least one LF voted."""
        return np.asarray(np.diff(self.S.indptr) > 0)

    def weighted_counts(self, posteriors: np.ndarray) -> np.ndarray:
        """(m, k_true, k_vote): sum over rows of P(y | row) * [LF j voted v], rows weighted by counts."""
        k = self.cardinality
        stats = self.S.T @ (posteriors * self.weights[:, None])  # (m*k_vote, k_true)
        return np.asarray(stats).reshape(self.n_lfs, k, k).transpose(0, 2, 1)

    def log_likelihood(self, log_mu: np.ndarray) -> np.ndarray:
        """(P, k): sum over voting LFs of log P(vote | y) for each class y; ``log_mu`` is (m, k_true, k_vote)."""
        k = self.cardinality
        table = log_mu.transpose(0, 2, 1).reshape(self.n_lfs * k, k)  # row j*k+v -> log P(v | y) over y
        return np.asarray(self.S @ table)


def row_max(values: np.ndarray) -> np.ndarray:
    """``values.max(axis=1)``, column by column: numpy reduces a (P, 2) array along its short axis
    far slower than it takes the maximum of contiguous columns (docs/decisions/0005)."""
    values = np.asarray(values)
    if values.shape[1] > 32:
        return np.asarray(values.max(axis=1))
    top = values[:, 0].copy()
    for c in range(1, values.shape[1]):
        np.maximum(top, values[:, c], out=top)
    return top


def row_sum(values: np.ndarray) -> np.ndarray:
    """``values.sum(axis=1)``, column by column (see :func:`row_max`)."""
    values = np.asarray(values)
    if values.shape[1] > 32:
        return np.asarray(values.sum(axis=1))
    total = values[:, 0].copy()
    for c in range(1, values.shape[1]):
        total += values[:, c]
    return total


def normalize_log(scores: np.ndarray) -> np.ndarray:
    """Row-wise softmax of log scores, numerically safe."""
    probs = np.exp(scores - row_max(scores)[:, None])
    probs /= row_sum(probs)[:, None]
    return np.asarray(probs)


def classes_voted(L: np.ndarray) -> np.ndarray:
    """(m,) how many distinct classes each source votes for in ``L`` (patterns; -1 abstains):
    1 for a keyword LF, usually 2 or more for a crowd worker."""
    return np.array([len(np.unique(L[L[:, j] >= 0, j])) for j in range(L.shape[1])], dtype=np.int64)
