"""``labellake bench lfs``: apply a pack three ways to the same N rows and compare.

1. **baseline** — Snorkel's ``SparkLFApplier.apply``: a Python function per
   row through ``rdd.map`` calling Snorkel-style LF objects (plain-Python
   rules from :mod:`lf_library.reference`), then ``collect()`` of the label
   matrix entries to the driver, as Snorkel does;
2. **labellake** — :func:`jobs.stages.apply.stage.votes_long` as the pipeline runs it
   (text LFs through the JVM text kernel, :mod:`lf_library.text_kernel`), and
   **labellake_expressions**, the same with the kernel off (every LF a
   compiled Spark expression), to show what the kernel buys;
3. **sql** — a hand-written Spark SQL ``SELECT`` of the same rules: one
   ``CASE WHEN ... THEN label ELSE -1 END`` column per LF, then ``explode`` of
   ``(lf, vote)`` structs keeping ``vote >= 0`` (the way a Spark engineer would
   write it; word counts as ``regexp_count``).

Each method produces the long ``(id, lf, vote)`` votes. The timed part is
producing them (Spark methods into the ``noop`` sink; the baseline through
``collect()``, as Snorkel does); afterwards, untimed, each method's votes are
reduced to a count and an order-independent checksum (sum of
``xxhash64(id, lf, vote)``) to prove the three agree on every vote. Peak memory is the highest RSS of the
driver's Python process plus its JVM, sampled every 100 ms.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np
import psutil
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.bench.scaled_source import build_scaled_source
from jobs.core.datasets import get_dataset
from jobs.core.settings import Settings, bench_dir
from jobs.spark.session import get_spark
from jobs.stages.apply.votes import load_dataset_pack, votes_long
from lf_library.compile import PY_WORD, java_regex
from lf_library.core import KeywordLF, LFPack, RegexLF, SqlLF, WordCountLF
from lf_library.reference import python_lf
from lf_library.text_kernel import KERNEL_ENV


class PeakMemory:
    """Samples the RSS of this process and its children (the JVM) in a thread."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            try:
                total = me.memory_info().rss + sum(c.memory_info().rss for c in me.children(recursive=True))
                self.peak = max(self.peak, total)
            except psutil.Error:
                pass
            time.sleep(0.1)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _checksum(votes: DataFrame) -> tuple[int, int]:
    row = votes.agg(
        F.count(F.lit(1)).alias("n"), F.sum(F.pmod(F.xxhash64("id", "lf", "vote"), F.lit(2**31))).alias("h")
    ).first()
    return int(row["n"]), int(row["h"] or 0)


class _SnorkelStyleLF:
    """What Snorkel's ``LabelingFunction`` does per call: run preprocessors, then ``f(x, **resources)``."""

    def __init__(self, name: str, f: Callable[..., int], resources: dict[str, Any]):
        self.name, self._f, self._resources = name, f, resources
        self._pre: list[Any] = []

    def __call__(self, x: Any) -> int:
        for pre in self._pre:
            x = pre(x)
        return self._f(x, **self._resources)


class _FunctionCaller:
    """Snorkel's ``_FunctionCaller`` (``fault_tolerant=False``): how its appliers call each LF."""

    def __init__(self) -> None:
        self.fault_counts: dict[str, int] = {}

    def __call__(self, f: _SnorkelStyleLF, x: Any) -> int:
        return f(x)


def _snorkel_apply_row(
    x: Any, index: int, lfs: list[_SnorkelStyleLF], f_caller: _FunctionCaller
) -> list[tuple[int, int, int]]:
    """Snorkel's ``apply_lfs_to_data_point``: (row index, lf index, label) for every non-abstain LF."""
    labels = []
    for j, lf in enumerate(lfs):
        y = f_caller(lf, x)
        if y >= 0:
            labels.append((index, j, y))
    return labels


def _numpy_from_row_data(labels: list[list[tuple[int, int, int]]], n_lfs: int) -> np.ndarray:
    """Snorkel's ``BaseLFApplier._numpy_from_row_data``: the dense n x m label matrix on the driver."""
    matrix = np.zeros((len(labels), n_lfs), dtype=int) - 1
    if any(map(len, labels)):
        row, col, data = zip(*chain.from_iterable(labels), strict=True)
        matrix[row, col] = data
    return matrix


