"""Predicting on the executors equals predicting per pattern on the driver, on real LF votes."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pyspark.sql import functions as F

from jobs.label_models import MODELS, make_label_model
from jobs.patterns.vote_patterns import row_patterns
from jobs.stages.fit import predict_on_executors
from jobs.stages.fit.predictions import pattern_labels, predicted_rows
from tests.patterns.test_vote_patterns import _wrench_votes


@pytest.mark.parametrize(
    ("folder", "classes", "uncovered", "models"),
    [
        ("youtube", 2, "abstain", tuple(MODELS)),
        # 73 LFs: every model's expression is generated and compiled twice, ~45 s each; Dawid-Skene's
        # per-LF, per-vote, per-class table is the widest linear form, and EBCC stays on the driver.
        ("sms", 2, "predict", ("dawid_skene", "ebcc")),
    ],
)
def test_executor_predictions_equal_driver_predictions(
    spark, monkeypatch, folder: str, classes: int, uncovered: str, models: tuple[str, ...]
) -> None:
    ids, votes, names = _wrench_votes(spark, folder, "valid")
    patterned = row_patterns(ids, votes, names, classes)
    rows = patterned.rows.persist()
    counted = patterned.distinct_counts().toPandas().sort_values("pattern").reset_index(drop=True)
    counts = counted["count"].to_numpy(dtype=np.int64)
    L = patterned.matrix(counted, names)
    versions = {name: f"v{j % 3}" for j, name in enumerate(names)}
    for name in models:
        model = make_label_model(name, classes).fit(L, counts)
        if model.linear_scores() is None:  # not additive over LFs (ebcc): always predicted on the driver
            assert predict_on_executors.usable(model, patterned.codec, len(L)) is None
            continue
        labels, probs = pattern_labels(model, L, uncovered)
        monkeypatch.setenv("LABELLAKE_PREDICT_ON_EXECUTORS_ABOVE", str(10**9))
        assert predict_on_executors.usable(model, patterned.codec, len(L)) is None
        on_driver = predicted_rows(
            spark, rows, patterned, counted, model, L, names, labels, probs, uncovered, versions
        ).select("id", "label", "probs", "_lf_versions")
        monkeypatch.setenv("LABELLAKE_PREDICT_ON_EXECUTORS_ABOVE", "0")
        assert predict_on_executors.usable(model, patterned.codec, len(L)) is not None
        on_executors = predicted_rows(
            spark, rows, patterned, counted, model, L, names, labels, probs, uncovered, versions
        ).select(
            "id",
            F.col("label").alias("label_e"),
            F.col("probs").alias("probs_e"),
            F.col("_lf_versions").alias("versions_e"),
        )
        both = on_driver.join(on_executors, "id").toPandas()
        assert len(both) == ids.count()
        assert (both["label"] == both["label_e"]).all(), name
        assert (both["_lf_versions"] == both["versions_e"]).all(), name
        gap = np.abs(np.stack(both["probs"].to_numpy()) - np.stack(both["probs_e"].to_numpy())).max()
        assert gap < 1e-9, (name, gap)
        # The versions JSON names exactly the LFs that voted.
        sample = both.iloc[int(np.argmax(both["_lf_versions"].str.len()))]
        assert set(json.loads(sample["versions_e"])) <= set(names)
    rows.unpersist()


def test_packs_too_wide_for_one_expression_stay_on_the_driver(monkeypatch) -> None:
    """trec: 68 LFs x 6 classes = 408 terms per row, past MAX_TERMS."""
    from jobs.patterns.vote_patterns import PatternCodec

    monkeypatch.setenv("LABELLAKE_PREDICT_ON_EXECUTORS_ABOVE", "0")
    rng = np.random.default_rng(0)
    L = rng.integers(-1, 6, size=(500, 68))
    model = make_label_model("dawid_skene", 6).fit(L, np.ones(500))
    assert predict_on_executors.usable(model, PatternCodec.for_lfs([f"lf_{j}" for j in range(68)], 6), 10**6) is None
    narrow = make_label_model("dawid_skene", 2).fit(rng.integers(-1, 2, size=(500, 73)), np.ones(500))
    assert predict_on_executors.usable(narrow, PatternCodec.for_lfs([f"lf_{j}" for j in range(73)], 2), 10**6)


def test_models_without_linear_scores_or_codes_stay_on_the_driver(monkeypatch) -> None:
    monkeypatch.setenv("LABELLAKE_PREDICT_ON_EXECUTORS_ABOVE", "0")
    model = make_label_model("dawid_skene", 2)
    assert predict_on_executors.usable(model, None, 10**7) is None  # string patterns
    assert model.linear_scores() is None  # not fitted
    fitted = model.fit(np.array([[0, 1], [1, 1], [-1, 0]]), np.array([5, 3, 2]))
    monkeypatch.setenv("LABELLAKE_PREDICT_ON_EXECUTORS_ABOVE", "100")
    from jobs.patterns.vote_patterns import PatternCodec

    codec = PatternCodec.for_lfs(["a", "b"], 2)
    assert predict_on_executors.usable(fitted, codec, 100) is None  # few patterns: driver + join
    assert predict_on_executors.usable(fitted, codec, 101) is not None
