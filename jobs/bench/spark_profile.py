"""Where a benchmark's time and memory go: per-stage Spark task metrics and driver memory.

Wall seconds say *that* a stage is slow; the task metrics say *why*: CPU in
tasks, garbage collection, bytes read, shuffled and spilled. They come from
Spark's own event log (``spark.eventLog.enabled``, turned on for a session by
``LABELLAKE_EVENT_LOG_DIR``), the same file the Spark history server reads,
so no listener code runs in the JVM. :func:`jobs.pipeline.run_stage` tags
every Spark job with the labellake run and stage as local properties, which
the log carries on each job start; tasks are attributed through their Spark
stage ids.

:class:`MemoryProfile` samples, every 0.2 s, the RSS of this Python process,
of its child processes (the JVM and Python workers) and the JVM's used heap,
keeping the peaks: "driver memory flat as N grows" is read off these.
"""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import psutil

from jobs.spark.conf import EVENT_LOG_ENV, RUN_PROPERTY, STAGE_PROPERTY  # noqa: F401 - re-exported

_MB = 2**20


def _task_figures(metrics: dict[str, Any]) -> dict[str, float]:
    shuffle_read = metrics.get("Shuffle Read Metrics") or {}
    shuffle_write = metrics.get("Shuffle Write Metrics") or {}
    return {
        "task_s": metrics.get("Executor Run Time", 0) / 1000,
        "cpu_s": metrics.get("Executor CPU Time", 0) / 1e9,
        "gc_s": metrics.get("JVM GC Time", 0) / 1000,
        "input_mb": (metrics.get("Input Metrics") or {}).get("Bytes Read", 0) / _MB,
        "output_mb": (metrics.get("Output Metrics") or {}).get("Bytes Written", 0) / _MB,
        "shuffle_read_mb": (shuffle_read.get("Remote Bytes Read", 0) + shuffle_read.get("Local Bytes Read", 0)) / _MB,
        "shuffle_write_mb": shuffle_write.get("Shuffle Bytes Written", 0) / _MB,
        "spill_memory_mb": metrics.get("Memory Bytes Spilled", 0) / _MB,
        "spill_disk_mb": metrics.get("Disk Bytes Spilled", 0) / _MB,
    }


def stage_profile(event_log_dir: Path) -> dict[str, dict[str, dict[str, float]]]:
    """``{run_id: {stage: figures}}`` summed over every task of the event logs in ``event_log_dir``.

    Tasks of jobs started outside a labellake stage (building the benchmark's
    source, its checks) are filed under the run ``-``.
    """
    owner: dict[int, tuple[str, str]] = {}
    totals: dict[str, dict[str, dict[str, float]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(float)))

    def order(path: Path) -> tuple:  # rolled logs: events_<n>_<app>, in n order
        parts = path.name.split("_")
        return (str(path.parent), int(parts[1]) if parts[0] == "events" and parts[1].isdigit() else 0, path.name)

    for path in sorted(Path(event_log_dir).rglob("*"), key=order):
        if not path.is_file() or path.name.startswith((".", "appstatus")):
            continue
        with path.open(encoding="utf-8") as lines:
            for line in lines:
                if '"SparkListenerJobStart"' in line:
                    event = json.loads(line)
                    props = event.get("Properties") or {}
                    key = (props.get(RUN_PROPERTY) or "-", props.get(STAGE_PROPERTY) or "-")
                    owner.update({int(stage_id): key for stage_id in event.get("Stage IDs", [])})
                elif '"SparkListenerTaskEnd"' in line:
                    event = json.loads(line)
                    run, stage = owner.get(int(event.get("Stage ID", -1)), ("-", "-"))
                    figures = totals[run][stage]
                    figures["tasks"] += 1
                    for name, value in _task_figures(event.get("Task Metrics") or {}).items():
                        figures[name] += value
    return {
        run: {stage: {k: round(v, 2) for k, v in figures.items()} for stage, figures in stages.items()}
        for run, stages in totals.items()
    }


class MemoryProfile:
    """Peaks of Python RSS, child-process RSS (the JVM, Python workers) and JVM heap, sampled in a thread."""

    def __init__(self, spark: Any = None, interval_s: float = 0.2) -> None:
        self.python_rss = self.children_rss = self.total_rss = self.jvm_heap = 0
        self._interval = interval_s
        self._memory_bean = None
        if spark is not None:
            try:
                self._memory_bean = spark.sparkContext._jvm.java.lang.management.ManagementFactory.getMemoryMXBean()
            except Exception:  # noqa: BLE001 - a remote (spark-submit) driver has no local JVM to ask
                self._memory_bean = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        me = psutil.Process()
        python = me.memory_info().rss
        children = 0
        for child in me.children(recursive=True):
            try:
                children += child.memory_info().rss
            except psutil.Error:
                pass
        self.python_rss = max(self.python_rss, python)
        self.children_rss = max(self.children_rss, children)
        self.total_rss = max(self.total_rss, python + children)
        if self._memory_bean is not None:
            self.jvm_heap = max(self.jvm_heap, int(self._memory_bean.getHeapMemoryUsage().getUsed()))

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._sample()
            except Exception:  # noqa: BLE001 - a sample lost to a closing JVM is not an error
                pass
            time.sleep(self._interval)

    def __enter__(self) -> MemoryProfile:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def figures(self) -> dict[str, int]:
        return {
            "peak_python_rss_mb": round(self.python_rss / _MB),
            "peak_jvm_and_workers_rss_mb": round(self.children_rss / _MB),
            "peak_rss_mb": round(self.total_rss / _MB),
            "peak_jvm_heap_mb": round(self.jvm_heap / _MB),
        }
