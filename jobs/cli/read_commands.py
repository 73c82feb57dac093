"""The read side: ``summary``, ``tables``, ``history``, ``diff``, ``lfs``, ``report``, ``query``, ``spark-sql``."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from jobs.cli.common import Subparsers, emit, examples

QUERY_EPILOG = """examples:
  labellake query "SELECT label_name, count(*) AS n FROM youtube_spam_labels GROUP BY 1 ORDER BY n DESC"
  labellake query "SELECT * FROM labellake.youtube_spam_labels WHERE confidence < 0.6" \\
      --as-of 3 --format csv --output low.csv
  labellake query "SELECT run_id, trigger, status FROM runs ORDER BY updated_at DESC" --format json
  labellake query "SELECT count(*) FROM youtube_spam_labels" --as-of 2026-11-28T09:00:00

tables: `labellake tables` lists them (<dataset>_<role> and runs); --as-of applies to every table the query names.
"""


def register(sub: Subparsers) -> None:
    """Add this group's commands to ``labellake``'s sub-commands."""
    for add in (
        _add_summary,
        _add_tables,
        _add_history,
        _add_diff,
        _add_lfs,
        _add_report,
        _add_query,
        _add_spark_sql,
        _add_catalog,
    ):
        add(sub)


def _add_catalog(sub: Subparsers) -> None:
    catalog = sub.add_parser(
        "catalog",
        help="the Hive metastore the tables are registered in: the Spark settings that open it; --sync registers now",
        **examples(
            "labellake catalog                # --conf lines for spark-sql, pyspark or spark-submit",
            "labellake catalog --json         # the same as a JSON object, for SparkSession.builder",
            "labellake catalog --sync         # register every table now (a publish does it for new ones)",
        ),
    )
    catalog.add_argument("--sync", action="store_true", help="register every table in the metastore now")
    catalog.add_argument("--json", action="store_true")
    catalog.set_defaults(func=_cmd_catalog)


def _cmd_catalog(args: argparse.Namespace) -> int:
    from jobs.core.settings import Settings
    from jobs.lake.metastore import register_in_metastore, session_conf

    settings = Settings.from_env()
    if args.sync:
        names = register_in_metastore(settings)
        emit(names, args.json, f"registered {len(names)} tables: " + ", ".join(names))
        return 0
    conf = session_conf(settings)
    emit(conf, args.json, " ".join(f"--conf {shlex.quote(f'{k}={v}')}" for k, v in conf.items()))
    return 0


def _add_summary(sub: Subparsers) -> None:
    summary = sub.add_parser(
        "summary",
        help="where the labels are, counts and accuracy vs gold",
        epilog=(
            "examples:\n"
            "  labellake summary --dataset youtube_spam\n"
            "  labellake summary --dataset youtube_spam --version 0 --json"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    summary.add_argument("--dataset", required=True)
    summary.add_argument("--version", type=int)
    summary.add_argument("--json", action="store_true")
    summary.set_defaults(func=_cmd_summary)


def _add_tables(sub: Subparsers) -> None:
    tables = sub.add_parser(
        "tables",
        help="list every table",
        epilog="examples:\n  labellake tables\n  labellake tables --json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    tables.add_argument("--json", action="store_true")
    tables.set_defaults(func=_cmd_tables)


def _add_history(sub: Subparsers) -> None:
    hist = sub.add_parser(
        "history",
        help="versions of a dataset's table (labels by default)",
        epilog=(
            "examples:\n"
            "  labellake history --dataset youtube_spam --limit 5\n"
            "  labellake history --dataset youtube_spam --role votes"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    hist.add_argument("--dataset", required=True)
    hist.add_argument("--role", default="labels")
    hist.add_argument("--limit", type=int, default=20, help="newest N versions (labels)")
    hist.add_argument("--json", action="store_true")
    hist.set_defaults(func=_cmd_history)


def _add_diff(sub: Subparsers) -> None:
    diff = sub.add_parser(
        "diff",
        help="how labels changed between two versions of the labels table",
        epilog=(
            "examples:\n"
            "  labellake diff --dataset youtube_spam --from 0 --to 1\n"
            "  labellake diff --dataset youtube_spam --from 0 --to 1 --samples 10 --json"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    diff.add_argument("--dataset", required=True)
    diff.add_argument("--from", dest="v_from", type=int, required=True, help="older labels version")
    diff.add_argument("--to", dest="v_to", type=int, required=True, help="newer labels version")
    diff.add_argument("--samples", type=int, default=5, help="sample ids per transition")
    diff.add_argument("--json", action="store_true")
    diff.set_defaults(func=_cmd_diff)


def _add_lfs(sub: Subparsers) -> None:
    lfs = sub.add_parser(
        "lfs",
        help="per-LF coverage, overlaps, conflicts, accuracy and errors of a run",
        epilog=(
            "examples:\n"
            "  labellake lfs --dataset youtube_spam\n"
            "  labellake lfs --dataset youtube_spam --run-id manual__2026-11-28T10:00:00 --json"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    lfs.add_argument("--dataset", required=True)
    lfs.add_argument("--run-id", help="default: the newest run")
    lfs.add_argument("--json", action="store_true")
    lfs.set_defaults(func=_cmd_lfs)


def _add_report(sub: Subparsers) -> None:
    report = sub.add_parser(
        "report",
        help="(re)write a run's HTML report: LFs, distribution, confidence, changes, expectations",
        epilog="examples:\n  labellake report --dataset youtube_spam            # the newest published run\n"
        "  labellake report --dataset youtube_spam --run-id manual__2026-11-28T10:00:00",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    report.add_argument("--dataset", required=True)
    report.add_argument(
        "--run-id", "--run", dest="run_id", help="default: the run behind the newest labels version (--run: old name)"
    )
    report.add_argument("--json", action="store_true", help="print the report's path, URI and size as JSON")
    report.set_defaults(func=_cmd_report)


def _add_query(sub: Subparsers) -> None:
    query = sub.add_parser(
        "query",
        help="read-only SQL over the lakehouse tables (DuckDB + delta-rs, no Spark)",
        epilog=QUERY_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    query.add_argument("sql", help="one SELECT statement; tables by catalog name, e.g. youtube_spam_labels")
    query.add_argument("--as-of", help="a table version (e.g. 3) or an ISO timestamp (UTC unless it has a zone)")
    query.add_argument(
        "--format",
        choices=("table", "csv", "json", "parquet"),
        default="table",
        help="table (terminal, first --max-rows rows), csv, json (JSON lines) or parquet",
    )
    query.add_argument(
        "--output", help="write here instead of stdout (streamed; required for parquet; never inside the lakehouse)"
    )
    query.add_argument("--force", action="store_true", help="overwrite --output if it exists")
    query.add_argument("--timeout", type=float, default=300.0, help="stop the query after this many seconds")
    query.add_argument("--memory-limit", default="4GB", help="DuckDB's memory limit for the query (e.g. 2GB)")
    query.add_argument("--max-rows", type=int, default=50, help="rows shown by --format table")
    query.set_defaults(func=_cmd_query)


def _add_spark_sql(sub: Subparsers) -> None:
    spark_sql = sub.add_parser(
        "spark-sql",
        help="Spark's spark-sql shell with every table registered as labellake.<name>",
        epilog=(
            "examples:\n  labellake spark-sql                      # interactive\n"
            '  labellake spark-sql -e "SELECT label_name, count(*) FROM labellake.youtube_spam_labels '
            'VERSION AS OF 0 GROUP BY 1"\n'
            '  labellake spark-sql -e "DESCRIBE HISTORY labellake.youtube_spam_labels"\n'
            "  labellake spark-sql -f my_queries.sql\n\n"
            "Every argument after spark-sql goes to Spark's spark-sql (see spark-sql --help)."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    spark_sql.add_argument("shell_args", nargs=argparse.REMAINDER, help="arguments for spark-sql (-e, -f, ...)")
    spark_sql.set_defaults(func=_cmd_spark_sql)


def _cmd_summary(args: argparse.Namespace) -> int:
    from jobs.core.settings import Settings
    from jobs.reports.summary import format_summary, labels_summary

    summary = labels_summary(Settings.from_env(), args.dataset, args.version)
    emit(summary, args.json, None if args.json else format_summary(summary))
    return 0


def _cmd_tables(args: argparse.Namespace) -> int:
    from jobs.core.settings import Settings
    from jobs.reports.summary import tables_listing

    listing = tables_listing(Settings.from_env())
    emit(
        listing,
        args.json,
        "\n".join(
            f"{t['name']:<32} {t['role']:<15} v{t['version']:<4} {t['rows']:>10} rows  {t['path']}" for t in listing
        ),
    )
    return 0


def _cmd_history(args: argparse.Namespace) -> int:
    from jobs.core.settings import Settings
    from jobs.reports.summary import history

    if args.role == "labels":
        from jobs.reports.history import format_history, labels_history

        entries = labels_history(Settings.from_env(), args.dataset, args.limit)
        emit(entries, args.json, format_history(entries))
        return 0
    commits = history(Settings.from_env(), args.dataset, args.role)
    emit(
        commits,
        args.json,
        "\n".join(f"v{c['version']:<4} {c['operation']:<8} rows={c['rows']!s:<8} run={c['run_id']}" for c in commits),
    )
    return 0


def _cmd_diff(args: argparse.Namespace) -> int:
    from jobs.core.settings import Settings
    from jobs.reports.history import format_diff, labels_diff

    diff = labels_diff(Settings.from_env(), args.dataset, args.v_from, args.v_to, args.samples)
    emit(diff, args.json, format_diff(diff))
    return 0


def _cmd_lfs(args: argparse.Namespace) -> int:
    from jobs.core.settings import Settings
    from jobs.reports.summary import format_lf_table, lf_analysis

    rows = lf_analysis(Settings.from_env(), args.dataset, args.run_id)
    emit(rows, args.json, None if args.json else format_lf_table(rows))
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from jobs.core.settings import Settings
    from jobs.reports.run_report import write_run_report

    path = write_run_report(Settings.from_env(), args.dataset, args.run_id)
    emit(
        {
            "dataset": args.dataset,
            "run_id": args.run_id,
            "path": str(path),
            "uri": path.as_uri(),
            "bytes": path.stat().st_size,
        },
        args.json,
        path.as_uri(),
    )
    return 0


def _cmd_query(args: argparse.Namespace) -> int:
    from jobs.core.settings import Settings
    from jobs.lake.query import check_output_path, parse_as_of, stream, write_result

    settings = Settings.from_env()
    output = check_output_path(Path(args.output), settings, args.force) if args.output else None
    reader = stream(args.sql, settings, parse_as_of(args.as_of), timeout_s=args.timeout, memory_limit=args.memory_limit)
    rows = write_result(reader, args.format, output, args.max_rows)
    if args.output:
        print(f"{rows} rows -> {args.output}", file=sys.stderr)
    return 0


def _cmd_spark_sql(args: argparse.Namespace) -> int:
    from jobs.core.settings import Settings
    from jobs.lake.catalog import exec_spark_sql

    shell_args = args.shell_args[1:] if args.shell_args[:1] == ["--"] else args.shell_args
    exec_spark_sql(Settings.from_env(), shell_args)
    return 0  # not reached: the shell replaced this process
