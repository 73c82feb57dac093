"""The ``labellake`` command line.

``labellake run --dataset NAME``      every stage, in one process (no Airflow)
``labellake stage STAGE ...``         one stage (what each DAG task runs via spark-submit)
``labellake demo``                    set up, run the Airflow DAG on youtube_spam, summarise
``labellake summary --dataset NAME``  where the labels are, counts, accuracy vs gold
``labellake tables [--json]``         every table: name, dataset, role, path, version, rows
``labellake history --dataset NAME``  versions of the labels table: run, trigger, LF changes, distribution
``labellake diff --dataset NAME --from V1 --to V2``  labels changed between two versions (transitions, sample ids)
``labellake lfs --dataset NAME``      the LF table of the newest run (coverage, conflicts, accuracy)
``labellake report --dataset NAME``   the HTML report of a run (plots, LF table, changes, expectations)
``labellake query "SQL" [--as-of V]``  read-only SQL over the tables (DuckDB + delta-rs, no Spark)
``labellake spark-sql [-e SQL]``     Spark's SQL shell with the tables as ``labellake.<name>`` (time travel)
``labellake annotations ingest ...``  hand labels (CSV, JSON lines, Label Studio export) -> annotations table
``labellake annotators --dataset NAME``  per-annotator counts, agreement (kappa, alpha), gold and learned accuracy
``labellake gold --dataset NAME``     the gold set: gold column + adjudicated annotations, evaluation/train split
``labellake review-queue --dataset NAME``  the K rows most worth a human look (Delta, CSV, Label Studio)
``labellake end-model --dataset NAME``  label model vs end model vs published: coverage and accuracy on gold
``labellake setup``                   resolve the Delta jars and the Airflow database
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from jobs.core.errors import LabellakeError, SparkDied
from jobs.core.lineage import RUN_MODES

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


def _emit(data: object, as_json: bool, as_text: str | None = None) -> None:
    """Print ``data`` as JSON, or the human-readable ``as_text``."""
    print(json.dumps(data, indent=2, default=str) if as_json or as_text is None else as_text)


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
        _emit({"run_id": run.run_id, **summary, "report": str(report) if report else None}, True)
        return 0
    print(format_summary(summary))
    if report:
        print(f"report       : {report.as_uri()}")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from jobs.core.settings import Settings
    from jobs.reports.run_report import write_run_report

    path = write_run_report(Settings.from_env(), args.dataset, args.run)
    _emit(
        {
            "dataset": args.dataset,
            "run_id": args.run,
            "path": str(path),
            "uri": path.as_uri(),
            "bytes": path.stat().st_size,
        },
        args.json,
        path.as_uri(),
    )
    return 0


def _cmd_spark_sql(args: argparse.Namespace) -> int:
    from jobs.core.settings import Settings
    from jobs.lake.catalog import exec_spark_sql

    shell_args = args.shell_args[1:] if args.shell_args[:1] == ["--"] else args.shell_args
    exec_spark_sql(Settings.from_env(), shell_args)
    return 0  # not reached: the shell replaced this process


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
    _emit(
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


def _cmd_summary(args: argparse.Namespace) -> int:
    from jobs.core.settings import Settings
    from jobs.reports.summary import format_summary, labels_summary

    summary = labels_summary(Settings.from_env(), args.dataset, args.version)
    _emit(summary, args.json, None if args.json else format_summary(summary))
    return 0


def _cmd_tables(args: argparse.Namespace) -> int:
    from jobs.core.settings import Settings
    from jobs.reports.summary import tables_listing

    listing = tables_listing(Settings.from_env())
    _emit(
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
        _emit(entries, args.json, format_history(entries))
        return 0
    commits = history(Settings.from_env(), args.dataset, args.role)
    _emit(
        commits,
        args.json,
        "\n".join(f"v{c['version']:<4} {c['operation']:<8} rows={c['rows']!s:<8} run={c['run_id']}" for c in commits),
    )
    return 0


def _cmd_diff(args: argparse.Namespace) -> int:
    from jobs.core.settings import Settings
    from jobs.reports.history import format_diff, labels_diff

    diff = labels_diff(Settings.from_env(), args.dataset, args.v_from, args.v_to, args.samples)
    _emit(diff, args.json, format_diff(diff))
    return 0


def _cmd_lfs(args: argparse.Namespace) -> int:
    from jobs.core.settings import Settings
    from jobs.reports.summary import format_lf_table, lf_analysis

    rows = lf_analysis(Settings.from_env(), args.dataset, args.run_id)
    _emit(rows, args.json, None if args.json else format_lf_table(rows))
    return 0


def _cmd_annotations_ingest(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from jobs.core.datasets import get_dataset
    from jobs.core.settings import Settings
    from jobs.hand_labels.annotations import run_annotation_ingest
    from jobs.spark.session import get_spark

    settings = Settings.from_env()
    ds = get_dataset(args.dataset, settings)
    result = run_annotation_ingest(
        get_spark("labellake-annotations", settings),
        ds,
        settings,
        [str(p) for p in args.files],
        args.format,
        args.id_field,
        args.from_name,
        args.batch,
    )
    text = (
        f"annotations {ds.name}: {result.input_annotations} read, {result.accepted} accepted, "
        f"{result.quarantined_total} quarantined {result.quarantined or ''} -> "
        f"{ds.name}_annotations@v{result.annotations_version} ({result.ingest_id})"
    )
    _emit(asdict(result), args.json, None if args.json else text)
    return 0


def _cmd_annotators(args: argparse.Namespace) -> int:
    from pyspark.sql import functions as F

    from jobs.core.datasets import get_dataset
    from jobs.core.settings import Settings
    from jobs.hand_labels.agreement import agreement, format_agreement, with_learned_accuracies
    from jobs.hand_labels.gold_set import evaluation_gold
    from jobs.lake.tables import latest_commit, require_table, table
    from jobs.spark.session import get_spark

    settings = Settings.from_env()
    ds = get_dataset(args.dataset, settings)
    spark = get_spark("labellake-annotators", settings)
    annotations = spark.read.format("delta").load(str(require_table(settings, ds.name, "annotations").path))
    result = agreement(annotations, list(ds.classes), evaluation_gold(spark, settings, ds))
    labels_ref = table(settings, ds.name, "labels")
    models_ref = table(settings, ds.name, "label_models")
    if labels_ref.exists() and models_ref.exists():
        model_id = latest_commit(spark, labels_ref)[1].get("label_model")
        rows = (
            spark.read.format("delta")
            .load(str(models_ref.path))
            .where(F.col("model_id") == F.lit(model_id))
            .select("lf_names", "lf_accuracies")
            .limit(1)
            .collect()
        )
        if rows and rows[0]["lf_accuracies"] is not None:
            result = with_learned_accuracies(
                result, dict(zip(rows[0]["lf_names"], rows[0]["lf_accuracies"], strict=True)), ds.annotator_groups
            )
    _emit(result.to_dict(), args.json, None if args.json else format_agreement(result))
    return 0


def _cmd_review_queue(args: argparse.Namespace) -> int:
    from jobs.core.datasets import get_dataset
    from jobs.core.settings import Settings
    from jobs.hand_labels.review_queue import run_review_queue
    from jobs.spark.session import get_spark

    settings = Settings.from_env()
    ds = get_dataset(args.dataset, settings)
    mix = None
    if args.mix:
        mix = {kind: float(share) for kind, share in (part.split("=") for part in args.mix.split(","))}
    result = run_review_queue(get_spark("labellake-review-queue", settings), ds, settings, args.k, mix, args.seed)
    text = (
        f"review queue {result['queue_id']}: {result['rows']} rows {result['kinds']} from labels "
        f"v{result['labels_version']}\n  {result['csv']}\n  {result['label_studio']}"
    )
    _emit(result, args.json, None if args.json else text)
    return 0


def _cmd_end_model(args: argparse.Namespace) -> int:
    from jobs.core.datasets import get_dataset
    from jobs.core.settings import Settings
    from jobs.spark.session import get_spark
    from jobs.stages.fit.end_model import end_model_figures

    settings = Settings.from_env()
    ds = get_dataset(args.dataset, settings)
    figures = end_model_figures(get_spark("labellake-end-model", settings), settings, ds)
    text = "\n".join(f"{key:<40}{value}" for key, value in figures.items())
    _emit(figures, args.json, None if args.json else text)
    return 0


def _cmd_gold(args: argparse.Namespace) -> int:
    from pyspark.sql import functions as F

    from jobs.core.datasets import get_dataset
    from jobs.core.errors import ConfigError
    from jobs.core.settings import Settings
    from jobs.hand_labels.gold_set import refresh_gold_set
    from jobs.spark.session import get_spark

    settings = Settings.from_env()
    ds = get_dataset(args.dataset, settings)
    if ds.gold_set is None:
        raise ConfigError(
            f"dataset {ds.name!r} has no gold-set rule; add [datasets.{ds.name}.gold_set] "
            "(min_agreeing, unanimous, experts, evaluation_percent, publish) to the config"
        )
    spark = get_spark("labellake-gold", settings)
    gold = refresh_gold_set(spark, settings, ds, run_id="labellake-gold")
    if gold is None:
        _emit({"dataset": ds.name, "rows": 0}, args.json, f"{ds.name}: no gold column and no annotations yet")
        return 0
    counts = (
        spark.read.format("delta")
        .option("versionAsOf", gold.version)
        .load(str(gold.ref.path))
        .groupBy("split", F.regexp_extract("_gold_from", "^[a-z]+", 0).alias("from"))
        .count()
        .orderBy("split", "from")
        .collect()
    )
    result: dict[str, Any] = {
        "dataset": ds.name,
        "table": gold.ref.name,
        "version": gold.version,
        "evaluation_rows": gold.evaluation_rows,
        "train_rows": gold.train_rows,
        "by_split_and_origin": {f"{r['split']}/{r['from']}": int(r["count"]) for r in counts},
    }
    text = (
        f"{gold.ref.name}@v{gold.version}: {gold.evaluation_rows} evaluation rows, {gold.train_rows} train rows\n"
        + "\n".join(f"  {k:<28}{v:>8}" for k, v in result["by_split_and_origin"].items())
    )
    _emit(result, args.json, text)
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from jobs.bench.lfs_bench import format_figures, run_lfs_bench

    figures = run_lfs_bench(
        args.dataset,
        args.rows,
        skip_baseline=args.skip_baseline,
        skip_sql=args.skip_sql,
        repeat=args.repeat,
        generated_lfs=args.generated_lfs,
    )
    _emit(figures, args.json, None if args.json else format_figures(figures))
    return 0


def _cmd_bench_label_model(args: argparse.Namespace) -> int:
    from jobs.bench.label_model_bench import format_label_model_figures, run_label_model_bench

    if args.fit_on == "executors" and args.model != "dawid_skene":
        raise SystemExit("bench label-model: --fit-on executors fits dawid_skene only")
    figures = run_label_model_bench(args.rows, args.lfs, args.classes, args.model, fit_on=args.fit_on)
    _emit(figures, args.json, None if args.json else format_label_model_figures(figures))
    return 0


def _cmd_bench_incremental(args: argparse.Namespace) -> int:
    from jobs.bench.incremental_bench import format_incremental, run_incremental_bench

    figures = run_incremental_bench(args.dataset, args.rows, verify=not args.no_verify, profile=args.bench == "e2e")
    _emit(figures, args.json, None if args.json else format_incremental(figures))
    return 0


def _cmd_bench_active_learning(args: argparse.Namespace) -> int:
    from jobs.bench.active_learning_bench import format_active_learning, run_active_learning_bench

    figures = run_active_learning_bench(
        args.dataset, args.rounds, args.k, args.seed, progress=lambda line: print(line, file=sys.stderr)
    )
    _emit(figures, args.json, None if args.json else format_active_learning(figures))
    return 0


def _cmd_bench_week(args: argparse.Namespace) -> int:
    from jobs.bench.week_soak import format_week, run_week

    figures = run_week(args.dataset, args.rows, progress=lambda line: print(line, file=sys.stderr))
    _emit(figures, args.json, None if args.json else format_week(figures))
    return 0 if figures["ok"] else 1


def _cmd_label_model_eval(args: argparse.Namespace) -> int:
    from jobs.bench.label_model_eval import evaluate, format_eval
    from jobs.label_models import MODELS
    from jobs.label_models.held_out_selection import AUTO

    models = [*MODELS, AUTO] if args.model == "all" else [args.model]
    if len(args.wrench) > 1:
        from jobs.bench.label_model_comparison import compare_sets, format_comparison

        folders = [Path(f) for f in args.wrench]
        recompute = _recompute_by_set(args.recompute_votes_with or [])
        compared = compare_sets(folders, models, args.seed, args.reference_dir, recompute)
        _emit(compared, args.json, None if args.json else format_comparison(compared, models))
        return 0
    packs = args.recompute_votes_with or []
    if len(packs) > 1 or any("=" in p for p in packs):
        raise SystemExit("label-model eval: with one --wrench folder, --recompute-votes-with takes one PACK")
    result = evaluate(Path(args.wrench[0]), models, seed=args.seed, recompute_with=packs[0] if packs else None)
    for row in result["rows"]:
        row["default"] = row["model"] == AUTO
    _emit(result, args.json, None if args.json else format_eval(result))
    return 0


def _recompute_by_set(items: list[str]) -> dict[str, str]:
    """``SET=PACK`` items of ``--recompute-votes-with`` over several folders, as {set name: pack}."""
    pairs = [item.partition("=") for item in items]
    bad = [item for item, (name, eq, pack) in zip(items, pairs, strict=True) if not (eq and name and pack)]
    if bad:
        raise SystemExit(f"label-model eval: --recompute-votes-with {bad[0]}: with several folders, give SET=PACK")
    return {name: pack for name, _, pack in pairs}


def _cmd_setup(args: argparse.Namespace) -> int:
    from jobs.cli.airflow_env import airflow_env, ensure_airflow_db
    from jobs.spark.jars import resolve

    resolve()
    ensure_airflow_db(airflow_env())
    print("labellake: set-up complete (Delta jars cached, Airflow database ready)")
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


QUERY_EPILOG = """examples:
  labellake query "SELECT label_name, count(*) AS n FROM youtube_spam_labels GROUP BY 1 ORDER BY n DESC"
  labellake query "SELECT * FROM labellake.youtube_spam_labels WHERE confidence < 0.6" \\
      --as-of 3 --format csv --output low.csv
  labellake query "SELECT run_id, trigger, status FROM runs ORDER BY updated_at DESC" --format json
  labellake query "SELECT count(*) FROM youtube_spam_labels" --as-of 2026-11-28T09:00:00

