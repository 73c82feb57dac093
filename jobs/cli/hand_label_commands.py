"""Hand labels: ``annotations ingest``, ``annotators``, ``review-queue``, ``gold`` and ``end-model``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from jobs.cli.common import Subparsers, emit, examples


def register(sub: Subparsers) -> None:
    """Add this group's commands to ``labellake``'s sub-commands."""
    for add in (
        _add_annotations,
        _add_annotators,
        _add_queue,
        _add_end_model,
        _add_gold,
    ):
        add(sub)


def _add_annotations(sub: Subparsers) -> None:
    annotations = sub.add_parser("annotations", help="hand labels: ingest annotation files")
    ann_sub = annotations.add_subparsers(dest="annotations", required=True)
    ann_ingest = ann_sub.add_parser(
        "ingest",
        help="CSV / JSON lines (id, annotator, label[, annotated_at, batch]) or a Label Studio JSON export "
        "-> the dataset's annotations table; bad ones quarantined with a reason",
        **examples(
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


def _add_annotators(sub: Subparsers) -> None:
    annotators = sub.add_parser(
        "annotators",
        help="per-annotator counts, Cohen's kappa per pair, Fleiss' kappa, Krippendorff's alpha, accuracy on gold",
        **examples("labellake annotators --dataset youtube_spam"),
    )
    annotators.add_argument("--dataset", required=True)
    annotators.add_argument("--json", action="store_true")
    annotators.set_defaults(func=_cmd_annotators)


def _add_queue(sub: Subparsers) -> None:
    queue = sub.add_parser(
        "review-queue",
        help="the K rows most worth a human look (uncertain, conflicting, uncovered, end model "
        "disagrees) as a Delta table, "
        "a CSV and a Label Studio import file",
        **examples(
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


def _add_end_model(sub: Subparsers) -> None:
    end_model = sub.add_parser(
        "end-model",
        help="coverage and accuracy on gold of the label model, the end model and the published "
        "labels (the end model trains in the fit stage when [datasets.NAME.end_model] is set)",
        **examples("labellake end-model --dataset youtube_spam", "labellake end-model --dataset sms_spam --json"),
    )
    end_model.add_argument("--dataset", required=True)
    end_model.add_argument("--json", action="store_true")
    end_model.set_defaults(func=_cmd_end_model)


def _add_gold(sub: Subparsers) -> None:
    gold = sub.add_parser(
        "gold",
        help="build the gold set from the gold column and adjudicated annotations "
        "([datasets.NAME.gold_set]) and show its evaluation and train rows",
        **examples("labellake gold --dataset youtube_spam", "labellake gold --dataset youtube_spam --json"),
    )
    gold.add_argument("--dataset", required=True)
    gold.add_argument("--json", action="store_true")
    gold.set_defaults(func=_cmd_gold)


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
    emit(asdict(result), args.json, None if args.json else text)
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
            models_ref.read(spark)
            .where(F.col("model_id") == F.lit(model_id))
            .select("lf_names", "lf_accuracies")
            .limit(1)
            .collect()
        )
        if rows and rows[0]["lf_accuracies"] is not None:
            result = with_learned_accuracies(
                result, dict(zip(rows[0]["lf_names"], rows[0]["lf_accuracies"], strict=True)), ds.annotator_groups
            )
    emit(result.to_dict(), args.json, None if args.json else format_agreement(result))
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
    emit(result, args.json, None if args.json else text)
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
    emit(figures, args.json, None if args.json else text)
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
        emit({"dataset": ds.name, "rows": 0}, args.json, f"{ds.name}: no gold column and no annotations yet")
        return 0
    counts = (
        gold.ref.read(spark, gold.version)
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
    emit(result, args.json, text)
    return 0