def baseline_votes(spark: SparkSession, source: DataFrame, pack: LFPack) -> tuple[float, DataFrame]:
    """Snorkel's ``SparkLFApplier.apply``, step for step: ``zipWithIndex`` the rows,
    ``map`` ``apply_lfs_to_data_point`` over them, ``collect()`` every row's labels to
    the driver and build the dense label matrix there. Returns the seconds taken and,
    built untimed afterwards (row index -> id from the same deterministic file scan),
    the votes as a DataFrame for checking."""
    refs = [python_lf(lf, pack) for lf in pack]
    lfs = [_SnorkelStyleLF(lf.name, lambda x, _f=f: _f(x.text), {}) for lf, f in zip(pack, refs, strict=True)]
    f_caller = _FunctionCaller()
    started = time.perf_counter()
    labels = source.rdd.zipWithIndex().map(lambda args: _snorkel_apply_row(args[0], args[1], lfs, f_caller)).collect()
    matrix = _numpy_from_row_data(labels, len(lfs))
    seconds = time.perf_counter() - started
    del labels
    rows, cols = np.nonzero(matrix >= 0)
    entries = spark.createDataFrame(
        [(int(r), pack.names[c], int(matrix[r, c])) for r, c in zip(rows, cols, strict=True)],
        "idx long, lf string, vote int",
    )
    ids = spark.createDataFrame(
        source.select("id").rdd.zipWithIndex().map(lambda t: (t[0].id, t[1])), "id string, idx long"
    )
    return seconds, entries.join(ids, "idx").select("id", "lf", "vote")


