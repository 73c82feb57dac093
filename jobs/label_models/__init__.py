"""Label models: vote patterns in, class probabilities out (numpy/scipy, no torch).

Every model works on the *distinct vote patterns* of a run and their counts,
never on rows: ``L`` is a ``(P, m)`` int matrix (one row per distinct pattern,
one column per LF, -1 = abstain) and ``counts`` how many rows share each
pattern. Fitting and predicting therefore cost the same for a thousand rows or
a billion.

| name | model | file |
|---|---|---|
| ``majority_vote`` | one vote per LF | ``majority.py`` |
| ``weighted_majority_vote`` | votes weighted by learned log-odds accuracy | ``weighted_majority.py`` |
| ``dawid_skene`` | a learned confusion matrix per LF, EM | ``dawid_skene.py`` |
| ``metal`` | Snorkel 0.10's LabelModel, step for step (matrix completion on LF overlaps) | ``metal.py`` |
| ``ebcc`` | Bayesian Dawid-Skene with class subtypes (variational Bayes), from WRENCH | ``ebcc.py`` |
"""

from __future__ import annotations

from typing import Any

from jobs.core.errors import ConfigError
from jobs.label_models.base import LabelModel, LinearScores
from jobs.label_models.dawid_skene import DawidSkene
from jobs.label_models.ebcc import EBCC
from jobs.label_models.majority import MajorityVote
from jobs.label_models.metal import MetalLabelModel
from jobs.label_models.weighted_majority import WeightedMajorityVote

MODELS: dict[str, type[LabelModel]] = {
    "majority_vote": MajorityVote,
    "weighted_majority_vote": WeightedMajorityVote,
    "dawid_skene": DawidSkene,
    "metal": MetalLabelModel,
    "ebcc": EBCC,
}


def make_label_model(name: str, cardinality: int, **options: Any) -> LabelModel:
    if name not in MODELS:
        raise ConfigError(f"unknown label model {name!r}; known: {sorted(MODELS)}")
    try:
        return MODELS[name](cardinality=cardinality, **options)
    except TypeError as exc:
        raise ConfigError(f"label model {name!r}: bad options {options}: {exc}") from None


__all__ = [
    "LabelModel",
    "LinearScores",
    "MajorityVote",
    "WeightedMajorityVote",
    "DawidSkene",
    "MetalLabelModel",
    "EBCC",
    "MODELS",
    "make_label_model",
]
