"""A try's figures from the sample's vote matrix: the fit stage's own functions on the sample's patterns.

The sample's rows are counted into distinct patterns exactly as the fit counts a table's rows
(the same codes, the same order), so the LF analysis (:func:`lf_summary`), the model choice
(:func:`choose_model`) and the labels per pattern (:func:`pattern_labels`) are those a full run
computes on the same rows: when the sample is the whole table, the figures are the run's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from jobs.core.datasets import DatasetConfig
from jobs.patterns.vote_patterns import PatternCodec
from jobs.stages.fit.choose_model import choose_model
from jobs.stages.fit.model_fit import dev_votes, lf_stats
from jobs.stages.fit.predictions import pattern_labels


@dataclass(frozen=True)
class SampleVotes:
    """The sample as the fit sees it: a (rows, LFs) vote matrix with gold, dev flag and published label."""

    L: np.ndarray
    lf_names: list[str]
    gold: np.ndarray
    dev: np.ndarray
    published: np.ndarray

    def with_change(self, votes: dict[str, np.ndarray], removed: list[str]) -> SampleVotes:
        """The matrix a run with these LFs would have: an edited LF keeps its column, a new one is
        appended (pack order), a removed one is dropped."""
        names = [n for n in self.lf_names if n not in removed]
        columns = [votes[n] if n in votes else self.L[:, self.lf_names.index(n)] for n in names]
        added = [n for n in votes if n not in self.lf_names]
        L = np.column_stack([*columns, *(votes[n] for n in added)]) if names or added else self.L[:, :0]
        return SampleVotes(L.astype(np.int16), names + added, self.gold, self.dev, self.published)


@dataclass(frozen=True)
class Fitted:
    """The fit on the sample's patterns: per LF statistics, the chosen model and each row's label."""

    stats: dict[str, dict[str, Any]]
    model: str
    row_labels: np.ndarray


def pattern_rows(
    L: np.ndarray, lf_names: list[str], n_classes: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """``(distinct L, counts, each row's pattern index, pattern strings)`` in the fit's order: by the
    packed codes when they fit, else by the pattern string."""
    codec = PatternCodec.for_lfs(lf_names, n_classes)
    if codec is not None:
        codes = np.zeros((len(L), len(codec.columns)), dtype=np.int64)
        for j in range(len(lf_names)):
            codes[:, j // codec.per_column] += (L[:, j].astype(np.int64) + 1) * codec.base ** (j % codec.per_column)
        distinct, inverse, counts = np.unique(codes, axis=0, return_inverse=True, return_counts=True)
        return codec.matrix(distinct), counts, inverse.reshape(-1), codec.pattern_strings(distinct)
    order = sorted(range(len(lf_names)), key=lambda j: lf_names[j] + "=")
    strings = np.array([",".join(f"{lf_names[j]}={row[j]}" for j in order if row[j] >= 0) for row in L], dtype=object)
    names, inverse, counts = np.unique(strings, return_inverse=True, return_counts=True)
    from jobs.patterns.vote_patterns import pattern_matrix

    return pattern_matrix(list(names), lf_names), counts, inverse.reshape(-1), list(names)


def gold_counts(sample: SampleVotes, inverse: np.ndarray, strings: list[str]) -> list[tuple[str, int, bool, int]]:
    """``(pattern, gold, dev, rows)`` over the rows with gold, sorted: the fit's gold counts."""
    has = sample.gold >= 0
    keys, n = np.unique(
        np.column_stack([inverse[has], sample.gold[has], sample.dev[has].astype(np.int64)]), axis=0, return_counts=True
    )
    return sorted((strings[p], int(g), bool(d), int(c)) for (p, g, d), c in zip(keys, n, strict=True))


def table_weights(sample: SampleVotes, n_classes: int, table_rows: np.ndarray) -> np.ndarray:
    """Each sample row's weight: the table's rows with its stored pattern (``table_rows``) over the
    sample's, so the weights of a pattern's sample rows add up to the table's count of it."""
    inverse = pattern_rows(sample.L, sample.lf_names, n_classes)[2]
    return table_rows.astype(np.float64) / np.bincount(inverse)[inverse]


def fit_sample(ds: DatasetConfig, sample: SampleVotes, weights: np.ndarray | None = None) -> Fitted:
    """The fit stage's LF analysis, model choice and labels, on the sample's patterns. With
    ``weights`` (:func:`table_weights`) the model is fitted on the table's pattern counts, each
    pattern's rows split as its sample rows' votes split: a label model is not fitted on a
    sample's noise, while the LF figures stay the sample's own."""
    names = sample.lf_names
    L, counts, inverse, strings = pattern_rows(sample.L, names, len(ds.classes))
    gold = gold_counts(sample, inverse, strings)
    stats = lf_stats(L, counts, names, gold)
    dev = dev_votes(ds, gold, names) if ds.model_selection and gold else None
    model_counts = counts if weights is None else np.bincount(inverse, weights=weights, minlength=len(L))
    choice = choose_model(ds, L, model_counts, dev)
    labels, _ = pattern_labels(choice.model, L, ds.uncovered)
    return Fitted(stats, choice.candidate or choice.model.name, labels[inverse])


def dev_accuracy(votes: np.ndarray, sample: SampleVotes) -> dict[str, Any]:
    """An LF's votes against gold on the dev split only (the rows model selection scores on)."""
    judged = (votes >= 0) & (sample.gold >= 0) & sample.dev
    correct = int((votes[judged] == sample.gold[judged]).sum())
    total = int(judged.sum())
    return {"correct": correct, "incorrect": total - correct, "accuracy": correct / total if total else None}


def pairwise(votes: np.ndarray, sample: SampleVotes, exclude: str) -> list[dict[str, Any]]:
    """Overlaps and conflicts of one LF with each other LF: rows both voted on, rows they disagree on."""
    on = votes >= 0
    rows = []
    for j, name in enumerate(sample.lf_names):
        if name == exclude:
            continue
        other = sample.L[:, j]
        both = on & (other >= 0)
        overlaps = int(both.sum())
        if overlaps:
            rows.append({"lf": name, "overlaps": overlaps, "conflicts": int((both & (other != votes)).sum())})
    return sorted(rows, key=lambda r: (-r["conflicts"], -r["overlaps"], r["lf"]))


def label_changes(
    before: np.ndarray, after: np.ndarray, end_model: str | None, classes: tuple[str, ...], weights: np.ndarray
) -> dict[str, Any]:
    """Rows whose published label would change, by (from, to), and (``weights``: the table's rows
    each sample row stands for) in the whole table. Where an end model publishes
    (``fill_uncovered``: the rows the label model leaves unlabeled; ``end_model``: every row) the
    row keeps the label it has: the votes do not decide it."""
    after = after.copy()
    if end_model == "fill_uncovered":
        after[after < 0] = before[after < 0]
    elif end_model == "end_model":
        after = before.copy()
    changed = before != after
    pairs, n = np.unique(np.column_stack([before[changed], after[changed]]), axis=0, return_counts=True)

    def name(i: int) -> str:
        return classes[i] if 0 <= i < len(classes) else "unlabeled"

    return {
        "rows": int(changed.sum()),
        "share": float(changed.mean()) if len(changed) else 0.0,
        "estimated_rows_in_table": round(float(weights[changed].sum())),
        "transitions": {f"{name(int(a))} -> {name(int(b))}": int(c) for (a, b), c in zip(pairs, n, strict=True)},
        "changed_mask": changed,
    }
