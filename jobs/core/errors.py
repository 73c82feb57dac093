"""Project exception types.

Every error raised at a job boundary is a ``LabellakeError`` whose message names
the thing that went wrong (the dataset, table, LF, row id or expectation), so a
failed Airflow task log says what to fix without reading a traceback.
"""

from __future__ import annotations


class LabellakeError(Exception):
    """Base class for every error labellake raises on purpose."""


class ConfigError(LabellakeError):
    """The dataset config or an environment setting is missing or wrong."""


class SetupError(LabellakeError):
    """The machine is not set up (e.g. the Delta jars were never resolved)."""


class StageOrderError(LabellakeError):
    """A stage ran before the stage it depends on finished for the same run."""


class ValidationFailed(LabellakeError):
    """Blocking expectations failed; the labels table was left untouched.

    ``failures`` holds one dict per failed expectation with its name, column,
    observed value and threshold, as also written to the runs table.
    """

    def __init__(self, message: str, failures: list[dict[str, object]]):
        super().__init__(message)
        self.failures = failures


class LFExecutionError(LabellakeError):
    """An LF failed on more rows than the dataset's error budget allows."""


class DatasetBusy(LabellakeError):
    """Another run holds the dataset's lock; this run changed nothing."""


class ObjectStoreError(LabellakeError):
    """The lakehouse's object store refused the credentials, lacks the bucket or cannot be reached."""


class RunNotFound(LabellakeError):
    """No run of that id is on record for the dataset (it never started, or the id is wrong)."""


class SparkDied(LabellakeError):
    """The Spark driver JVM went away under a run (killed, out of memory): retrying may succeed."""
