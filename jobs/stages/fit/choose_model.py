"""Which label model a run uses: the configured one, or the best on a dev share of gold.

Selection is by *expected* accuracy on the dev rows under random tie-break
(a row whose gold class is among t tied best classes counts 1/t), so it has no
sampling noise. The models are still fitted without labels on every row's
vote pattern; gold only scores the fitted candidates and gives one number to
the fit: the class balance. Each candidate is fitted twice, with the
configured prior (learned or uniform) and with the dev gold's class shares as
a fixed prior (``<model>+dev_prior``), as WRENCH does whenever a labeled valid
split exists. The prior matters most where no LF votes or the votes tie: on
WRENCH youtube it lifts weighted majority vote from 0.674 to 0.876 test
accuracy (expected over ties), on sms Dawid-Skene from 0.878 to 0.896, and
on trec no prior beats plain majority vote, which selection then keeps. The dev rows are a stable
hash share of the gold ids (``dev_percent``), and what was chosen, and why, is
recorded with the model.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from jobs.core.datasets import DatasetConfig
from jobs.label_models import LabelModel, make_label_model
from jobs.label_models.held_out_selection import AUTO, choose_by_held_out_lfs

if TYPE_CHECKING:
    from jobs.patterns.vote_patterns import RowPatterns

log = logging.getLogger(__name__)


@dataclass
class Choice:
    model: LabelModel
    selected_by: str  # "config", "dev accuracy", "held-out LF agreement" or "patterns on the executors"
    dev_accuracy: dict[str, float] = field(default_factory=dict)
    dev_rows: int = 0
    candidate: str = ""  # the chosen key: the model's name, or "<name>+dev_prior"
    dev_balance: list[float] | None = None
    held_out: dict[str, Any] | None = None  # label_model = "auto": the held-out LF agreement of each family

    def record(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "selected_by": self.selected_by,
            "dev_rows": self.dev_rows,
            "dev_accuracy": {k: round(v, 6) for k, v in self.dev_accuracy.items()},
        }
        if self.candidate:
            record["candidate"] = self.candidate
        if self.dev_balance is not None:
            record["dev_class_balance"] = self.dev_balance
        if self.held_out is not None:
            record.update(self.held_out)
        return record


DEV_PRIOR = "+dev_prior"
"""Suffix of a candidate fitted with the dev gold's class shares as its fixed prior."""


def dev_class_balance(gold: np.ndarray, counts: np.ndarray, cardinality: int) -> np.ndarray:
    """The dev rows' class shares, add-one smoothed so a class absent from a small dev
    split keeps a positive prior (a zero prior would forbid the class outright)."""
    tally = (
        np.bincount(
            np.asarray(gold, dtype=np.int64), weights=np.asarray(counts, dtype=np.float64), minlength=cardinality
        )[:cardinality]
        + 1.0
    )
    return tally / tally.sum()


@dataclass
class DevSelection:
    """Every candidate fitted and scored on dev; ``best`` is the key of the winner."""

    best: str
    fitted: dict[str, LabelModel]
    scores: dict[str, float]
    balance: np.ndarray


def select_on_dev(
    names: list[str],
    fit: Callable[[str, np.ndarray | None], LabelModel],
    dev: tuple[np.ndarray, np.ndarray, np.ndarray],
    cardinality: int,
) -> DevSelection:
    """Fit ``names`` with their configured prior (``fit(name, None)``) and with the dev class
    balance (``fit(name, balance)``), and keep the best expected dev accuracy.

    Ties go to the earlier candidate: configured priors before dev priors, and the models in
    the order given (list simpler models first), so equal evidence never buys complexity.
    """
    balance = dev_class_balance(dev[1], dev[2], cardinality)
    keys = [*names, *(name + DEV_PRIOR for name in names)]
    fitted = {key: fit(key.removesuffix(DEV_PRIOR), balance if key.endswith(DEV_PRIOR) else None) for key in keys}
    scores = {key: expected_accuracy(model, *dev) for key, model in fitted.items()}
    best = max(keys, key=lambda key: (scores[key], -keys.index(key)))
    return DevSelection(best, fitted, scores, balance)


def dev_flag(dev_percent: int) -> Column:
    """True on the dev share of the gold rows: stable across runs (a hash of the id)."""
    return F.pmod(F.xxhash64("id"), F.lit(100)) < dev_percent


