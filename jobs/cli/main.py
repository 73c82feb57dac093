"""The ``labellake`` command line: the parser's skeleton, logging, and exit codes.

Each command group registers its own sub-commands (``jobs/cli/*_commands.py``);
``labellake --help`` lists them all.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from jobs.cli import bench_commands, hand_label_commands, lf_try_commands, pipeline_commands, read_commands
from jobs.core.errors import LabellakeError, SparkDied

EXIT_SPARK_DIED = 3  # retry-able: the same run may succeed once the JVM has room


def _configure_logging() -> None:
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    for noisy in ("py4j", "great_expectations", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    for handler in logging.getLogger().handlers:
        handler.addFilter(_drop_py4j_root_records)


def _drop_py4j_root_records(record: logging.LogRecord) -> bool:
    """py4j logs each failed call to a dead JVM on the root logger, with a traceback; the stage's
    SparkDied error says it in one line."""
    return not (record.name == "root" and f"{os.sep}py4j{os.sep}" in record.pathname)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="labellake", description="Programmatic data labeling at lake scale.")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an unexpected error")
    sub = parser.add_subparsers(dest="command", required=True)
    for group in (pipeline_commands, read_commands, lf_try_commands, hand_label_commands, bench_commands):
        group.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    _configure_logging()
    argv = list(sys.argv[1:] if argv is None else argv)
    at = 1 if argv[:1] == ["--debug"] else 0
    if argv[at : at + 1] in (["spark-sql"], ["airflow"]) and not {"-h", "--help"} & set(argv[at + 1 : at + 2]):
        # Everything after spark-sql (or airflow) belongs to that tool (-e, -f, --conf, ...);
        # argparse would claim the options, so they bypass it.
        argv = [*argv[: at + 1], "--", *argv[at + 1 :]]
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except SparkDied as exc:  # not a refusal: the same run may succeed when retried
        logging.getLogger("labellake").error("%s: %s", type(exc).__name__, exc)
        return EXIT_SPARK_DIED
    except LabellakeError as exc:
        logging.getLogger("labellake").error("%s: %s", type(exc).__name__, exc)
        return 2
    except Exception as exc:
        if args.debug:
            raise
        logging.getLogger("labellake").error(
            "unexpected %s: %s (a bug: run again with --debug for the traceback)",
            type(exc).__name__,
            " ".join(str(exc).split())[:500],
        )
        return 1


def _spark_running() -> bool:
    """Whether this process started a SparkContext (whose shutdown hooks must run at exit)."""
    if "pyspark" not in sys.modules:
        return False
    from pyspark import SparkContext

    return SparkContext._active_spark_context is not None


def exit_with(code: int) -> NoReturn:
    """End the process with ``code``. The interpreter's teardown can abort in native threads (seen:
    SIGABRT, exit 134): after SparkDied (exit 3) in threads tied to the dead JVM, and in about one
    `labellake query` in four in DuckDB's and delta-rs's runtimes, which would hide the real code.
    So a process without a live SparkContext flushes and ends without that teardown."""
    if code == EXIT_SPARK_DIED or not _spark_running():
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


EXIT_PIPE_CLOSED = 141  # 128 + SIGPIPE, as a Unix tool whose reader left (`labellake ... | head`)


def console_main() -> NoReturn:
    """The ``labellake`` command."""
    try:
        code = main()
        sys.stdout.flush()
    except BrokenPipeError:  # the reader of our output left: no traceback, the code a shell expects
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = EXIT_PIPE_CLOSED
    exit_with(code)


if __name__ == "__main__":
    console_main()
