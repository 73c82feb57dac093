"""``metal`` is Snorkel 0.10's LabelModel: its labels equal Snorkel's own on the seven shared reference sets.

``../shared/datasets/reference/snorkel-0.10`` holds what Snorkel 0.10.0 (with torch) produced on
the test split of three WRENCH sets and four crowdsourcing sets, fitted on the train split
with ``n_epochs=500, lr=0.01, seed=0``: probabilities, tie-abstain predictions and accuracy with
ties broken at random. A user migrating from Snorkel must get the labels they had.
"""

from __future__ import annotations

import gzip
import json
import math

import numpy as np
import pytest

from jobs.bench.label_model_eval import patterns_and_counts, read_split
from jobs.label_models import MetalLabelModel
from tests.conftest import DATA_ROOT

SETS = {
    "youtube": "wrench/youtube",
    "sms": "wrench/sms",
    "trec": "wrench/trec",
    "rte": "crowd/rte",
    "dog": "crowd/dog",
    "temp": "crowd/temp",
    "product": "crowd/product",
}
TIE = 1e-5
"""Snorkel's tolerance for a tie between the top classes (``probs_to_preds``)."""


def _tied(probs: np.ndarray) -> np.ndarray:
    return np.abs(probs - probs.max(axis=1, keepdims=True)) < TIE


@pytest.mark.parametrize("name", list(SETS))
def test_metal_reproduces_snorkel_labels(name: str) -> None:
    reference = json.loads(gzip.decompress((DATA_ROOT / "reference/snorkel-0.10" / f"{name}.json.gz").read_bytes()))
    train, test = read_split(DATA_ROOT / SETS[name], "train"), read_split(DATA_ROOT / SETS[name], "test")
    assert train is not None and test is not None
    params = reference["label_model_params"]
    model = MetalLabelModel(reference["classes"], seed=params["seed"], n_epochs=params["n_epochs"], lr=params["lr"])
    patterns, counts, _ = patterns_and_counts(train.L)
    probs = model.fit(patterns, counts).predict_proba(test.L)

    expected = np.array(reference["label_model"]["probs"])
    assert np.abs(probs - expected).max() < 1e-3  # the bar is 0.01; the port lands within 1e-5
    tied = _tied(probs)
    abstain_on_ties = np.where(tied.sum(axis=1) > 1, -1, probs.argmax(axis=1))
    assert (abstain_on_ties == np.array(reference["label_model"]["pred_tie_abstain"])).all()
    # Snorkel's accuracy breaks ties at random: one draw. Ours is its expectation (a tied row counts
    # 1/ties when the gold class is among them), within 0.005 or three standard deviations of the draw.
    right = tied[np.arange(len(test.y)), test.y] / tied.sum(axis=1)
    spread = 3 * math.sqrt(float((right * (1 - right)).sum())) / len(right)
    assert abs(right.mean() - reference["label_model"]["acc_random_tie_break"]) <= max(0.005, spread)


def test_eval_over_several_sets_prints_one_table_against_the_bar(capsys) -> None:
    """``label-model eval --wrench A B``: per set every model, Snorkel's reference, the default, its pick and
    its margin over max(MV, Snorkel) on the set's metric (F1 where under 20% of test rows are positive)."""
    from jobs.cli.main import main

    folders = [str(DATA_ROOT / "wrench/youtube"), str(DATA_ROOT / "crowd/temp")]
    assert main(["label-model", "eval", "--wrench", *folders, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    youtube, temp = result["sets"]
    assert (youtube["name"], temp["name"]) == ("youtube", "temp")
    assert youtube["snorkel_reference"]["accuracy"] == 0.864 and youtube["metric"] == "accuracy"
    for s in result["sets"]:
        (default,) = [r for r in s["rows"] if r["default"]]
        assert default["model"] == "auto" and s["auto"]["model"] in {r["model"] for r in s["rows"]}
        assert s["default_margin"] == pytest.approx(default["accuracy"] - s["bar"], abs=1e-4)
        assert s["default_margin"] >= -0.005  # issue 30's bar, on these two sets
    assert set(result["mean"]) >= {"majority_vote", "metal", "auto", "bar"}
    assert main(["label-model", "eval", "--wrench", *folders]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:3] == ["set", "metric", "snorkel"] and table[3].startswith("mean")
    assert table[4] == "default's choice:" and table[5].split()[:2] == ["youtube", youtube["auto"]["model"] + ":"]


def test_eval_names_a_bad_folder_or_reference_file_before_any_fit(tmp_path) -> None:
    from jobs.bench.label_model_comparison import compare_sets
    from jobs.cli.main import main
    from jobs.core.errors import ConfigError

    good = [DATA_ROOT / "wrench/youtube", DATA_ROOT / "crowd/temp"]
    (tmp_path / "youtube.json.gz").write_bytes(b"not gzip")
    with pytest.raises(ConfigError, match=r"youtube\.json\.gz: not a Snorkel reference file"):
        compare_sets(good, ["majority_vote"], reference_dir=tmp_path)
    with pytest.raises(ConfigError, match="no such folder"):
        compare_sets(good, ["majority_vote"], reference_dir=tmp_path / "missing")
    with pytest.raises(ConfigError, match=f"{tmp_path}: not a WRENCH folder"):
        compare_sets([good[0], tmp_path], ["majority_vote"])
    with pytest.raises(ConfigError, match="sms=sms_spam: no set 'sms' among"):
        compare_sets(good, ["majority_vote"], recompute={"sms": "sms_spam"})
    with pytest.raises(ConfigError, match="unknown LF pack 'nope'"):
        compare_sets(good, ["majority_vote"], recompute={"youtube": "nope"})
    with pytest.raises(SystemExit, match="give SET=PACK"):
        main(["label-model", "eval", "--wrench", *map(str, good), "--recompute-votes-with", "sms_spam"])
