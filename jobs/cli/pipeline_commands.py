"""``labellake run``, ``stage``, ``runs``, ``vacuum``, ``setup``, ``demo``: running and keeping the pipeline."""

from __future__ import annotations

import argparse
import sys

from jobs.cli.common import Subparsers, emit, examples
from jobs.core.lineage import RUN_MODES


def register(sub: Subparsers) -> None:
    """Add this group's commands to ``labellake``'s sub-commands."""
    for add in (
        _add_run,
        _add_stage,
        _add_runs,
        _add_vacuum,
        _add_setup,
        _add_demo,
        _add_settings,
        _add_airflow,
    ):
        add(sub)


def _add_run(sub: Subparsers) -> None:
    run = sub.add_parser(
        "run",
        help="run every stage for a dataset, without Airflow",
        epilog=(
            "examples:\n"
            "  labellake run --dataset youtube_spam\n"
            "  labellake run --dataset sms_spam --mode full      # rebuild: recompute every LF on every row"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("--dataset", required=True)
    run.add_argument("--run-id")
    run.add_argument("--trigger", default="manual")
    run.add_argument(
        "--mode",
        choices=RUN_MODES,
        default="incremental",
        help="incremental (default): recompute only new/changed LFs and rows; full: everything",
    )
    run.add_argument("--json", action="store_true", help="print the summary and the report path as JSON")
    run.set_defaults(func=_cmd_run)


def _add_stage(sub: Subparsers) -> None:
    from jobs.stages import STAGES

    stage = sub.add_parser(
        "stage",
        help="run one stage (used by the DAG through spark-submit)",
        **examples(
            "labellake stage ingest --dataset youtube_spam --run-id my-run",
            "labellake stage validate --dataset youtube_spam --run-id my-run   # stages of one run, in order",
        ),
    )
    stage.add_argument("stage", choices=STAGES)
    stage.add_argument("--dataset", required=True)
    stage.add_argument("--run-id", required=True)
    stage.add_argument("--trigger", default="manual")
    stage.add_argument("--dag-id", default="")
    stage.add_argument("--mode", choices=RUN_MODES, default="incremental")
    stage.set_defaults(func=_cmd_stage)


def _add_runs(sub: Subparsers) -> None:
    runs = sub.add_parser(
        "runs",
        help="recent runs and their status; --reap marks runs that died holding their dataset as killed",
        epilog=("examples:\n  labellake runs --dataset youtube_spam --limit 5\n  labellake runs --reap --json"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    runs.add_argument("--dataset", help="only this dataset's runs")
    runs.add_argument("--limit", type=int, default=20, help="newest N runs (default 20)")
    runs.add_argument("--reap", action="store_true", help="first mark runs whose process died as killed")
    runs.add_argument("--json", action="store_true")
    runs.set_defaults(func=_cmd_runs)


def _add_vacuum(sub: Subparsers) -> None:
    vacuum = sub.add_parser(
        "vacuum",
        help="delete history older than the dataset's [retention] (days, min_versions): VACUUM and old staging runs",
        **examples(
            "labellake vacuum --dataset youtube_spam --dry-run   # what would go",
            "labellake vacuum --dataset youtube_spam --json",
        ),
    )
    vacuum.add_argument("--dataset", required=True)
    vacuum.add_argument("--dry-run", action="store_true", help="list what would be deleted; delete nothing")
    vacuum.add_argument("--json", action="store_true")
    vacuum.set_defaults(func=_cmd_vacuum)


def _cmd_vacuum(args: argparse.Namespace) -> int:
    import dataclasses

    from jobs.core.datasets import get_dataset
    from jobs.core.settings import Settings
    from jobs.lake.retention import format_vacuum, vacuum_dataset

    settings = Settings.from_env()
    results = vacuum_dataset(settings, get_dataset(args.dataset, settings), dry_run=args.dry_run)
    emit([dataclasses.asdict(r) for r in results], args.json, format_vacuum(args.dataset, results, args.dry_run))
    return 0


def _add_setup(sub: Subparsers) -> None:
    setup = sub.add_parser(
        "setup",
        help="resolve the Delta jars, fetch the Data Docs assets and create the Airflow database",
        **examples("labellake setup      # once, while Maven Central is reachable"),
    )
    setup.set_defaults(func=_cmd_setup)


def _add_demo(sub: Subparsers) -> None:
    demo = sub.add_parser(
        "demo",
        help="run the nightly_relabel DAG on a dataset and summarise",
        **examples("labellake demo", "labellake demo --dataset sms_spam"),
    )
    demo.add_argument("--dataset", default="youtube_spam")
    demo.set_defaults(func=_cmd_demo)


def _cmd_run(args: argparse.Namespace) -> int:
    from jobs.core.datasets import get_dataset
    from jobs.core.settings import Settings

    get_dataset(args.dataset, Settings.from_env())  # config errors in a second, before Spark and GX load

    from jobs.core.lineage import RunContext, new_run_id
    from jobs.core.settings import Settings
    from jobs.pipeline import run_pipeline
    from jobs.reports.run_report import write_run_report_quietly
    from jobs.reports.summary import format_summary, labels_summary

    settings = Settings.from_env()
    run = RunContext(args.run_id or new_run_id(), args.dataset, trigger=args.trigger, mode=args.mode)
    try:
        run_pipeline(run, settings)
    finally:  # a failed run gets its report too: what failed, and the candidates that were held back
        report = write_run_report_quietly(settings, args.dataset, run.run_id)
    summary = labels_summary(settings, args.dataset)
    if args.json:
        emit({"run_id": run.run_id, **summary, "report": str(report) if report else None}, True)
        return 0
    print(format_summary(summary))
    if report:
        print(f"report       : {report.as_uri()}")
    return 0


def _cmd_stage(args: argparse.Namespace) -> int:
    from jobs.core.lineage import RunContext
    from jobs.pipeline import run_stage

    run_stage(
        args.stage, RunContext(args.run_id, args.dataset, trigger=args.trigger, dag_id=args.dag_id, mode=args.mode)
    )
    return 0


def _cmd_runs(args: argparse.Namespace) -> int:
    from jobs.core.settings import Settings
    from jobs.lake.dataset_lock import reap_killed_runs
    from jobs.lake.runs import recent_runs

    settings = Settings.from_env()
    reaped = reap_killed_runs(settings) if args.reap else []
    for run in reaped:
        print(f"reaped: {run['dataset']} run {run['run_id']}: {run['error']}", file=sys.stderr)
    rows = recent_runs(settings, args.dataset, args.limit)
    emit(
        rows,
        args.json,
        "\n".join(
            f"{r['updated_at']}  {r['dataset']:<20} {r['run_id']:<44} {r['status'] or '-':<10} "
            f"{r['stage'] or '-':<16} {(r['error'] or '')[:80]}"
            for r in rows
        )
        or "no runs yet",
    )
    return 0


def _cmd_setup(args: argparse.Namespace) -> int:
    from expectations.offline_assets import fetch_assets
    from jobs.cli.airflow_env import airflow_env, ensure_airflow_db
    from jobs.spark.jars import resolve

    resolve()
    fetch_assets()
    ensure_airflow_db(airflow_env())
    print("labellake: set-up complete (Delta jars and Data Docs assets cached, Airflow database ready)")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from jobs.cli.airflow_env import airflow_env, dags_test
    from jobs.core.settings import Settings
    from jobs.reports.summary import format_summary, labels_summary
    from jobs.spark.jars import resolve

    resolve()
    settings = Settings.from_env()
    print(f"labellake demo: relabeling {args.dataset} through the Airflow DAG nightly_relabel ...", flush=True)
    code = dags_test("nightly_relabel", {"dataset": args.dataset}, airflow_env(settings))
    if code != 0:
        print(f"labellake demo: the DAG run failed (exit {code}); see the task logs above", file=sys.stderr)
        return code
    print()
    print(format_summary(labels_summary(settings, args.dataset)))
    return 0


def _add_settings(sub: Subparsers) -> None:
    settings = sub.add_parser(
        "settings",
        help="every LABELLAKE_* environment variable: its value here, its default and what it sets",
        **examples("labellake settings", "labellake settings --json"),
    )
    settings.add_argument("--json", action="store_true")
    settings.set_defaults(func=_cmd_settings)


def _cmd_settings(args: argparse.Namespace) -> int:
    from jobs.core.settings import VARIABLES, env_setting

    rows = [
        {"name": v.name, "value": env_setting(v.name), "default": v.default, "meaning": v.meaning} for v in VARIABLES
    ]
    width = max(len(r["name"]) for r in rows)
    text = "\n".join(f"{r['name']:<{width}}  {r['value'] or '-':<24}  {r['meaning']}" for r in rows)
    emit(rows, args.json, text)
    return 0


def _add_airflow(sub: Subparsers) -> None:
    airflow = sub.add_parser(
        "airflow",
        help="Airflow's CLI with this project's settings (DAGs folder, SQLite home, Spark connection)",
        epilog=(
            "examples:\n  labellake airflow dags list\n"
            "  labellake airflow dags test lf_change_relabel\n"
            '  labellake airflow dags test nightly_relabel --conf \'{"dataset": "sms_spam"}\'\n\n'
            "Every argument after airflow goes to Airflow's CLI (see airflow --help)."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    airflow.add_argument("airflow_args", nargs=argparse.REMAINDER, help="arguments for airflow")
    airflow.set_defaults(func=_cmd_airflow)


def _cmd_airflow(args: argparse.Namespace) -> int:
    import subprocess

    from jobs.cli.airflow_env import airflow_bin, airflow_env, ensure_airflow_db

    env = airflow_env()
    ensure_airflow_db(env)
    forwarded = args.airflow_args[1:] if args.airflow_args[:1] == ["--"] else args.airflow_args
    if forwarded[:2] == ["dags", "list"]:  # Airflow 3 lists DAGs from its database: parse them into it first
        subprocess.run([airflow_bin(), "dags", "reserialize"], env=env, check=True, capture_output=True)
    return subprocess.run([airflow_bin(), *forwarded], env=env).returncode
