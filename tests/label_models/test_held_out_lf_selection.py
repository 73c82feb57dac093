"""label_model = "auto": choosing a label model without gold, by held-out LF agreement."""

from __future__ import annotations

import numpy as np
import pytest

from jobs.bench.label_model_eval import patterns_and_counts
from jobs.core.errors import ConfigError
from jobs.label_models import MODELS, make_label_model
from jobs.label_models.held_out_selection import (
    AUTO,
    AUTO_CANDIDATES,
    choose_by_held_out_lfs,
    held_out_agreement,
    shared_votes,
    subsample_patterns,
)
from tests.conftest import DATA_ROOT, YOUTUBE, write_config
from tests.label_models.test_label_models import synthetic_votes

SHARED_SETS = ["wrench/youtube", "wrench/sms", "wrench/trec", "crowd/rte", "crowd/dog", "crowd/temp", "crowd/product"]
RECOMPUTED = {"sms": "sms_spam"}
"""WRENCH sms's stored test votes do not match their texts (see the datasets' README): they are
re-applied from the pack, and the Snorkel port stands in for the reference made on the stored ones."""


@pytest.mark.slow
def test_auto_meets_max_of_majority_vote_and_snorkel_on_the_shared_sets() -> None:
    """Issue 30's bar: the default at least max(MV, Snorkel LabelModel) - 0.005 on each set, by accuracy or
    by the minority class's F1, and above it on the mean; every selection within 10 s."""
    from jobs.bench.label_model_comparison import compare_sets

    result = compare_sets([DATA_ROOT / s for s in SHARED_SETS], ["majority_vote", "metal", AUTO], recompute=RECOMPUTED)
    for s in result["sets"]:
        assert s["default_margin"] >= -0.005, (s["name"], s["auto"])
        assert s["auto"]["auto_reason"] and s["auto"]["model"] in AUTO_CANDIDATES
        (auto_row,) = [r for r in s["rows"] if r["model"] == AUTO]
        assert auto_row["fit_seconds"] <= 10.0, s["name"]
    assert result["mean"][AUTO] > result["mean"]["bar"]


def test_held_out_agreement_prefers_the_model_that_learns_accuracies() -> None:
    # Two excellent LFs among six barely-better-than-chance ones: majority vote lets the weak
    # majority outvote the experts; Dawid-Skene learns whom to trust, and is more accurate.
    accuracy = [0.95, 0.95, 0.58, 0.58, 0.58, 0.58, 0.58, 0.58]
    L_rows, y = synthetic_votes(6000, [0.5, 0.5], accuracy, [0.8] * 8, seed=3)
    L, counts, inverse = patterns_and_counts(L_rows)
    choice = choose_by_held_out_lfs(lambda name: make_label_model(name, 2), L, counts)
    assert choice.scores["dawid_skene"] > choice.scores["majority_vote"]
    assert choice.best != "majority_vote"

    def true_accuracy(name: str) -> float:
        pred = make_label_model(name, 2).fit(L, counts).predict_proba(L).argmax(axis=1)[inverse]
        return float((pred == y).mean())

    assert true_accuracy(choice.best) > true_accuracy("majority_vote") + 0.03


def test_refitting_without_the_lf_is_what_makes_it_held_out() -> None:
    """A model that already saw LF j predicts j too well; the selection refits without it."""
    L_rows, _ = synthetic_votes(3000, [0.5, 0.5], [0.9, 0.7, 0.7, 0.6], [0.7] * 4)
    L, counts, _ = patterns_and_counts(L_rows)
    seen: list[int] = []

    def fit(others: np.ndarray, c: np.ndarray):
        seen.append(others.shape[1])
        return make_label_model("dawid_skene", 2).fit(others, c)

    held_out_agreement(fit, L, counts.astype(float), [0, 1, 2, 3])
    assert seen == [3, 3, 3, 3]


def test_caps_keep_the_selection_cheap() -> None:
    L_rows, _ = synthetic_votes(5000, [0.5, 0.5], [0.8] * 12, [0.5] * 12)
    L, counts, _ = patterns_and_counts(L_rows)
    sample, sample_counts = subsample_patterns(L, counts.astype(float), 300, seed=0)
    assert len(sample) <= 300 and sample_counts.sum() == 300
    assert sample.shape[1] == 12 and set(map(tuple, sample)) <= set(map(tuple, L))
    choice = choose_by_held_out_lfs(lambda name: make_label_model(name, 2), L, counts, max_held_out=4, max_patterns=300)
    assert len(choice.held_out) == 4 and choice.patterns <= 300
    shared = shared_votes(L, counts.astype(float))
    assert set(choice.held_out) == set(np.argsort(-shared, kind="stable")[:4].tolist())


