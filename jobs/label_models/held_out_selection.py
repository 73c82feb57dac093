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
from dataclasses import dataclass, field

import numpy as np

from jobs.label_models import LabelModel
from jobs.label_models.onehot import classes_voted

log = logging.getLogger(__name__)

AUTO = "auto"
"""The ``label_model`` value that asks for this selection."""

AUTO_CANDIDATES = ("majority_vote", "dawid_skene", "metal")
"""Ordered simplest first: ties go to the earlier one."""

MAX_HELD_OUT = 25
MAX_PATTERNS = 20_000


MIN_Z = 2.0
"""How many standard errors the best family's agreement must clear the safe choice's by."""


@dataclass(frozen=True)
class HeldOutChoice:
    best: str
    scores: dict[str, float]  # held-out LF agreement per candidate
    held_out: list[int]  # the LF positions held out in turn
    patterns: int  # distinct patterns the selection fitted on
    reason: str = ""  # why ``best``: the criterion, or the fallback and what made it one
    evidence: dict[str, float | str] = field(default_factory=dict)

    def record(self) -> dict[str, object]:
        return {
            "held_out_lf_agreement": {k: round(v, 6) for k, v in self.scores.items()},
            "held_out_lfs": len(self.held_out),
            "selection_patterns": self.patterns,
            "auto_reason": self.reason,
            "auto_evidence": self.evidence,
        }


def shared_votes(L: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """(m,) rows on which each LF votes together with at least one other LF."""
    voted = L >= 0
    others = voted.sum(axis=1, keepdims=True) - voted
    return np.asarray(((voted & (others > 0)) * counts[:, None]).sum(axis=0))


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


def held_out_hits(
    fit: Callable[[np.ndarray, np.ndarray], LabelModel], L: np.ndarray, counts: np.ndarray, held_out: list[int]
) -> tuple[np.ndarray, np.ndarray]:
    """Per held-out vote (pattern x held-out LF, in a fixed order): the share of the model's top
    classes that is the vote (fitted without that LF), and the vote's rows."""
    hits, weights = [np.zeros(0)], [np.zeros(0)]
    for j in held_out:
        others = np.delete(L, j, axis=1)
        rows = (L[:, j] >= 0) & (others >= 0).any(axis=1)
        if not rows.any():
            continue
        probs = fit(others, counts).predict_proba(others[rows])
        tied = np.isclose(probs, probs.max(axis=1, keepdims=True))
        hits.append(tied[np.arange(int(rows.sum())), L[rows, j]] / tied.sum(axis=1))
        weights.append(counts[rows])
    return np.concatenate(hits), np.concatenate(weights)


def held_out_agreement(
    fit: Callable[[np.ndarray, np.ndarray], LabelModel], L: np.ndarray, counts: np.ndarray, held_out: list[int]
) -> float:
    """Rows-weighted share of held-out LF votes the model, fitted without that LF, predicts."""
    hits, weights = held_out_hits(fit, L, counts, held_out)
    return float(hits @ weights / weights.sum()) if weights.sum() else 0.0


def multi_class_share(L: np.ndarray, counts: np.ndarray) -> float:
    """Share of the votes cast by sources that vote for two classes or more (crowd workers do;
    keyword LFs mostly vote one class)."""
    votes = ((L >= 0) * counts[:, None]).sum(axis=0)
    return float(votes[classes_voted(L) >= 2].sum() / votes.sum()) if votes.sum() else 0.0


def safe_family(multi_class_vote_share: float, candidates: tuple[str, ...]) -> str:
    """The family to fall back on when held-out agreement cannot choose: Dawid-Skene when most votes
    come from sources that vote several classes (their confusion matrices are identifiable, and it
    is the crowdsourcing standard), otherwise majority vote (one-class LFs leave a source's
    confusion unidentifiable, and equal weights are what the votes alone justify)."""
    preferred = "dawid_skene" if multi_class_vote_share >= 0.5 else "majority_vote"
    return preferred if preferred in candidates else candidates[0]


def _advantage_z(best: tuple[np.ndarray, np.ndarray], safe: tuple[np.ndarray, np.ndarray]) -> tuple[float, float]:
    """The best family's mean agreement minus the safe one's, and that difference in standard errors
    (paired over the same held-out votes)."""
    (hits, weights), (safe_hits, _) = best, safe
    total = weights.sum()
    if not total:
        return 0.0, 0.0
    diff = hits - safe_hits
    mean = float(diff @ weights / total)
    spread = float(np.sqrt(((diff - mean) ** 2) @ weights) / total)
    return mean, (mean / spread if spread > 0 else (np.inf if mean > 0 else 0.0))


def choose_by_held_out_lfs(
    make: Callable[[str], LabelModel],
    L: np.ndarray,
    counts: np.ndarray,
    candidates: tuple[str, ...] = AUTO_CANDIDATES,
    max_held_out: int = MAX_HELD_OUT,
    max_patterns: int = MAX_PATTERNS,
    seed: int = 0,
) -> HeldOutChoice:
    """The candidate with the best held-out LF agreement (``make(name)`` builds an unfitted model),
    unless the criterion cannot tell: then the family that is safest for the votes' shape.

    It cannot tell when fewer than two LFs share rows (nothing to hold out), when every candidate
    scores the same (one LF per class scores 0 everywhere), or when the best clears the safe
    family by less than :data:`MIN_Z` standard errors.
    """
    counts = np.asarray(counts, dtype=np.float64)
    shared = shared_votes(L, counts)
    order = [int(j) for j in np.argsort(-shared, kind="stable") if shared[j] > 0]
    held_out = sorted(order[:max_held_out])
    share = multi_class_share(L, counts)
    safe = safe_family(share, candidates)
    evidence: dict[str, float | str] = {
        "safe_choice": safe,
        "multi_class_vote_share": round(share, 4),
        "lfs_sharing_rows": len(order),
    }
    if len(held_out) < 2:
        reason = f"fallback to {safe}: fewer than two LFs vote on a common row, so none can be held out"
        return HeldOutChoice(safe, {}, held_out, len(L), reason, evidence)
    sample, sample_counts = subsample_patterns(L, counts, max_patterns, seed)
    hits = {
        name: held_out_hits(functools.partial(_fit_named, make, name), sample, sample_counts, held_out)
        for name in candidates
    }
    scores = {name: float(h @ w / w.sum()) if w.sum() else 0.0 for name, (h, w) in hits.items()}
    best = max(candidates, key=lambda name: (scores[name], -candidates.index(name)))
    advantage, z = _advantage_z(hits[best], hits[safe])
    evidence.update({"advantage_over_safe": round(advantage, 6), "advantage_z": round(min(z, 1e6), 2)})
    if max(scores.values()) - min(scores.values()) < 1e-9:
        best, reason = safe, f"fallback to {safe}: every family predicts the held-out LFs equally well"
    elif best != safe and z < MIN_Z:
        reason = f"fallback to {safe}: {best} agrees more with held-out LFs by {advantage:.4f}, only {z:.1f} SE"
        best = safe
    else:
        reason = f"{best}: best held-out LF agreement" + (f", {z:.1f} SE above {safe}" if best != safe else "")
    log.info(
        "label model auto: %s over %d held-out LFs (%s)",
        reason,
        len(held_out),
        ", ".join(f"{n}={s:.4f}" for n, s in scores.items()),
    )
    return HeldOutChoice(best, scores, held_out, len(sample), reason, evidence)
