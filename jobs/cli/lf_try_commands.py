"""``labellake lf try``: an LF's coverage, overlaps, conflicts, accuracy and label changes in seconds."""

from __future__ import annotations

import argparse
import json
from typing import Any

from jobs.cli.common import Subparsers

EPILOG = """examples:
  labellake lf try --dataset youtube_spam --keywords "subscribe,my channel" --label SPAM
  labellake lf try --dataset youtube_spam --regex "check (it|this) out" --label SPAM --show-text
  labellake lf try --dataset sms_spam --sql "length(text) > 200" --label SPAM --json
  labellake lf try --dataset youtube_spam --python my_lfs:short_comment --label HAM
  labellake lf try --dataset youtube_spam --pack          # the pack's LFs that differ from the stored votes

The first try of a dataset (or after its source or votes changed) draws the sample with Spark;
later ones read it and answer without Spark."""


def register(sub: Subparsers) -> None:
    lf = sub.add_parser("lf", help="LF authoring: try an LF on a sample before a run (lf try)")
    lf_sub = lf.add_subparsers(dest="lf_command", required=True)
    parser = lf_sub.add_parser(
        "try",
        help="what an LF would do: coverage, overlaps, conflicts, accuracy on gold and dev, label changes",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--dataset", required=True)
    rule = parser.add_argument_group("the LF (exactly one, or --pack)")
    rule.add_argument("--keywords", help="comma-separated keywords (substring match, case-insensitive)")
    rule.add_argument("--regex", help="a Python regex searched in the text")
    rule.add_argument("--sql", help="a boolean SQL condition over the source columns")
    rule.add_argument("--python", metavar="MODULE:FUNCTION", help="an LF object or a row function f(x) -> vote")
    rule.add_argument("--pack", action="store_true", help="the dataset's pack as it is now, against the stored votes")
    parser.add_argument("--label", help="the class the LF votes (required for keywords, regex, sql)")
    parser.add_argument("--name", default="candidate", help="the LF's name; an existing LF's name tries an edit of it")
    parser.add_argument("--match", choices=("substring", "word"), default="substring", help="for --keywords")
    parser.add_argument("--ignore-case", action="store_true", help="for --regex")
    parser.add_argument("--sample-rows", type=int, default=100_000, help="rows in the cached sample (default 100000)")
    parser.add_argument("--show-text", action="store_true", help="print the example rows' text, not only their ids")
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(func=_cmd_try)


def _cmd_try(args: argparse.Namespace) -> int:
    from jobs.lf_try.api import TryRequest, try_change
    from jobs.lf_try.candidates import InlineLF

    keywords = tuple(k.strip() for k in (args.keywords or "").split(",") if k.strip())
    inline = None
    if not args.pack or any((keywords, args.regex, args.sql, args.python)):
        inline = InlineLF(
            args.label, args.name, keywords, args.regex, args.sql, args.python, args.match, args.ignore_case
        )
    result = try_change(TryRequest(args.dataset, inline, args.pack, args.sample_rows, args.show_text))
    print(json.dumps(result, indent=2, default=str) if args.json else render(result))
    return 0


def _share(x: float | None) -> str:
    return "-" if x is None else f"{x:.1%}"


def _judged(figures: dict[str, Any]) -> str:
    return f"{_share(figures['accuracy'])} ({figures['correct']}/{figures['correct'] + figures['incorrect']})"


def _examples(items: list[dict[str, Any]]) -> list[str]:
    return [f"      {e['id']}" + (f"  {' '.join(str(e['text']).split())[:100]}" if "text" in e else "") for e in items]


def render(result: dict[str, Any]) -> str:
    """The try as a person reads it in a terminal."""
    sample = result["sample"]
    scope = "the whole table" if sample["whole_table"] else f"a stratified sample of {sample['population']:,} rows"
    lines = [
        f"lf try {result['dataset']}: {sample['rows']:,} rows ({scope}), {sample['gold_rows']:,} with gold "
        f"({sample['dev_rows']:,} dev); source v{sample['source_version']}, votes v{sample['votes_version']}"
        + (" (sample drawn now)" if sample["drawn_now"] else ""),
    ]
    if not result["lfs"] and not result["removed"]:
        lines.append("  no LF differs from the stored votes")
    for lf in result["lfs"]:
        lines += [
            f"  {lf['lf']} ({lf['kind']}, version {lf['version']}): votes {lf['labeled']:,} rows, coverage "
            f"{_share(lf['coverage'])}, overlaps {_share(lf['overlaps'])}, conflicts {_share(lf['conflicts'])}",
            f"    accuracy on gold {_judged(lf['gold'])}, on dev {_judged(lf['dev'])}",
        ]
        for other in lf["with_each_lf"][:5]:
            lines.append(f"    with {other['lf']}: {other['overlaps']:,} rows both, {other['conflicts']:,} disagree")
        for kind, items in lf["examples"].items():
            if items:
                lines += [f"    e.g. {kind.replace('_', ' ')}:", *_examples(items)]
    if result["removed"]:
        lines.append(f"  removed: {', '.join(result['removed'])}")
    changes = result["label_changes"]
    moves = ", ".join(f"{k} {v:,}" for k, v in changes["transitions"].items())
    lines.append(
        f"  labels ({result['label_model']}): {changes['rows']:,} sample rows would change "
        f"({_share(changes['share'])}), about {changes['estimated_rows_in_table']:,} in the table"
        + (f": {moves}" if moves else "")
    )
    if "without_the_change" in changes:
        lines.append(
            f"    (the sample's own fit, without the change, differs from the published labels on "
            f"{changes['without_the_change']:,} rows: read smaller differences as noise)"
        )
    if changes["examples"]:
        lines += ["    e.g.:", *_examples(changes["examples"])]
    lines += [f"  note: {note}" for note in result["notes"]]
    lines.append(f"  ({result['seconds']:.2f} s)")
    return "\n".join(lines)
