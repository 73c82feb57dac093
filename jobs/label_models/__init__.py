"""Label models: vote patterns in, class probabilities out (pure numpy).

Every model works on the *distinct vote patterns* of a run and their counts,
never on rows: ``L`` is a ``(P, m)`` int matrix (one row per distinct pattern,
one column per LF, -1 = abstain) and ``counts`` how many rows share each
pattern. Fitting and predicting therefore cost the same for a thousand rows or
a billion.
"""

from __future__ import annotations

from jobs.errors import ConfigError
from jobs.label_models.base import LabelModel
from jobs.label_models.majority import MajorityVote

MODELS: dict[str, type[LabelModel]] = {"majority_vote": MajorityVote}


def make_label_model(name: str, cardinality: int) -> LabelModel:
    if name not in MODELS:
        raise ConfigError(f"unknown label model {name!r}; known: {sorted(MODELS)}")
    return MODELS[name](cardinality=cardinality)


__all__ = ["LabelModel", "MajorityVote", "MODELS", "make_label_model"]
