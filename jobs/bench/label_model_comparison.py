"""``labellake label-model eval`` over several WRENCH folders: one table, the default against the bar.

Issue 30's bar for the default label model on a set is max(majority vote,
Snorkel's LabelModel): by accuracy, or by the minority class's F1 where the
positive class is under 20% of the test rows. Snorkel's figures come from the
reference file of a set where one exists (``reference/snorkel-0.10/NAME.json.gz``
beside the set's collection, or ``--reference-dir``).
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

from jobs.bench.label_model_eval import evaluate
from jobs.core.errors import ConfigError
from jobs.label_models.held_out_selection import AUTO

REFERENCE = Path("reference") / "snorkel-0.10"
MINORITY_SHARE = 0.2
"""Below this share of positive test rows a binary set is scored by F1, not accuracy."""


def reference_file(folder: Path, reference_dir: Path | None) -> Path | None:
    """Snorkel 0.10's outputs for the set in ``folder`` (``.../wrench/youtube`` -> ``.../reference/...``);
    a ``reference_dir`` given by the user must exist."""
    if reference_dir is not None and not reference_dir.is_dir():
        raise ConfigError(f"--reference-dir {reference_dir}: no such folder")
    base = reference_dir or folder.resolve().parent.parent / REFERENCE
    path = base / f"{folder.resolve().name}.json.gz"
    return path if path.is_file() else None


def snorkel_accuracy(path: Path) -> float:
    """The reference file's LabelModel accuracy (ties broken at random); a file that is not one is a
    ConfigError naming it."""
    try:
        return float(json.loads(gzip.decompress(path.read_bytes()))["label_model"]["acc_random_tie_break"])
    except (OSError, EOFError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path}: not a Snorkel reference file ({type(exc).__name__}: {exc})") from exc


def set_metric(result: dict[str, Any]) -> str:
    """Accuracy, or the positive class's F1 on a binary set whose test rows are under 20% positive."""
    shares = result["test_class_shares"]
    return "f1" if len(shares) == 2 and shares[1] < MINORITY_SHARE else "accuracy"


def check_recompute(folders: list[Path], recompute: dict[str, str]) -> None:
    """Each set named for recomputed votes is one of ``folders`` and each pack exists (before any fit)."""
    from lf_library.packs import load_pack

    names = {folder.resolve().name for folder in folders}
    for name, pack in recompute.items():
        if name not in names:
            raise ConfigError(f"--recompute-votes-with {name}={pack}: no set {name!r} among {sorted(names)}")
        load_pack(pack)


def compare_sets(
    folders: list[Path],
    models: list[str],
    seed: int = 0,
    reference_dir: Path | None = None,
    recompute: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Every model on every folder, Snorkel's reference where there is one, and the default's margin.

    ``recompute`` maps a set's name to the LF pack that re-applies its valid/test votes; Snorkel's
    reference file was made on the stored votes, so there the port (``metal``) stands in for it."""
    recompute = recompute or {}
    # Every folder, pack and reference file is checked before the first fit: a typo fails in a second.
    for folder in folders:
        if not (folder / "label.json").is_file():
            raise ConfigError(f"{folder}: not a WRENCH folder (no label.json)")
    check_recompute(folders, recompute)
    references = {
        folder: None if folder.resolve().name in recompute else reference_file(folder, reference_dir)
        for folder in folders
    }
    snorkel_figures = {f: None if r is None else snorkel_accuracy(r) for f, r in references.items()}
    sets = []
    for folder in folders:
        result = evaluate(folder, models, seed=seed, recompute_with=recompute.get(folder.resolve().name))
        for row in result["rows"]:
            row["default"] = row["model"] == AUTO
        metric = set_metric(result)
        by_model = {r["model"]: r for r in result["rows"]}
        reference, accuracy = references[folder], snorkel_figures[folder]
        snorkel = None if reference is None or accuracy is None else {"accuracy": accuracy, "file": str(reference)}
        bar = [by_model[m][metric] for m in ("majority_vote",) if m in by_model]
        if snorkel is not None and metric == "accuracy":
            bar.append(snorkel["accuracy"])
        elif "metal" in by_model:  # metal is Snorkel's LabelModel (tests/label_models/test_snorkel_reference.py)
            bar.append(by_model["metal"][metric])
        default = by_model.get(AUTO)
        sets.append(
            {
                **result,
                "name": folder.resolve().name,
                "metric": metric,
                "snorkel_reference": snorkel,
                "bar": max(bar) if bar else None,
                "default_margin": None if default is None or not bar else round(default[metric] - max(bar), 4),
            }
        )
    return {"sets": sets, "mean": _means(sets, models)}


def _means(sets: list[dict[str, Any]], models: list[str]) -> dict[str, float]:
    """Each model's mean over the sets, on each set's own metric."""
    means = {}
    for model in models:
        values = [next(r[s["metric"]] for r in s["rows"] if r["model"] == model) for s in sets]
        means[model] = round(sum(values) / len(values), 4)
    bars = [s["bar"] for s in sets if s["bar"] is not None]
    if bars:
        means["bar"] = round(sum(bars) / len(bars), 4)
    return means


def format_comparison(result: dict[str, Any], models: list[str]) -> str:
    """One line per set: its metric, MV, Snorkel's reference, every model, the default's pick and margin."""
    shown = [m for m in models if m != AUTO]
    head = f"{'set':<12}{'metric':>9}{'snorkel':>9}" + "".join(f"{m[:10]:>11}" for m in shown)
    head += f"{'default':>9}  {'picked':<16}{'margin':>8}{'select s':>10}"
    lines = [head]
    for s in result["sets"]:
        rows = {r["model"]: r for r in s["rows"]}
        metric = s["metric"]
        snorkel = s["snorkel_reference"]["accuracy"] if s["snorkel_reference"] and metric == "accuracy" else None
        line = f"{s['name'][:12]:<12}{metric:>9}" + (f"{snorkel:>9.4f}" if snorkel is not None else f"{'-':>9}")
        line += "".join(f"{rows[m][metric]:>11.4f}" for m in shown)
        if AUTO in rows:
            picked = s.get("auto", {}).get("model", "?")
            margin = s["default_margin"]
            shown_margin = f"{margin:>+8.4f}" if margin is not None else " " * 8
            line += f"{rows[AUTO][metric]:>9.4f}  {picked:<16}{shown_margin}"
            line += f"{rows[AUTO]['fit_seconds']:>10.2f}"
        lines.append(line)
    mean = result["mean"]
    line = f"{'mean':<12}{'':>9}{'':>9}" + "".join(f"{mean[m]:>11.4f}" for m in shown)
    if AUTO in mean:
        line += f"{mean[AUTO]:>9.4f}  {'(bar ' + format(mean.get('bar', float('nan')), '.4f') + ')':<16}"
    lines.append(line)
    reasons = [f"  {s['name'][:12]:<12}{s['auto'].get('auto_reason', '')}" for s in result["sets"] if "auto" in s]
    recomputed = [
        f"  {s['name'][:12]:<12}with LF pack {s['recomputed_test_votes_with']} (Snorkel's model: the port, metal)"
        for s in result["sets"]
        if s.get("recomputed_test_votes_with")
    ]
    return "\n".join(
        lines
        + (["default's choice:", *reasons] if reasons else [])
        + (["test votes recomputed:", *recomputed] if recomputed else [])
    )
