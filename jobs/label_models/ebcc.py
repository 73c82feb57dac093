"""EBCC: Enhanced Bayesian Classifier Combination (Li, Rubinstein & Cohn, ICML 2019), one of WRENCH's label models.

Dawid-Skene with two changes that matter when sources are few and sparse:

- It is Bayesian: every LF's confusion rows get a Dirichlet prior (``a_v`` on the
  correct class, ``b_v`` on each wrong one, i.e. "LFs are better than random"),
  the class prior a Dirichlet (``alpha``, by default the majority-vote counts), and
  the fit is mean-field variational Bayes: expected log-parameters (digammas)
  replace the point estimates EM plugs in, so rarely-seen (LF, class) pairs stay
  uncertain instead of being fitted to 0 or 1.
- Each class has ``groups`` latent *subtypes* with their own confusion rows,
  which models correlation between LFs (LFs that fire together on one kind of
  spam) without a dependency graph.

Abstains carry no evidence in the paper and WRENCH, which collapses EBCC to its
class prior on LF data: an LF that only ever votes one class has the same
(all-one-class) vote row under every true class. So by default
(``abstain="by_polarity"``) the abstains of a source that votes one class are
an outcome of its confusion rows, as Dawid-Skene does (``abstain="ignore"``:
the paper's model). Fitted on distinct
patterns weighted by their counts, with the sparse one-hot votes of
:mod:`jobs.label_models.onehot`, so the cost is per pattern, not per row; the
subtype initialisation is a seeded Dirichlet draw, so fits are reproducible.
The prediction mixes subtypes (a log-sum-exp), so it is not additive over LFs
and runs per pattern on the driver.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.special import digamma

from jobs.core.errors import ConfigError
from jobs.label_models.base import LabelModel
from jobs.label_models.majority import majority_posteriors
from jobs.label_models.onehot import OneHotVotes, classes_voted

NO_OUTCOME = 1e-12
"""Dirichlet mass of the abstain outcome of a source whose abstains are no outcome: never counted,
and too small to move its votes' probabilities."""