def gold_pattern_counts(patterned: RowPatterns, gold: DataFrame, dev_percent: int) -> list[tuple[str, int, bool, int]]:
    """``(pattern, gold label, is dev row, rows)`` over the rows with gold: at most patterns x classes x 2.

    One aggregate serves both model selection (the dev rows) and the LF analysis
    (every gold row), so the gold join runs once per fit. It groups on the
    pattern keys and names only the patterns that have gold.
    """
    labeled = gold.select("id", F.col("label").alias("gold"), dev_flag(dev_percent).alias("dev"))
    grouped = (
        patterned.rows.join(labeled, "id")
        .groupBy(*patterned.keys, "gold", "dev")
        .agg(F.count(F.lit(1)).alias("n"))
        .collect()
    )
    names = patterned.pattern_strings([tuple(r[k] for k in patterned.keys) for r in grouped])
    return sorted((name, int(r["gold"]), bool(r["dev"]), int(r["n"])) for name, r in zip(names, grouped, strict=True))


def dev_pattern_counts(gold_counts: list[tuple[str, int, bool, int]]) -> list[tuple[str, int, int]]:
    """``(pattern, gold label, rows)`` of the dev rows, from :func:`gold_pattern_counts`."""
    return [(pattern, label, n) for pattern, label, dev, n in gold_counts if dev]


def expected_accuracy(model: LabelModel, L_dev: np.ndarray, gold: np.ndarray, counts: np.ndarray) -> float:
    probs = model.predict_proba(L_dev)
    tied = np.isclose(probs, probs.max(axis=1, keepdims=True))
    hit = tied[np.arange(len(gold)), gold] / tied.sum(axis=1)
    return float((hit * counts).sum() / max(counts.sum(), 1))


def build_model(
    ds: DatasetConfig, name: str, blind_abstain: tuple[int, ...] = (), class_balance: np.ndarray | None = None
) -> LabelModel:
    """The named model with the dataset's options. ``blind_abstain``: positions of sources
    (annotators) whose abstaining is no evidence, for the models that model abstaining.
    ``class_balance`` replaces the configured prior (model selection's dev prior)."""
    options = dict(ds.label_model_options) if name == ds.label_model else {}
    if blind_abstain and name == "dawid_skene":
        options["blind_abstain"] = blind_abstain
    balance = ds.class_balance if class_balance is None else [float(x) for x in class_balance]
    return make_label_model(name, len(ds.classes), class_balance=balance, **options)


def choose_model(
    ds: DatasetConfig,
    L: np.ndarray,
    counts: np.ndarray,
    dev: tuple[np.ndarray, np.ndarray, np.ndarray] | None,
    blind_abstain: tuple[int, ...] = (),
) -> Choice:
    """Fit the configured model, or every candidate and keep the best on dev.

    ``dev`` is ``(L_dev, gold, counts)`` over the dev rows' patterns, or None. Without
    dev rows, ``label_model = "auto"`` chooses by held-out LF agreement instead.
    """
    if not ds.model_selection or dev is None or not len(dev[0]):
        if ds.model_selection:
            log.warning("label model %s: no dev rows with gold; using the configured %s", ds.name, ds.label_model)
        if ds.label_model == AUTO:
            # No gold to choose with: the LFs are the held-out data (jobs/label_models/held_out_selection.py).
            # The held-out fits drop a column, so annotator positions (blind_abstain) would shift:
            # they choose the family only, and the chosen one is fitted with them below.
            held_out = choose_by_held_out_lfs(lambda name: build_model(ds, name), L, counts)
            return Choice(
                build_model(ds, held_out.best, blind_abstain).fit(L, counts),
                "held-out LF agreement",
                candidate=held_out.best,
                held_out=held_out.record(),
            )
        return Choice(build_model(ds, ds.label_model, blind_abstain).fit(L, counts), "config")
    chosen = select_on_dev(
        list(dict.fromkeys(ds.model_selection)),
        lambda name, balance: build_model(ds, name, blind_abstain, balance).fit(L, counts),
        dev,
        len(ds.classes),
    )
    log.info(
        "label model %s: chose %s by dev accuracy on %d rows (dev class balance %s): %s",
        ds.name,
        chosen.best,
        int(dev[2].sum()),
        np.round(chosen.balance, 3).tolist(),
        ", ".join(f"{n}={s:.4f}" for n, s in chosen.scores.items()),
    )
    return Choice(
        chosen.fitted[chosen.best],
        "dev accuracy",
        chosen.scores,
        int(dev[2].sum()),
        chosen.best,
        [round(float(x), 6) for x in chosen.balance],
    )
