"""Spark's Python daemon with the workers' heavy imports done before it forks them.

Spark stops a Python worker idle for a minute and forks a new one from this
daemon when a task needs it; the new worker then imports pyarrow and pandas
for its Arrow batches, in the first tasks of a stage that follows a pause.
Imported here, before the fork, they come loaded (docs/decisions/0015). Set by
``get_spark`` in local mode, where the daemon runs the driver's interpreter."""

from __future__ import annotations

import pandas  # noqa: F401
import pyarrow.compute  # noqa: F401
import pyarrow.parquet  # noqa: F401
import pyspark.worker  # noqa: F401
from pyspark.daemon import manager

if __name__ == "__main__":
    manager()