tables: `labellake tables` lists them (<dataset>_<role> and runs); --as-of applies to every table the query names.
"""


def _examples(*lines: str) -> dict[str, Any]:
    """``add_parser`` keywords for an ``examples:`` epilog shown verbatim by ``--help``."""
    return {
        "epilog": "examples:\n" + "\n".join(f"  {line}" for line in lines),
        "formatter_class": argparse.RawDescriptionHelpFormatter,
    }


def build_parser() -> argparse.ArgumentParser:
    from jobs.stages import STAGES

    parser = argparse.ArgumentParser(prog="labellake", description="Programmatic data labeling at lake scale.")
    sub = parser.add_subparsers(dest="command", required=True)

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

    stage = sub.add_parser(
        "stage",
        help="run one stage (used by the DAG through spark-submit)",
        **_examples(
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

    tables = sub.add_parser(
        "tables",
        help="list every table",
        epilog="examples:\n  labellake tables\n  labellake tables --json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    tables.add_argument("--json", action="store_true")
    tables.set_defaults(func=_cmd_tables)

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

    report = sub.add_parser(
        "report",
        help="(re)write a run's HTML report: LFs, distribution, confidence, changes, expectations",
        epilog="examples:\n  labellake report --dataset youtube_spam            # the newest published run\n"
        "  labellake report --dataset youtube_spam --run manual__2026-11-28T10:00:00",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    report.add_argument("--dataset", required=True)
    report.add_argument("--run", help="run id (default: the run behind the newest labels version)")
    report.add_argument("--json", action="store_true", help="print the report's path, URI and size as JSON")
    report.set_defaults(func=_cmd_report)

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

    bench = sub.add_parser("bench", help="benchmarks")
    bench_sub = bench.add_subparsers(dest="bench", required=True)
    bench_lfs = bench_sub.add_parser(
        "lfs",
        help="apply a pack: row-at-a-time baseline vs labellake vs SQL",
        **_examples(
            "labellake bench lfs --dataset youtube_spam --rows 1000000",
            "labellake bench lfs --dataset imdb --rows 1000000 --generated-lfs 1000 --skip-baseline --skip-sql --json",
        ),
    )
    bench_lfs.add_argument("--dataset", required=True)
    bench_lfs.add_argument("--rows", type=int, default=1_000_000)
    bench_lfs.add_argument("--skip-baseline", action="store_true", help="for very large N")
    bench_lfs.add_argument(
        "--skip-sql",
        action="store_true",
        help="skip the hand-written SQL (one regex per LF: hours at 1,000 LFs x 1M rows)",
    )
    bench_lfs.add_argument(
        "--generated-lfs", type=int, default=0, help="replace the pack by N keyword LFs over the most frequent words"
    )
    bench_lfs.add_argument("--repeat", type=int, default=3, help="time each method this many times, keep the best")
    bench_lfs.add_argument("--json", action="store_true")
    bench_lfs.set_defaults(func=_cmd_bench)
    bench_lm = bench_sub.add_parser(
        "label-model",
        help="fit + predict a label model on N synthetic rows",
        **_examples(
            "labellake bench label-model --rows 10000000 --lfs 20",
            "labellake bench label-model --rows 1000000 --lfs 1000 --classes 20 --model dawid_skene --json",
        ),
    )
    bench_lm.add_argument("--rows", type=int, default=1_000_000)
    bench_lm.add_argument("--lfs", type=int, default=20)
    bench_lm.add_argument("--classes", type=int, default=2)
    bench_lm.add_argument("--model", default="dawid_skene")
    bench_lm.add_argument(
        "--fit-on",
        choices=("driver", "executors"),
        default="driver",
        help="executors: patterns stay in Spark and EM runs there (many sources)",
    )
    bench_lm.add_argument("--json", action="store_true")
    bench_lm.set_defaults(func=_cmd_bench_label_model)

    for command, help_text, example in (
        (
            "e2e",
            "a full nightly relabel, an LF-change rerun and a quiet night: per-stage seconds, rows/s, "
            "memory, and Spark's task time, shuffle and spill per stage",
            "labellake bench e2e --dataset sms_spam --rows 10000000 --no-verify --json",
        ),
        (
            "incremental",
            "full relabel vs the rerun after one LF changes (bench e2e without the Spark profile)",
            "labellake bench incremental --dataset imdb --rows 1000000 --json",
        ),
    ):
        bench_inc = bench_sub.add_parser(command, help=help_text, **_examples(example))
        bench_inc.add_argument("--dataset", required=True)
        bench_inc.add_argument("--rows", type=int, default=1_000_000)
        bench_inc.add_argument(
            "--no-verify", action="store_true", help="skip the full recompute that checks the incremental result"
        )
        bench_inc.add_argument("--json", action="store_true")
        bench_inc.set_defaults(func=_cmd_bench_incremental)

    bench_week = bench_sub.add_parser(
        "week",
        help="seven nightly relabels over a changing source, each checked against a full recompute",
        **_examples("labellake bench week --dataset youtube_spam --rows 1000000 --json"),
    )
    bench_week.add_argument("--dataset", required=True)
    bench_week.add_argument("--rows", type=int, default=1_000_000)
    bench_week.add_argument("--json", action="store_true")
    bench_week.set_defaults(func=_cmd_bench_week)

    annotations = sub.add_parser("annotations", help="hand labels: ingest annotation files")
    ann_sub = annotations.add_subparsers(dest="annotations", required=True)
    ann_ingest = ann_sub.add_parser(
        "ingest",
        help="CSV / JSON lines (id, annotator, label[, annotated_at, batch]) or a Label Studio JSON export "
        "-> the dataset's annotations table; bad ones quarantined with a reason",
        **_examples(
            "labellake annotations ingest --dataset youtube_spam --format csv labels/round1.csv",
            "labellake annotations ingest --dataset youtube_spam --format label_studio export.json "
            "--id-field comment_id --batch round2",
        ),
    )
    ann_ingest.add_argument("--dataset", required=True)
    ann_ingest.add_argument("--format", required=True, choices=("csv", "jsonl", "label_studio"))
    ann_ingest.add_argument(
        "--id-field", help="Label Studio: the task data key holding the row id (default: the dataset's id column)"
    )
    ann_ingest.add_argument("--from-name", help="Label Studio: the choices control to read, when there are several")
    ann_ingest.add_argument("--batch", help="a batch name recorded on annotations that do not carry one")
    ann_ingest.add_argument("files", nargs="+", type=Path)
    ann_ingest.add_argument("--json", action="store_true")
    ann_ingest.set_defaults(func=_cmd_annotations_ingest)

    annotators = sub.add_parser(
        "annotators",
        help="per-annotator counts, Cohen's kappa per pair, Fleiss' kappa, Krippendorff's alpha, accuracy on gold",
        **_examples("labellake annotators --dataset youtube_spam"),
    )
    annotators.add_argument("--dataset", required=True)
    annotators.add_argument("--json", action="store_true")
    annotators.set_defaults(func=_cmd_annotators)

    queue = sub.add_parser(
        "review-queue",
        help="the K rows most worth a human look (uncertain, conflicting, uncovered, end model "
        "disagrees) as a Delta table, "
        "a CSV and a Label Studio import file",
        **_examples(
            "labellake review-queue --dataset youtube_spam --k 50",
            "labellake review-queue --dataset youtube_spam --k 200 --mix uncertain=0.5,conflict=0.3,uncovered=0.2",
        ),
    )
    queue.add_argument("--dataset", required=True)
    queue.add_argument("--k", type=int, default=100)
    queue.add_argument(
        "--mix",
        help="shares of K per kind: uncertain, conflict, uncovered, disagreement "
        "(default 0.5,0.2,0.1,0.2; disagreement needs a current labellake end-model)",
    )
    queue.add_argument("--seed", type=int, default=0)
    queue.add_argument("--json", action="store_true")
    queue.set_defaults(func=_cmd_review_queue)

    bench_al = bench_sub.add_parser(
        "active-learning",
        help="hand labels from the review queue vs random rows, round by round, scored on gold",
        **_examples("labellake bench active-learning --dataset youtube_spam --rounds 6 --k 25"),
    )
    bench_al.add_argument("--dataset", required=True)
    bench_al.add_argument("--rounds", type=int, default=6)
    bench_al.add_argument("--k", type=int, default=25)
    bench_al.add_argument("--seed", type=int, default=0)
    bench_al.add_argument("--json", action="store_true")
    bench_al.set_defaults(func=_cmd_bench_active_learning)

    end_model = sub.add_parser(
        "end-model",
        help="coverage and accuracy on gold of the label model, the end model and the published "
        "labels (the end model trains in the fit stage when [datasets.NAME.end_model] is set)",
        **_examples("labellake end-model --dataset youtube_spam", "labellake end-model --dataset sms_spam --json"),
    )
    end_model.add_argument("--dataset", required=True)
    end_model.add_argument("--json", action="store_true")
    end_model.set_defaults(func=_cmd_end_model)

    gold = sub.add_parser(
        "gold",
        help="build the gold set from the gold column and adjudicated annotations "
        "([datasets.NAME.gold_set]) and show its evaluation and train rows",
        **_examples("labellake gold --dataset youtube_spam", "labellake gold --dataset youtube_spam --json"),
    )
    gold.add_argument("--dataset", required=True)
    gold.add_argument("--json", action="store_true")
    gold.set_defaults(func=_cmd_gold)

    label_model = sub.add_parser("label-model", help="label models")
    lm_sub = label_model.add_subparsers(dest="label_model", required=True)
    lm_eval = lm_sub.add_parser(
        "eval",
        help="fit every label model on a WRENCH folder's train votes, score on test",
        **_examples(
            "labellake label-model eval --wrench ../shared/datasets/wrench/youtube",
            "labellake label-model eval --wrench ../shared/datasets/wrench/trec --model dawid_skene --json",
            "labellake label-model eval --wrench ../shared/datasets/wrench/* ../shared/datasets/crowd/* "
            "--recompute-votes-with sms=sms_spam",
        ),
    )
    lm_eval.add_argument(
        "--wrench",
        required=True,
        nargs="+",
        metavar="DIR",
        help="folder(s) with train/valid/test.json and label.json; several print one table",
    )
    lm_eval.add_argument(
        "--reference-dir",
        type=Path,
        help="Snorkel 0.10 outputs NAME.json.gz (default: reference/snorkel-0.10 beside the sets' collection)",
    )
    lm_eval.add_argument(
        "--model", default="all", help="a label model name, 'auto' (chosen by held-out LF agreement), or 'all'"
    )
    lm_eval.add_argument("--seed", type=int, default=0, help="seed of the random tie-break (and the models)")
    lm_eval.add_argument(
        "--recompute-votes-with",
        metavar="[SET=]PACK",
        action="append",
        help="re-apply this LF pack to the valid/test texts first (WRENCH sms's stored ones are defective); "
        "with several folders, SET=PACK names the set, and may be repeated",
    )
    lm_eval.add_argument("--json", action="store_true")
    lm_eval.set_defaults(func=_cmd_label_model_eval)

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

    setup = sub.add_parser(
        "setup",
        help="resolve the Delta jars and create the Airflow database",
        **_examples("labellake setup      # once, while Maven Central is reachable"),
    )
    setup.set_defaults(func=_cmd_setup)

    demo = sub.add_parser(
        "demo",
        help="run the nightly_relabel DAG on a dataset and summarise",
        **_examples("labellake demo", "labellake demo --dataset sms_spam"),
    )
    demo.add_argument("--dataset", default="youtube_spam")
    demo.set_defaults(func=_cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    _configure_logging()
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["spark-sql"] and not {"-h", "--help"} & set(argv[1:2]):
        # Everything after spark-sql belongs to Spark's shell (-e, -f, --conf, ...);
        # argparse would claim the options, so they bypass it.
        argv = ["spark-sql", "--", *argv[1:]]
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except SparkDied as exc:  # not a refusal: the same run may succeed when retried
        logging.getLogger("labellake").error("%s: %s", type(exc).__name__, exc)
        return EXIT_SPARK_DIED
    except LabellakeError as exc:
        logging.getLogger("labellake").error("%s: %s", type(exc).__name__, exc)
        return 2


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


def console_main() -> NoReturn:
    """The ``labellake`` command."""
    exit_with(main())


if __name__ == "__main__":
    console_main()
