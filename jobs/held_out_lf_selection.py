"""Choosing a label model without gold: which family best predicts an LF it was fitted without.

No label model wins every dataset (WRENCH's finding, and ours: the overlap
model on youtube, majority vote on trec), and most datasets have no gold to
choose with. The LFs themselves are the held-out data: fit each candidate on
every LF but ``j``, predict the rows where ``j`` voted and another LF did too,
and count how often the prediction is ``j``'s vote (ties split evenly). Summed
over the held-out LFs, weighted by rows, that is the candidate's *held-out LF
agreement*; the best is refitted on all LFs and used.

Why agreement with a held-out LF ranks models by accuracy: when ``j``'s
errors are independent of the other LFs' given the true class and ``j`` is
better than chance, ``P(prediction = vote_j)`` grows with the prediction's
accuracy on ``j``'s rows. Refitting without ``j`` matters: a model fitted with
``j`` has learned from ``j``'s agreements, so subtracting its vote from that
fit favours the models that trust LFs most (on WRENCH trec it picked
Dawid-Skene, 0.488 test accuracy, where refitting picks majority vote, 0.608).

What it cannot see: rows no other LF votes on (the class prior decides those,
which is where Dawid-Skene wins on sms), and LFs that copy each other (a
duplicate left in predicts the held-out one perfectly under any weighting).

Cost is one fit per candidate per held-out LF, so the held-out LFs are capped
(those with the most rows shared with another LF) and very many patterns are
subsampled in proportion to their counts (seeded) before the selection; the
chosen family is then fitted on every pattern.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from jobs.label_models import LabelModel

log = logging.getLogger(__name__)

AUTO = "auto"
"""The ``label_model`` value that asks for this selection."""

AUTO_CANDIDATES = ("majority_vote", "dawid_skene", "metal")
"""Ordered simplest first: ties go to the earlier one."""

MAX_HELD_OUT = 25
MAX_PATTERNS = 20_000


@dataclass(frozen=True)
class HeldOutChoice:
    best: str
    scores: dict[str, float]  # held-out LF agreement per candidate
    held_out: list[int]  # the LF positions held out in turn
    patterns: int  # distinct patterns the selection fitted on

    def record(self) -> dict[str, object]:
        return {
            "held_out_lf_agreement": {k: round(v, 6) for k, v in self.scores.items()},
            "held_out_lfs": len(self.held_out),
            "selection_patterns": self.patterns,
        }


def shared_votes(L: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """(m,) rows on which each LF votes together with at least one other LF."""
    voted = L >= 0
    others = voted.sum(axis=1, keepdims=True) - voted
    return ((voted & (others > 0)) * counts[:, None]).sum(axis=0)


def subsample_patterns(
    L: np.ndarray, counts: np.ndarray, max_patterns: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """At most ``max_patterns`` distinct patterns drawn in proportion to their counts: the same
    vote distribution in miniature, so the selection's fits stay cheap at millions of patterns."""
    if len(L) <= max_patterns:
        return L, counts
    rng = np.random.default_rng(seed)
    drawn = rng.choice(len(L), size=max_patterns, p=counts / counts.sum())
    keep, drawn_counts = np.unique(drawn, return_counts=True)
    return L[keep], drawn_counts.astype(np.float64)


def _fit_named(make: Callable[[str], LabelModel], name: str, L: np.ndarray, counts: np.ndarray) -> LabelModel:
    """A fresh ``name`` model fitted on ``L`` (bound per candidate with ``functools.partial``)."""
    return make(name).fit(L, counts)


def held_out_agreement(
    fit: Callable[[np.ndarray, np.ndarray], LabelModel], L: np.ndarray, counts: np.ndarray, held_out: list[int]
) -> float:
    """Rows-weighted share of held-out LF votes the model, fitted without that LF, predicts."""
    agree = total = 0.0
    for j in held_out:
        others = np.delete(L, j, axis=1)
        rows = (L[:, j] >= 0) & (others >= 0).any(axis=1)
        if not rows.any():
            continue
        probs = fit(others, counts).predict_proba(others[rows])
        tied = np.isclose(probs, probs.max(axis=1, keepdims=True))
        hit = tied[np.arange(int(rows.sum())), L[rows, j]] / tied.sum(axis=1)
        agree += float(hit @ counts[rows])
        total += float(counts[rows].sum())
    return agree / total if total else 0.0


def choose_by_held_out_lfs(
    make: Callable[[str], LabelModel],
    L: np.ndarray,
    counts: np.ndarray,
    candidates: tuple[str, ...] = AUTO_CANDIDATES,
    max_held_out: int = MAX_HELD_OUT,
    max_patterns: int = MAX_PATTERNS,
    seed: int = 0,
) -> HeldOutChoice:
    """The candidate with the best held-out LF agreement (``make(name)`` builds an unfitted model).

    With fewer than two LFs sharing rows nothing can be held out, and the first candidate is chosen.
    """
    counts = np.asarray(counts, dtype=np.float64)
    shared = shared_votes(L, counts)
    order = [int(j) for j in np.argsort(-shared, kind="stable") if shared[j] > 0]
    held_out = sorted(order[:max_held_out])
    if len(held_out) < 2:
        return HeldOutChoice(candidates[0], {}, held_out, len(L))
    sample, sample_counts = subsample_patterns(L, counts, max_patterns, seed)
    scores = {
        name: held_out_agreement(functools.partial(_fit_named, make, name), sample, sample_counts, held_out)
        for name in candidates
    }
    best = max(candidates, key=lambda name: (scores[name], -candidates.index(name)))
    log.info(
        "label model auto: %s by held-out LF agreement over %d LFs (%s)",
        best,
        len(held_out),
        ", ".join(f"{n}={s:.4f}" for n, s in scores.items()),
    )
    return HeldOutChoice(best, scores, held_out, len(sample))
