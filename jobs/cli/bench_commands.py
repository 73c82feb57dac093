"""``labellake bench ...`` and ``labellake label-model eval``: the benchmarks and the WRENCH evaluation."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from jobs.cli.common import Subparsers, emit, examples


def register(sub: Subparsers) -> None:
    """``bench`` with its sub-commands, and ``label-model eval``."""
    bench = sub.add_parser("bench", help="benchmarks")
    bench_sub = bench.add_subparsers(dest="bench", required=True)
    for add in (_add_bench_lfs, _add_bench_lm, _add_bench_inc, _add_bench_week, _add_bench_al):
        add(bench_sub)
    _add_lm(sub)


def _add_bench_lfs(bench_sub: Subparsers) -> None:
    bench_lfs = bench_sub.add_parser(
        "lfs",
        help="apply a pack: row-at-a-time baseline vs labellake vs SQL",
        **examples(
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


def _add_bench_lm(bench_sub: Subparsers) -> None:
    bench_lm = bench_sub.add_parser(
        "label-model",
        help="fit + predict a label model on N synthetic rows",
        **examples(
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


def _add_bench_inc(bench_sub: Subparsers) -> None:
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
        bench_inc = bench_sub.add_parser(command, help=help_text, **examples(example))
        bench_inc.add_argument("--dataset", required=True)
        bench_inc.add_argument("--rows", type=int, default=1_000_000)
        bench_inc.add_argument(
            "--no-verify", action="store_true", help="skip the full recompute that checks the incremental result"
        )
        bench_inc.add_argument("--json", action="store_true")
        bench_inc.set_defaults(func=_cmd_bench_incremental)


def _add_bench_week(bench_sub: Subparsers) -> None:
    bench_week = bench_sub.add_parser(
        "week",
        help="seven nightly relabels over a changing source, each checked against a full recompute",
        **examples("labellake bench week --dataset youtube_spam --rows 1000000 --json"),
    )
    bench_week.add_argument("--dataset", required=True)
    bench_week.add_argument("--rows", type=int, default=1_000_000)
    bench_week.add_argument("--json", action="store_true")
    bench_week.set_defaults(func=_cmd_bench_week)


def _add_bench_al(bench_sub: Subparsers) -> None:
    bench_al = bench_sub.add_parser(
        "active-learning",
        help="hand labels from the review queue vs random rows, round by round, scored on gold",
        **examples("labellake bench active-learning --dataset youtube_spam --rounds 6 --k 25"),
    )
    bench_al.add_argument("--dataset", required=True)
    bench_al.add_argument("--rounds", type=int, default=6)
    bench_al.add_argument("--k", type=int, default=25)
    bench_al.add_argument("--seed", type=int, default=0)
    bench_al.add_argument("--json", action="store_true")
    bench_al.set_defaults(func=_cmd_bench_active_learning)


def _add_lm(sub: Subparsers) -> None:
    label_model = sub.add_parser("label-model", help="label models")
    lm_sub = label_model.add_subparsers(dest="label_model", required=True)
    lm_eval = lm_sub.add_parser(
        "eval",
        help="fit every label model on a WRENCH folder's train votes, score on test",
        **examples(
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
    emit(figures, args.json, None if args.json else format_figures(figures))
    return 0


def _cmd_bench_label_model(args: argparse.Namespace) -> int:
    from jobs.bench.label_model_bench import format_label_model_figures, run_label_model_bench

    if args.fit_on == "executors" and args.model != "dawid_skene":
        raise SystemExit("bench label-model: --fit-on executors fits dawid_skene only")
    figures = run_label_model_bench(args.rows, args.lfs, args.classes, args.model, fit_on=args.fit_on)
    emit(figures, args.json, None if args.json else format_label_model_figures(figures))
    return 0


def _cmd_bench_incremental(args: argparse.Namespace) -> int:
    from jobs.bench.incremental_bench import format_incremental, run_incremental_bench

    figures = run_incremental_bench(args.dataset, args.rows, verify=not args.no_verify, profile=args.bench == "e2e")
    emit(figures, args.json, None if args.json else format_incremental(figures))
    return 0


def _cmd_bench_active_learning(args: argparse.Namespace) -> int:
    from jobs.bench.active_learning_bench import format_active_learning, run_active_learning_bench

    figures = run_active_learning_bench(
        args.dataset, args.rounds, args.k, args.seed, progress=lambda line: print(line, file=sys.stderr)
    )
    emit(figures, args.json, None if args.json else format_active_learning(figures))
    return 0


def _cmd_bench_week(args: argparse.Namespace) -> int:
    from jobs.bench.week_soak import format_week, run_week

    figures = run_week(args.dataset, args.rows, progress=lambda line: print(line, file=sys.stderr))
    emit(figures, args.json, None if args.json else format_week(figures))
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
        emit(compared, args.json, None if args.json else format_comparison(compared, models))
        return 0
    packs = args.recompute_votes_with or []
    if len(packs) > 1 or any("=" in p for p in packs):
        raise SystemExit("label-model eval: with one --wrench folder, --recompute-votes-with takes one PACK")
    result = evaluate(Path(args.wrench[0]), models, seed=args.seed, recompute_with=packs[0] if packs else None)
    for row in result["rows"]:
        row["default"] = row["model"] == AUTO
    emit(result, args.json, None if args.json else format_eval(result))
    return 0


def _recompute_by_set(items: list[str]) -> dict[str, str]:
    """``SET=PACK`` items of ``--recompute-votes-with`` over several folders, as {set name: pack}."""
    pairs = [item.partition("=") for item in items]
    bad = [item for item, (name, eq, pack) in zip(items, pairs, strict=True) if not (eq and name and pack)]
    if bad:
        raise SystemExit(f"label-model eval: --recompute-votes-with {bad[0]}: with several folders, give SET=PACK")
    return {name: pack for name, _, pack in pairs}