def _sql_literal(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def hand_written_sql(pack: LFPack, view: str) -> str:
    """The pack as one SQL statement, written the way a person would write it by hand."""
    cases = []
    for lf in pack:
        label = pack.label_index(lf)
        if isinstance(lf, KeywordLF):
            hay = "text" if lf.case_sensitive else "lower(text)"
            kws = lf.keywords if lf.case_sensitive else [k.lower() for k in lf.keywords]
            cond = " OR ".join(f"instr({hay}, {_sql_literal(k)}) > 0" for k in kws)
            if lf.match == "word":
                word_regex = java_regex(r"\b(?:" + "|".join(re.escape(k) for k in kws) + r")\b")
                cond = f"({cond}) AND {hay} RLIKE {_sql_literal(word_regex)}"
        elif isinstance(lf, RegexLF):
            hay = "lower(text)" if lf.lowercase else "text"
            cond = f"{hay} RLIKE {_sql_literal(java_regex(lf.pattern, lf.ignore_case))}"
        elif isinstance(lf, WordCountLF):
            words = f"regexp_count(text, {_sql_literal(PY_WORD)})"
            parts = ([f"{words} >= {lf.min_words}"] if lf.min_words is not None else []) + (
                [f"{words} < {lf.max_words}"] if lf.max_words is not None else []
            )
            cond = " AND ".join(parts)
        elif isinstance(lf, SqlLF):
            cond = lf.condition
        else:
            raise TypeError(f"LF {lf.name!r}: no SQL form")
        cases.append(f"CASE WHEN {cond} THEN {label} ELSE -1 END AS {lf.name}")
    structs = ", ".join(f"named_struct('lf', '{lf.name}', 'vote', {lf.name})" for lf in pack)
    return (
        f"SELECT id, v.lf AS lf, v.vote AS vote "
        f"FROM (SELECT id, {', '.join(cases)} FROM {view}) "
        f"LATERAL VIEW explode(array({structs})) t AS v WHERE v.vote >= 0"
    )


@dataclass
class MethodResult:
    seconds: float
    votes: int
    checksum: int

    def rows_per_s(self, rows: int) -> float:
        return rows / self.seconds if self.seconds else float("inf")


def _time(fn: Callable[[], DataFrame], repeat: int) -> MethodResult:
    """Time producing every vote (Spark's ``noop`` sink materializes all columns and
    writes nothing), best of ``repeat`` runs as ``timeit`` does (the minimum is the
    run least disturbed by the machine), then checksum the same votes untimed."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn().write.format("noop").mode("overwrite").save()
        times.append(time.perf_counter() - started)
    n, h = _checksum(fn())
    return MethodResult(min(times), n, h)


@contextmanager
def kernel_off() -> Iterator[None]:
    """Run ``votes_long`` on compiled expressions only (the kernel switched off)."""
    previous = os.environ.get(KERNEL_ENV)
    os.environ[KERNEL_ENV] = "off"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(KERNEL_ENV, None)
        else:
            os.environ[KERNEL_ENV] = previous


def generated_keyword_pack(source: DataFrame, classes: tuple[str, ...], n_lfs: int) -> LFPack:
    """``n_lfs`` whole-word keyword LFs over the most frequent words of the source
    (alternating classes): the "thousands of LFs" case. Only the top words, an
    aggregate, reach the driver."""
    words = (
        source.select(F.explode(F.split(F.lower("text"), r"[^a-z]+")).alias("w"))
        .where(F.length("w") >= 3)
        .groupBy("w")
        .count()
        .orderBy(F.desc("count"), "w")
        .limit(n_lfs)
        .collect()
    )
    return LFPack(
        f"generated_{n_lfs}",
        classes,
        [
            KeywordLF(f"kw_{r['w']}", classes[i % len(classes)], keywords=(r["w"],), match="word")
            for i, r in enumerate(words)
        ],
    )


def run_lfs_bench(
    dataset: str,
    rows: int,
    skip_baseline: bool = False,
    generated_lfs: int = 0,
    skip_sql: bool = False,
    repeat: int = 3,
    settings: Settings | None = None,
) -> dict[str, Any]:
    settings = settings or Settings.from_env()
    spark = get_spark("labellake-bench-lfs", settings)
    ds = get_dataset(dataset, settings)
    pack = LFPack(f"{ds.lf_pack}-declarative", load_dataset_pack(ds).classes, load_dataset_pack(ds).declarative)
    workdir = Path(tempfile.mkdtemp(prefix="labellake-bench-", dir=bench_dir()))
    with PeakMemory() as memory:
        source = build_scaled_source(spark, ds, settings, rows, workdir / "source.parquet")
        if generated_lfs:
            pack = generated_keyword_pack(source, ds.classes, generated_lfs)
        source.createOrReplaceTempView("bench_source")
        votes_long(source, pack).write.format("noop").mode("overwrite").save()  # warm-up: JIT, file listing
        results = {"labellake": _time(lambda: votes_long(source, pack), repeat)}
        with kernel_off():
            votes_long(source, pack).write.format("noop").mode("overwrite").save()
            results["labellake_expressions"] = _time(lambda: votes_long(source, pack), repeat)
        if not skip_sql:
            results["sql"] = _time(lambda: spark.sql(hand_written_sql(pack, "bench_source")), repeat)
        if not skip_baseline:
            seconds, votes = min(
                (baseline_votes(spark, source, pack) for _ in range(repeat)), key=lambda timed: timed[0]
            )
            n, h = _checksum(votes)
            results["baseline"] = MethodResult(seconds, n, h)
    figures = {
        "dataset": dataset,
        "rows": rows,
        "lfs": len(pack),
        "cores": os.cpu_count(),
        "master": spark.sparkContext.master,
        "repeat": repeat,
        **{f"{name}_seconds": round(r.seconds, 3) for name, r in results.items()},
        **{f"{name}_rows_per_s": round(r.rows_per_s(rows)) for name, r in results.items()},
        "votes": results["labellake"].votes,
        # With a single method there is nothing to compare: null, not a vacuous true.
        "votes_agree": len({(r.votes, r.checksum) for r in results.values()}) == 1 if len(results) > 1 else None,
        "peak_rss_mb": round(memory.peak / 2**20),
    }
    if "sql" in results:
        figures["labellake_vs_sql"] = round(results["labellake"].seconds / results["sql"].seconds, 3)
    if "baseline" in results:
        figures["speedup_vs_baseline"] = round(results["baseline"].seconds / results["labellake"].seconds, 2)
        figures["expressions_speedup_vs_baseline"] = round(
            results["baseline"].seconds / results["labellake_expressions"].seconds, 2
        )
    return figures


def format_figures(f: dict[str, Any]) -> str:
    lines = [
        f"bench lfs: {f['dataset']}, {f['rows']:,} rows x {f['lfs']} LFs on {f['master']} "
        f"({f['cores']} cores); {f['votes']:,} votes"
    ]
    for name in ("baseline", "labellake", "labellake_expressions", "sql"):
        if f"{name}_seconds" in f:
            lines.append(f"  {name:<21} {f[f'{name}_seconds']:>9.2f} s {f[f'{name}_rows_per_s']:>12,} rows/s")
    if "speedup_vs_baseline" in f:
        lines.append(f"  labellake is {f['speedup_vs_baseline']}x the row-at-a-time baseline")
    if "labellake_vs_sql" in f:
        lines.append(f"  labellake / hand-written SQL time: {f['labellake_vs_sql']}")
    lines.append(f"  all methods agree on every vote: {f['votes_agree']}; peak RSS {f['peak_rss_mb']} MB")
    return "\n".join(lines)


def main_json(figures: dict[str, Any]) -> str:
    return json.dumps(figures, indent=2)


__all__ = ["run_lfs_bench", "format_figures", "main_json", "asdict"]
