"""The benchmark commands run end to end at a tiny size (their figures are for docs/benchmarks.md,
not asserted here; what is asserted is that they work and check what they claim to check)."""

from __future__ import annotations

import pytest

from jobs.bench.label_model_bench import run_label_model_bench
from jobs.bench.lfs_bench import run_lfs_bench
from tests.conftest import DATA_ROOT, YOUTUBE, write_config


def test_bench_label_model_recovers_the_true_accuracies(spark, settings, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("LABELLAKE_BENCH_DIR", str(tmp_path))
    figures = run_label_model_bench(rows=20_000, lfs=5, settings=settings)
    assert figures["rows"] == 20_000 and figures["patterns"] > 10
    assert figures["max_accuracy_error"] < 0.05


@pytest.mark.slow
def test_bench_label_model_fits_on_the_executors(spark, settings, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("LABELLAKE_BENCH_DIR", str(tmp_path))
    figures = run_label_model_bench(rows=5_000, lfs=40, classes=3, settings=settings, fit_on="executors")
    assert figures["fit_on"] == "executors" and figures["patterns"] > 4_000  # nearly every row its own pattern
    assert figures["iterations"] >= 2 and figures["max_accuracy_error"] < 0.1


def test_bench_lfs_methods_agree_on_every_vote(spark, settings, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("LABELLAKE_BENCH_DIR", str(tmp_path))
    figures = run_lfs_bench("youtube_spam", rows=3_000, repeat=1, settings=settings)
    assert figures["votes_agree"] is True
    assert figures["votes"] > 1_000
    assert {"labellake_seconds", "labellake_expressions_seconds", "sql_seconds", "baseline_seconds"} <= set(figures)


@pytest.mark.slow
def test_bench_active_learning_runs_rounds_through_the_real_pipeline(spark, monkeypatch, tmp_path) -> None:
    from pathlib import Path

    from jobs.bench.active_learning_bench import run_active_learning_bench

    monkeypatch.setenv("LABELLAKE_BENCH_DIR", str(tmp_path))
    # The tutorial LFs without the shipped config's end model (an MLlib fit per round): the rounds,
    # the queue, the annotations ingest and the refit with the annotator as a source are the same.
    monkeypatch.setenv("LABELLAKE_CONFIG", str(write_config(tmp_path / "datasets.toml", {"youtube_spam": YOUTUBE})))
    monkeypatch.setenv("LABELLAKE_DATA_ROOT", str(DATA_ROOT))
    figures = run_active_learning_bench("youtube_spam", rounds=1, k=10, progress=lambda line: None)
    assert set(figures["curves"]) == {"review queue", "random rows"}
    for points in figures["curves"].values():
        assert [p["hand_labels"] for p in points] == [0, 10]
        assert 0.5 < points[0]["accuracy"] <= points[1]["accuracy"] <= 1.0  # ten right labels cannot hurt
    assert Path(figures["plot"]).read_text().startswith("<svg")


def test_bench_e2e_edit_is_a_word_about_one_percent_of_texts_contain() -> None:
    """The LF edit ``bench e2e`` times must change votes: the target LF gains the commonest word
    (5+ letters, not one of its keywords) that at most 1% of a sample of the real texts contain."""
    from jobs.bench.incremental_bench import EDIT_KEYWORD, common_word, edit_lf
    from lf_library.core import KeywordLF

    texts = ["free prize call now"] * 30 + ["thanks mate, see you later"] * 5 + ["later alligator"] * 1
    texts += [f"filler{i}" for i in range(964)]  # 1,000 texts: 1% is 10
    assert common_word(texts, exclude=set()) == "later"  # 6 texts: the commonest within 1%
    assert common_word(texts, exclude={"later"}) == "thanks"  # then the next commonest
    assert common_word(["ok"] * 10, exclude=set()) == EDIT_KEYWORD  # nothing qualifies: a word no row has
    lf = KeywordLF("ham_thanks", "HAM", keywords=("thanks",))
    assert edit_lf(lf, "later").keywords == ("thanks", "later")
