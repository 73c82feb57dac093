"""The benchmark commands run end to end at a tiny size (their figures are for docs/benchmarks.md,
not asserted here; what is asserted is that they work and check what they claim to check)."""

from __future__ import annotations

from jobs.bench.label_model_bench import run_label_model_bench
from jobs.bench.lfs_bench import run_lfs_bench


def test_bench_label_model_recovers_the_true_accuracies(spark, settings, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("LABELLAKE_BENCH_DIR", str(tmp_path))
    figures = run_label_model_bench(rows=20_000, lfs=5, settings=settings)
    assert figures["rows"] == 20_000 and figures["patterns"] > 10
    assert figures["max_accuracy_error"] < 0.05


def test_bench_lfs_methods_agree_on_every_vote(spark, settings, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("LABELLAKE_BENCH_DIR", str(tmp_path))
    figures = run_lfs_bench("youtube_spam", rows=3_000, repeat=1, settings=settings)
    assert figures["votes_agree"] is True
    assert figures["votes"] > 1_000
    assert {"labellake_seconds", "labellake_expressions_seconds", "sql_seconds", "baseline_seconds"} <= set(figures)
