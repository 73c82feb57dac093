"""Snorkel's ``LabelModel`` (Ratner et al., AAAI 2019), ported to NumPy: same estimator, same labels.

Conditionally independent LFs make the second moments of the one-hot votes
factor as ``O = E[psi psi^T] = mu P mu^T`` off the diagonal blocks, with
``mu[j*k+v, y] = P(LF j votes v | Y = y)`` and ``P = diag(class prior)``. ``mu``
is recovered by matrix completion: minimize the squared error over the
off-diagonal blocks, plus the constraint that each LF's marginal vote rates
match (``mu P 1 = diag(O)``). The default training is Snorkel 0.10's, step for
step: ``mu_init`` (from ``prec_init``) times one draw of NumPy's seeded global
generator, full-batch SGD with momentum on the exact gradient, one clamp to
``[mu_eps, 1 - mu_eps]`` after training, the column permutation that trusts the
LFs most (within classes of equal prior), and ``softmax(S log mu + log p)``.
Its test probabilities equal Snorkel 0.10's to 1e-5 on the shared reference
sets (``tests/label_models/test_snorkel_reference.py``). ``optimizer = "lbfgs"`` solves
the same objective exactly instead.

``O`` is (m*k) x (m*k) and dense, which is what makes Snorkel's model blow up
at 1,200 LFs x 56 classes; it is built from the pattern counts with one sparse
product. Above ``max_dim`` columns the model refuses with a clear message:
Dawid-Skene, fitted on sparse statistics, is the model for that size.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment, minimize

from jobs.core.errors import ConfigError
from jobs.label_models.base import LabelModel, LinearScores
from jobs.label_models.onehot import OneHotVotes, normalize_log


class MetalLabelModel(LabelModel):
    name = "metal"

    def __init__(
        self,
        cardinality: int,
        class_balance: Sequence[float] | None = None,
        seed: int = 0,
        prec_init: float = 0.7,
        l2: float = 0.0,
        max_iter: int = 1000,
        max_dim: int = 6000,
        optimizer: str = "sgd",
        n_epochs: int = 500,
        lr: float = 0.01,
        momentum: float = 0.9,
    ):
        super().__init__(cardinality, class_balance, seed)
        self.prec_init, self.l2, self.max_iter, self.max_dim = prec_init, l2, max_iter, max_dim
        if optimizer not in ("sgd", "lbfgs"):
            raise ConfigError(f"label model {self.name}: optimizer must be 'sgd' or 'lbfgs', got {optimizer!r}")
        self.optimizer, self.n_epochs, self.lr, self.momentum = optimizer, n_epochs, lr, momentum
        self.mu: np.ndarray | None = None  # (m*k, k)
        self.n_lfs = 0
        self.loss = float("nan")

    def fit(self, L: np.ndarray, counts: np.ndarray) -> MetalLabelModel:
        L = self.check_matrix(L, self.cardinality)
        k, m = self.cardinality, L.shape[1]
        d = m * k
        if d > self.max_dim:
            raise ConfigError(
                f"label model {self.name}: {m} LFs x {k} classes = {d} moment columns exceeds "
                f"max_dim={self.max_dim} (a dense {d}x{d} overlap matrix); use dawid_skene"
            )
        votes = OneHotVotes.from_patterns(L, counts, k)
        weighted = votes.S.multiply(votes.weights[:, None]).tocsr()
        O = np.asarray((votes.S.T @ weighted).todense()) / max(votes.total, 1.0)  # noqa: E741 (the paper's name)
        p = self.prior()
        # The flat positions of the diagonal blocks (an LF with itself), left out of the fit.
        own = np.arange(d) // k
        same_lf = np.flatnonzero((own[:, None] == own[None, :]).ravel())
        lps = np.diag(O).copy()
        mu_init = np.zeros((d, k))
        for j in range(m):
            for y in range(k):
                mu_init[j * k + y, y] = np.clip(lps[j * k + y] * self.prec_init / p[y], 0, 1)

        def residuals(mu: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            R = (mu * p) @ mu.T - O  # mu P mu^T - O, P diagonal
            R.flat[same_lf] = 0.0
            return R, mu @ p - lps

        def gradient_of(mu: np.ndarray, R: np.ndarray, r2: np.ndarray) -> np.ndarray:
            grad: np.ndarray = 4 * (R @ mu) * p + 2 * np.outer(r2, p) + 2 * self.l2 * (mu - mu_init)
            return grad

        own_blocks = O.reshape(m, k, m, k)[np.arange(m), :, np.arange(m), :]  # (m, k, k): O_jj

        def gradient(mu: np.ndarray) -> np.ndarray:
            """``gradient_of(mu, *residuals(mu))`` without the d x d residual matrix: R mu is
            mu P (mu^T mu) - O mu, minus the diagonal blocks' share (an LF with itself)."""
            weighted = mu * p
            r_mu = weighted @ (mu.T @ mu) - O @ mu
            mu3 = mu.reshape(m, k, k)
            r_mu -= ((weighted.reshape(m, k, k) @ mu3.transpose(0, 2, 1) - own_blocks) @ mu3).reshape(d, k)
            r2 = mu @ p - lps
            grad: np.ndarray = 4 * r_mu * p + 2 * np.outer(r2, p) + 2 * self.l2 * (mu - mu_init)
            return grad

        def objective(flat: np.ndarray) -> tuple[float, np.ndarray]:
            mu = flat.reshape(d, k)
            R, r2 = residuals(mu)
            loss = float((R**2).sum() + (r2**2).sum() + self.l2 * ((mu - mu_init) ** 2).sum())
            return loss, gradient_of(mu, R, r2).ravel()

        if self.optimizer == "lbfgs":
            result = minimize(
                objective,
                mu_init.ravel(),
                jac=True,
                method="L-BFGS-B",
                bounds=[(0.0, 1.0)] * (d * k),
                options={"maxiter": self.max_iter, "gtol": 1e-12, "ftol": 1e-15},
            )
            mu, self.loss = result.x.reshape(d, k), float(result.fun)
        else:
            mu = self._sgd(gradient, mu_init)
            self.loss = objective(mu.ravel())[0]
        # One clamp after training, as Snorkel does: every probability strictly inside (0, 1).
        eps = min(0.01, 1 / 10 ** np.ceil(np.log10(max(votes.total, 1.0))))
        self.n_lfs = m
        self.mu = _trust_the_lfs(np.clip(mu, eps, 1 - eps), p, m)
        return self

    def _sgd(self, gradient: Callable[[np.ndarray], np.ndarray], mu_init: np.ndarray) -> np.ndarray:
        """Snorkel's training loop: ``mu_init`` times one draw of the seeded generator Snorkel seeds
        (NumPy's global one, whose stream ``RandomState(seed)`` reproduces), then full-batch SGD with
        momentum (PyTorch's: the first step's buffer is the gradient) for ``n_epochs`` steps. Few
        small steps on a tiny loss stay close to the start; that early stopping acts as a prior
        towards "every LF is prec_init accurate", which is what makes Snorkel's model robust on
        many-class rule sets (trec) where the exact optimum is not."""
        mu = mu_init * np.random.RandomState(self.seed).random_sample()
        velocity = np.zeros_like(mu)
        for _ in range(self.n_epochs):  # the loss is not needed on the way: gradients only
            velocity = self.momentum * velocity + gradient(mu)
            mu = mu - self.lr * velocity
        return mu

    def predict_proba(self, L: np.ndarray) -> np.ndarray:
        L = self.check_predict_input(L, self.mu is not None, self.n_lfs)
        assert self.mu is not None
        votes = OneHotVotes.from_patterns(L, None, self.cardinality)
        scores = np.asarray(votes.S @ np.log(self.mu)) + np.log(self.prior())[None, :]
        return normalize_log(scores)

    def linear_scores(self) -> LinearScores | None:
        if self.mu is None:
            return None
        k = self.cardinality
        table = np.log(self.mu).reshape(self.n_lfs, k, k)  # (j, vote v, class y)
        return LinearScores(np.log(self.prior()), table, "softmax")

    def lf_accuracies(self) -> np.ndarray | None:
        if self.mu is None:
            return None
        k, p = self.cardinality, self.prior()
        blocks = self.mu.reshape(self.n_lfs, k, k)  # (j, vote v, class y)
        correct = (np.einsum("jyy->jy", blocks) * p).sum(axis=1)  # P(vote = Y, LF votes)
        voting = (blocks.sum(axis=1) * p).sum(axis=1)  # P(LF votes)
        return np.asarray(correct / np.maximum(voting, 1e-12))

    def hyperparameters(self) -> dict[str, Any]:
        return {
            **super().hyperparameters(),
            "prec_init": self.prec_init,
            "l2": self.l2,
            "optimizer": self.optimizer,
            "n_epochs": self.n_epochs,
            "lr": self.lr,
            "momentum": self.momentum,
            "max_iter": self.max_iter,
        }

    def fitted_parameters(self) -> dict[str, Any]:
        if self.mu is None:
            return {}
        return {"loss": self.loss, "mu": np.round(self.mu, 6).tolist()}


def _trust_the_lfs(mu: np.ndarray, prior: np.ndarray, n_lfs: int) -> np.ndarray:
    """Any permutation of ``mu``'s columns among classes of equal prior fits ``O`` equally well;
    take the one under which the LFs are most often right (Snorkel's
    ``_break_col_permutation_symmetry``: priors equal to 3 decimals form a group)."""
    k = mu.shape[1]
    agreement = sum(mu[j * k : (j + 1) * k] for j in range(n_lfs)) @ np.diag(prior)  # (vote v, class y)
    order = np.arange(k)
    groups: dict[float, list[int]] = {}
    for y, share in enumerate(prior):
        groups.setdefault(float(np.around(share, 3)), []).append(y)
    for members in groups.values():
        if len(members) > 1:
            rows, cols = linear_sum_assignment(-agreement[np.ix_(members, members)])
            order[[members[r] for r in rows]] = [members[c] for c in cols]
    return mu[:, order]