def test_nothing_to_hold_out_falls_back_to_the_simplest() -> None:
    L = np.array([[0, -1], [-1, 1], [-1, -1]])  # the two LFs never vote on the same row
    choice = choose_by_held_out_lfs(lambda name: make_label_model(name, 2), L, np.array([5, 3, 2]))
    assert choice.best == AUTO_CANDIDATES[0] and choice.scores == {}


def test_config_defaults_to_auto_and_names_a_bad_model(tmp_path) -> None:
    from jobs.core.datasets import load_datasets

    body = {k: v for k, v in YOUTUBE.items() if k != "label_model"}
    assert load_datasets(write_config(tmp_path / "a.toml", {"yt": body}))["yt"].label_model == AUTO
    with pytest.raises(ConfigError, match=r"'yt'.*unknown label model 'dawid_skeen'"):
        load_datasets(write_config(tmp_path / "b.toml", {"yt": {**body, "label_model": "dawid_skeen"}}))
    with pytest.raises(ConfigError, match="'auto' is a label_model value"):
        load_datasets(
            write_config(
                tmp_path / "c.toml", {"yt": {**body, "model_selection": {"candidates": ["majority_vote", "auto"]}}}
            )
        )
    assert set(AUTO_CANDIDATES) <= set(MODELS)


def test_auto_with_annotator_sources_fits_the_chosen_family_with_them(tmp_path) -> None:
    from jobs.core.datasets import load_datasets
    from jobs.stages.fit.choose_model import choose_model

    body = {k: v for k, v in YOUTUBE.items() if k != "label_model"}
    ds = load_datasets(write_config(tmp_path / "a.toml", {"yt": body}))["yt"]
    L_rows, _ = synthetic_votes(2000, [0.5, 0.5], [0.9, 0.8, 0.7, 0.6], [0.6] * 4)
    L, counts, _ = patterns_and_counts(L_rows)
    choice = choose_model(ds, L, counts, None, blind_abstain=(3,))  # the last source is an annotator
    assert choice.selected_by == "held-out LF agreement" and choice.candidate in AUTO_CANDIDATES
    if choice.candidate == "dawid_skene":
        assert choice.model.blind_abstain == (3,)


def test_one_lf_per_class_cannot_choose_and_falls_back_to_majority_vote_saying_why() -> None:
    """Each LF votes its own class only: without it no other LF ever votes that class, so every family
    predicts every held-out vote wrongly (agreement 0 for all) and the criterion cannot choose."""
    rng = np.random.default_rng(0)
    L_rows = np.full((900, 3), -1)
    for j in range(3):
        L_rows[rng.random(900) < 0.4, j] = j
    L, counts, _ = patterns_and_counts(L_rows)
    choice = choose_by_held_out_lfs(lambda name: make_label_model(name, 3), L, counts)
    assert set(choice.scores.values()) == {0.0} and choice.best == "majority_vote"
    assert choice.reason.startswith("fallback to majority_vote: every family predicts the held-out LFs equally")
    assert choice.record()["auto_evidence"]["multi_class_vote_share"] == 0.0


def test_an_advantage_within_noise_falls_back_to_the_safe_family(monkeypatch) -> None:
    import jobs.label_models.held_out_selection as selection

    accuracy = [0.95, 0.95, 0.58, 0.58, 0.58, 0.58, 0.58, 0.58]
    L_rows, _ = synthetic_votes(6000, [0.5, 0.5], accuracy, [0.8] * 8, seed=3)
    L, counts, _ = patterns_and_counts(L_rows)
    pair = ("majority_vote", "metal")  # sources that vote both classes: without Dawid-Skene, majority vote is safe
    clear = choose_by_held_out_lfs(lambda name: make_label_model(name, 2), L, counts, pair)
    assert clear.best != clear.evidence["safe_choice"] and clear.evidence["advantage_z"] >= selection.MIN_Z
    monkeypatch.setattr(selection, "MIN_Z", clear.evidence["advantage_z"] + 1)  # demand more than it has
    noisy = choose_by_held_out_lfs(lambda name: make_label_model(name, 2), L, counts, pair)
    assert noisy.best == clear.evidence["safe_choice"] and noisy.reason.startswith("fallback to")