class EBCC(LabelModel):
    name = "ebcc"

    def __init__(
        self,
        cardinality: int,
        class_balance: Sequence[float] | None = None,
        seed: int = 0,
        groups: int = 10,
        a_pi: float = 0.1,
        a_v: float = 4.0,
        b_v: float = 1.0,
        max_iter: int = 500,
        tol: float = 1e-3,
        empirical_prior: bool = True,
        abstain: str = "by_polarity",
    ):
        super().__init__(cardinality, class_balance, seed)
        if abstain not in ("by_polarity", "ignore"):
            raise ConfigError(f"label model {self.name}: abstain must be 'by_polarity' or 'ignore', got {abstain!r}")
        self.abstain = abstain
        self.abstain_outcome: np.ndarray | None = None  # (m,) bool: the source's abstain is an outcome
        self.groups, self.a_pi, self.a_v, self.b_v = groups, a_pi, a_v, b_v
        self.max_iter, self.tol, self.empirical_prior = max_iter, tol, empirical_prior
        self.eta: np.ndarray | None = None  # (k, M)   subtype weights per class (Dirichlet parameters)
        self.nu: np.ndarray | None = None  # (k,)     class prior (Dirichlet parameters)
        self.mu: np.ndarray | None = None  # (m, k, M, k_vote) confusion rows (Dirichlet parameters)
        self.iterations = 0

    def _outcomes(self, L: np.ndarray, counts: np.ndarray | None = None) -> OneHotVotes:
        """One-hot outcomes: each vote, and the abstain (outcome ``k``) of the sources in
        :attr:`abstain_outcome`; other abstains stay no outcome at all."""
        assert self.abstain_outcome is not None
        k = self.cardinality
        coded = np.where((L < 0) & self.abstain_outcome[None, :], k, L)
        return OneHotVotes.from_patterns(coded, counts, k + 1)

    def _log_joint(self, votes: OneHotVotes) -> np.ndarray:
        """(P, k, M) unnormalised log q(class, subtype | pattern) under the expected log-parameters."""
        assert self.eta is not None and self.nu is not None and self.mu is not None
        k, M = self.cardinality, self.groups
        log_pi = digamma(self.eta) - digamma(self.eta.sum(axis=1, keepdims=True))  # (k, M)
        if self.class_balance is not None:
            log_tau = np.log(self.class_balance)
        else:
            log_tau = digamma(self.nu) - digamma(self.nu.sum())  # (k,)
        log_v = digamma(self.mu) - digamma(self.mu.sum(axis=3, keepdims=True))  # (m, k, M, l)
        # Row j*k + l of the one-hot votes picks log_v[j, :, :, l] for every (class, subtype).
        table = log_v.transpose(0, 3, 1, 2).reshape(votes.n_lfs * (k + 1), k * M)
        scores = np.asarray(votes.S @ table).reshape(-1, k, M)
        return np.asarray(scores + (log_pi + log_tau[:, None])[None])

    @staticmethod
    def _normalise(log_joint: np.ndarray) -> np.ndarray:
        flat = log_joint.reshape(len(log_joint), -1)
        flat = np.exp(flat - flat.max(axis=1, keepdims=True))
        flat /= flat.sum(axis=1, keepdims=True)
        return np.asarray(flat.reshape(log_joint.shape))

    def fit(self, L: np.ndarray, counts: np.ndarray) -> EBCC:
        L = self.check_matrix(L, self.cardinality)
        k, M, m = self.cardinality, self.groups, L.shape[1]
        class_votes = OneHotVotes.from_patterns(L, counts, k)
        self.abstain_outcome = (classes_voted(L) == 1) & (self.abstain == "by_polarity")
        votes = self._outcomes(L, counts)
        w = votes.weights
        z = majority_posteriors(class_votes)  # (P, k)
        alpha = w @ z if self.empirical_prior else np.ones(k)
        beta = np.full((k, k), self.b_v) + np.eye(k) * (self.a_v - self.b_v)  # (true, vote)
        # (m, true, outcome): the abstain outcome's prior where it is one; a negligible mass elsewhere.
        beta = np.concatenate([np.broadcast_to(beta, (m, k, k)), np.full((m, k, 1), NO_OUTCOME)], axis=2)
        beta[self.abstain_outcome, :, k] = self.b_v
        rng = np.random.default_rng(self.seed)
        zg = rng.dirichlet(np.ones(M), size=(len(L), k)) * z[:, :, None]  # (P, k, M)
        for iteration in range(1, self.max_iter + 1):
            self.iterations = iteration
            weighted = zg * w[:, None, None]
            self.eta = self.a_pi / M + weighted.sum(axis=0)
            self.nu = alpha + weighted.sum(axis=(0, 2))
            stats = np.asarray(votes.S.T @ weighted.reshape(len(L), k * M))  # (m*l, k*M)
            self.mu = beta[:, :, None, :] + stats.reshape(m, k + 1, k, M).transpose(0, 2, 3, 1)
            zg = self._normalise(self._log_joint(votes))
            z_new = zg.sum(axis=2)
            change = float(np.abs(z_new - z).max()) if len(z) else 0.0
            z = z_new
            if change < self.tol:
                break
        return self

    def predict_proba(self, L: np.ndarray) -> np.ndarray:
        L = self.check_predict_input(L, self.mu is not None, 0 if self.mu is None else self.mu.shape[0])
        return np.asarray(self._normalise(self._log_joint(self._outcomes(L))).sum(axis=2))

    def class_prior(self) -> np.ndarray:
        if self.class_balance is not None or self.nu is None:
            return self.prior()
        return np.asarray(self.nu / self.nu.sum())

    def lf_accuracies(self) -> np.ndarray | None:
        """P(vote = true class | LF votes): each class's confusion row mixed over its subtypes."""
        if self.mu is None or self.eta is None:
            return None
        v = self.mu[..., :-1] / self.mu[..., :-1].sum(axis=3, keepdims=True)  # (m, k, M, l): given a vote
        pi = self.eta / self.eta.sum(axis=1, keepdims=True)  # (k, M)
        per_class = np.einsum("jkmk,km->jk", v, pi)  # (m, k)
        return np.asarray(per_class @ self.class_prior())

    def hyperparameters(self) -> dict[str, Any]:
        return {
            **super().hyperparameters(),
            "groups": self.groups,
            "a_pi": self.a_pi,
            "a_v": self.a_v,
            "b_v": self.b_v,
            "max_iter": self.max_iter,
            "tol": self.tol,
            "empirical_prior": self.empirical_prior,
            "abstain": self.abstain,
        }

    def fitted_parameters(self) -> dict[str, Any]:
        if self.mu is None or self.nu is None or self.eta is None:
            return {}
        return {
            "iterations": self.iterations,
            "class_prior": np.round(self.class_prior(), 6).tolist(),
            "subtype_weights": np.round(self.eta / self.eta.sum(axis=1, keepdims=True), 6).tolist(),
        }
