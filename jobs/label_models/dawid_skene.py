"""Dawid-Skene: EM over each LF's class-conditional confusion matrix.

Dawid & Skene (1979) model each source as a confusion matrix
``mu[j, y, v] = P(LF j votes v | true class y, LF j votes)`` and the classes
with a prior ``pi``; EM alternates posteriors over the true class (E-step) and
counts-of-votes-given-class (M-step). Abstains are treated as missing (they
carry no evidence), as in Snorkel and WRENCH.

Why it scales: the M-step needs only ``S.T @ (counts * posteriors)`` and the
E-step ``S @ log mu`` over the sparse one-hot patterns
(:mod:`jobs.label_models.onehot`), so each iteration costs O(votes in the
distinct patterns x k), with no dense ``n x m x k`` array even at 1,000 LFs x
20 classes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from jobs.core.errors import ConfigError
from jobs.label_models.base import LabelModel, LinearScores
from jobs.label_models.majority import majority_posteriors
from jobs.label_models.onehot import OneHotVotes, normalize_log

ABSTAIN_MODELS = ("by_polarity", "per_class")
"""How :class:`DawidSkene` treats a source's abstains (see its docstring)."""


class DawidSkene(LabelModel):
    """Confusion matrices over votes *and abstain* per LF, Dirichlet smoothing, learned class prior.

    Abstaining is an outcome like any vote: ``mu[j, y, 0]`` is the chance LF
    ``j`` abstains on class ``y``. Without it an LF that only ever votes one
    class (most keyword LFs) would carry no evidence at all; with it, "this
    spam keyword did not fire" counts, a little, for ham. Abstains are not
    stored: their statistics are the class totals minus the votes, and their
    log-likelihood is a per-class constant minus the voting LFs' share, so
    the sparse one-hot votes stay sparse.

    ``smoothing`` pseudo-counts go to every cell and ``diagonal_prior`` extra
    to each correct vote, which keeps rare (LF, class) pairs away from 0 and 1
    and breaks the label-swap symmetry towards "LFs are better than random".

    Whether abstaining is evidence depends on the source (``abstain``). By
    default (``"by_polarity"``) a source that has voted for two or more classes
    is an annotator-like source (a crowd worker, a model with a confidence
    threshold): it abstains on the rows it was not given, whatever their
    class, so its abstains are blind, as in the classic Dawid-Skene model. A
    source that only ever votes one class (a keyword rule) keeps per-class
    abstain rates. ``"per_class"`` models every source's abstains per class.
    """

    name = "dawid_skene"

    def __init__(
        self,
        cardinality: int,
        class_balance: Sequence[float] | None = None,
        seed: int = 0,
        max_iter: int = 200,
        tol: float = 1e-6,
        smoothing: float = 0.1,
        diagonal_prior: float = 1.0,
        learn_prior: bool = True,
        blind_abstain: Sequence[int] = (),
        abstain: str = "by_polarity",
    ):
        super().__init__(cardinality, class_balance, seed)
        if abstain not in ABSTAIN_MODELS:
            raise ConfigError(f"label model {self.name}: abstain must be one of {ABSTAIN_MODELS}, got {abstain!r}")
        self.abstain = abstain
        # Sources whose abstaining says nothing about the class: annotators abstain on the rows
        # nobody asked them about, not on the rows of some class. Their abstain rate is pooled
        # over classes, so "did not label this row" is no evidence either way.
        self.blind_abstain = tuple(int(j) for j in blind_abstain)
        self.max_iter, self.tol = max_iter, tol
        self.smoothing, self.diagonal_prior, self.learn_prior = smoothing, diagonal_prior, learn_prior
        self.mu: np.ndarray | None = None  # (m, k_true, 1 + k_vote); outcome 0 = abstain
        self.pi: np.ndarray | None = None  # (k,)
        self.blind_sources: list[int] = sorted(self.blind_abstain)
        self.iterations = 0

    def _m_step(self, votes: OneHotVotes, q: np.ndarray) -> None:
        # (k,) class mass as a BLAS product, not an axis-0 reduce; (m, k_true, k_vote) vote counts.
        self.m_step_from_statistics(votes.weights @ q, votes.weighted_counts(q))

    def m_step_from_statistics(self, class_mass: np.ndarray, stats: np.ndarray) -> None:
        """The M-step from its sufficient statistics alone: rows per class (``class_mass``, (k,))
        and vote counts per LF, class and vote (``stats``, (m, k_true, k_vote)), both weighted by
        the posteriors. They are sums over rows, so partitions can compute them apart and add them
        up (:mod:`jobs.stages.fit.on_executors`)."""
        k = self.cardinality
        abstains = class_mass[None, :] - stats.sum(axis=2)
        full = np.concatenate([np.maximum(abstains, 0.0)[:, :, None], stats], axis=2)
        full += self.smoothing
        full[:, :, 1:] += self.diagonal_prior * np.eye(k)[None]
        self.mu = full / full.sum(axis=2, keepdims=True)
        self.blind_sources = self._blind_sources(stats)
        if self.blind_sources:  # one abstain rate per source, whatever the class: all at once
            blind = full[self.blind_sources]  # (b, k_true, 1 + k_vote)
            rate = blind[:, :, 0].sum(axis=1) / blind.sum(axis=(1, 2))
            self.mu[self.blind_sources, :, 0] = rate[:, None]
            voted = blind[:, :, 1:]
            self.mu[self.blind_sources, :, 1:] = (1 - rate)[:, None, None] * voted / voted.sum(axis=2, keepdims=True)
        if self.class_balance is not None or not self.learn_prior:
            self.pi = self.prior()
        else:
            mass = class_mass + self.smoothing
            self.pi = mass / mass.sum()

    def _blind_sources(self, stats: np.ndarray) -> list[int]:
        """The sources whose abstains carry no evidence: those named in ``blind_abstain`` and, by
        polarity, every source with votes for two or more classes (``stats`` summed over the true
        class are the source's raw vote counts, so this holds on the executors' statistics too)."""
        blind = set(self.blind_abstain)
        if self.abstain == "by_polarity":
            classes_voted = (stats.sum(axis=1) > 0).sum(axis=1)
            blind.update(int(j) for j in np.flatnonzero(classes_voted >= 2))
        return sorted(blind)

    def _posteriors(self, votes: OneHotVotes) -> np.ndarray:
        assert self.mu is not None and self.pi is not None
        log_mu = np.log(self.mu)
        all_abstain = log_mu[:, :, 0].sum(axis=0)  # (k,)
        vote_vs_abstain = log_mu[:, :, 1:] - log_mu[:, :, :1]  # (m, k_true, k_vote)
        scores = np.log(self.pi) + all_abstain + votes.log_likelihood(vote_vs_abstain)
        return normalize_log(scores)

    def fit(self, L: np.ndarray, counts: np.ndarray) -> DawidSkene:
        L = self.check_matrix(L, self.cardinality)
        votes = OneHotVotes.from_patterns(L, counts, self.cardinality)
        q = majority_posteriors(votes)
        for iteration in range(1, self.max_iter + 1):
            self.iterations = iteration
            self._m_step(votes, q)
            q_new = self._posteriors(votes)
            change = float(np.abs(q_new - q).max()) if len(q) else 0.0
            q = q_new
            if change < self.tol:
                break
        return self

    def predict_proba(self, L: np.ndarray) -> np.ndarray:
        L = self.check_predict_input(L, self.mu is not None, 0 if self.mu is None else self.mu.shape[0])
        return self._posteriors(OneHotVotes.from_patterns(L, None, self.cardinality))

    def class_prior(self) -> np.ndarray:
        return self.prior() if self.pi is None else self.pi

    def linear_scores(self) -> LinearScores | None:
        """Log prior plus "every LF abstained", then each vote's log-likelihood ratio to abstaining
        (what :meth:`_posteriors` computes, without the pattern matrix)."""
        if self.mu is None or self.pi is None:
            return None
        log_mu = np.log(self.mu)
        bias = np.log(self.pi) + log_mu[:, :, 0].sum(axis=0)
        return LinearScores(bias, (log_mu[:, :, 1:] - log_mu[:, :, :1]).transpose(0, 2, 1), "softmax")

    def lf_accuracies(self) -> np.ndarray | None:
        """P(vote = true class | LF votes), under the learned prior."""
        if self.mu is None or self.pi is None:
            return None
        votes = self.mu[:, :, 1:]  # (m, k_true, k_vote)
        correct = (np.einsum("jyy->jy", votes) * self.pi).sum(axis=1)
        voting = (votes.sum(axis=2) * self.pi).sum(axis=1)
        return np.asarray(correct / np.maximum(voting, 1e-12))

    def hyperparameters(self) -> dict[str, Any]:
        return {
            **super().hyperparameters(),
            "max_iter": self.max_iter,
            "tol": self.tol,
            "smoothing": self.smoothing,
            "diagonal_prior": self.diagonal_prior,
            "learn_prior": self.learn_prior,
            "abstain": self.abstain,
            **({"blind_abstain": list(self.blind_abstain)} if self.blind_abstain else {}),
        }

    def fitted_parameters(self) -> dict[str, Any]:
        if self.mu is None or self.pi is None:
            return {}
        return {
            "iterations": self.iterations,
            "blind_abstain_sources": self.blind_sources,
            "class_prior": np.round(self.pi, 6).tolist(),
            "confusion_with_abstain": np.round(self.mu, 6).tolist(),
        }
