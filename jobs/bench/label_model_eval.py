"""``labellake label-model eval``: every label model on a WRENCH-format folder.

The protocol is WRENCH's: fit on the train split's weak labels only (no gold;
``valid.json`` when there is no ``train.json``), predict the test split, break
ties and uncovered rows at random (seeded), and score accuracy and F1 (binary
F1 of class 1 for two classes, macro-F1 otherwise). Pure numpy on the driver:
WRENCH datasets are small, and the models are the ones the pipeline fits on
pattern counts (the split's rows are collapsed to distinct patterns first, as
in a run).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from jobs.core.errors import ConfigError
from jobs.label_models import MODELS, LabelModel, make_label_model
from jobs.label_models.held_out_selection import AUTO, choose_by_held_out_lfs
from jobs.stages.fit.choose_model import DEV_PRIOR, select_on_dev


@dataclass(frozen=True)
class WrenchSplit:
    L: np.ndarray  # (n, m) weak labels, -1 = abstain
    y: np.ndarray  # (n,) gold
    texts: list[str]


def read_split(folder: Path, split: str) -> WrenchSplit | None:
    path = folder / f"{split}.json"
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    rows = list(data.values())
    if not rows:
        raise ConfigError(f"{path}: no rows")
    widths = {len(r["weak_labels"]) for r in rows}
    if len(widths) != 1:
        raise ConfigError(f"{path}: rows have different numbers of weak labels: {sorted(widths)}")
    return WrenchSplit(
        np.array([r["weak_labels"] for r in rows], dtype=np.int64),
        np.array([r["label"] for r in rows], dtype=np.int64),
        [r["data"].get("text", "") for r in rows],
    )


def class_names(folder: Path) -> list[str]:
    labels = json.loads((folder / "label.json").read_text())
    return [labels[str(i)] for i in range(len(labels))]


def recompute_votes(split: WrenchSplit, pack_name: str) -> WrenchSplit:
    """Re-apply a declarative pack's rules to the split's texts (plain-Python semantics,
    which the pack's golden tests prove equal to its Spark expressions)."""
    from lf_library.packs import load_pack
    from lf_library.reference import python_lf

    pack = load_pack(pack_name)
    if len(pack.declarative) != split.L.shape[1]:
        raise ConfigError(
            f"pack {pack_name!r} has {len(pack.declarative)} declarative LFs, "
            f"the split has {split.L.shape[1]} weak labels per row"
        )
    rules = [python_lf(lf, pack) for lf in pack.declarative]
    L = np.array([[rule(text) for rule in rules] for text in split.texts], dtype=np.int64)
    return WrenchSplit(L, split.y, split.texts)


def patterns_and_counts(L: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct rows of ``L``, their counts, and each row's pattern index."""
    patterns, inverse, counts = np.unique(L, axis=0, return_inverse=True, return_counts=True)
    return patterns, counts, inverse.ravel()


def predict_random_ties(model: LabelModel, L: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """WRENCH's ``probs_to_preds``: argmax, ties (and uncovered rows) broken uniformly at random."""
    patterns, _, inverse = patterns_and_counts(L)
    probs = model.predict_proba(patterns)[inverse]
    best = probs.max(axis=1, keepdims=True)
    tied = np.isclose(probs, best)
    choice = rng.random(probs.shape) * tied
    return choice.argmax(axis=1)


def f1_score(y: np.ndarray, pred: np.ndarray, cardinality: int) -> float:
    def f1_of(c: int) -> float:
        tp = float(((pred == c) & (y == c)).sum())
        fp = float(((pred == c) & (y != c)).sum())
        fn = float(((pred != c) & (y == c)).sum())
        return 0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn)

    if cardinality == 2:
        return f1_of(1)
    return float(np.mean([f1_of(c) for c in range(cardinality)]))


@dataclass(frozen=True)
class EvalRow:
    model: str
    accuracy: float
    f1: float
    fit_seconds: float
    train_rows: int
    train_patterns: int
    test_rows: int


def evaluate(
    folder: Path,
    models: list[str],
    seed: int = 0,
    recompute_with: str | None = None,
    options: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    folder = Path(folder)
    if not (folder / "label.json").exists():
        raise ConfigError(f"{folder}: not a WRENCH folder (no label.json)")
    names = class_names(folder)
    k = len(names)
    train = read_split(folder, "train") or read_split(folder, "valid")
    test = read_split(folder, "test")
    if train is None or test is None:
        raise ConfigError(f"{folder}: needs test.json and train.json (or valid.json)")
    dev = read_split(folder, "valid") if (folder / "train.json").exists() else None
    if recompute_with:
        test = recompute_votes(test, recompute_with)
        dev = recompute_votes(dev, recompute_with) if dev is not None else None
    unknown = [m for m in models if m not in MODELS and m != AUTO]
    if unknown:
        raise ConfigError(f"unknown label model(s) {unknown}; known: {sorted(MODELS)}")
    patterns, counts, _ = patterns_and_counts(train.L)

    def fit(name: str, balance: np.ndarray | None = None) -> LabelModel:
        extra = {} if balance is None else {"class_balance": [float(x) for x in balance]}
        return make_label_model(name, k, seed=seed, **{**(options or {}).get(name, {}), **extra}).fit(patterns, counts)

    def score(model: LabelModel) -> tuple[float, float]:
        pred = predict_random_ties(model, test.L, np.random.default_rng(seed))
        return round(float((pred == test.y).mean()), 4), round(f1_score(test.y, pred, k), 4)

    rows, auto_choice = [], None
    for name in models:
        started = time.perf_counter()
        if name == AUTO:
            # The default without gold: the family that best predicts each LF it was fitted without.
            auto_choice = choose_by_held_out_lfs(
                lambda family: make_label_model(family, k, seed=seed), patterns, counts, seed=seed
            )
            model = fit(auto_choice.best)
        else:
            model = fit(name)
        seconds = time.perf_counter() - started
        rows.append(EvalRow(name, *score(model), round(seconds, 3), len(train.L), len(patterns), len(test.L)))
    result = {
        "folder": str(folder),
        "classes": names,
        "lfs": int(train.L.shape[1]),
        "seed": seed,
        "metric_f1": "binary F1 (class 1)" if k == 2 else "macro F1",
        "test_class_shares": np.round(np.bincount(test.y, minlength=k) / len(test.y), 4).tolist(),
        "recomputed_test_votes_with": recompute_with,
        "rows": [asdict(r) for r in rows],
    }
    if auto_choice is not None:
        result["auto"] = {"model": auto_choice.best, **auto_choice.record()}
    single = [m for m in models if m != AUTO]
    if dev is not None and single:
        result["selected_by_dev"] = _selected_by_dev(single, fit, score, dev, k)
    return result


def _selected_by_dev(
    models: list[str],
    fit: Callable[..., LabelModel],
    score: Callable[[LabelModel], tuple[float, float]],
    dev: WrenchSplit,
    k: int,
) -> dict[str, Any]:
    """Model selection as the pipeline does it when a dev split has gold (jobs/stages/fit/choose_model.py):
    every model with its own prior and with the dev class balance, best dev accuracy wins."""
    chosen = select_on_dev(models, fit, (dev.L, dev.y, np.ones(len(dev.y))), k)
    candidates = {}
    for key, model in chosen.fitted.items():
        accuracy, f1 = score(model)
        candidates[key] = {"dev_accuracy": round(chosen.scores[key], 4), "accuracy": accuracy, "f1": f1}
    return {
        "model": chosen.best,
        **candidates[chosen.best],
        "dev_class_balance": np.round(chosen.balance, 4).tolist(),
        "candidates": candidates,
    }


def format_eval(result: dict[str, Any]) -> str:
    lines = [
        f"{result['folder']}: {len(result['classes'])} classes, {result['lfs']} LFs, "
        f"f1 = {result['metric_f1']}, seed {result['seed']}",
        f"{'model':<34}{'accuracy':>10}{'f1':>10}{'fit s':>10}",
    ]
    for r in result["rows"]:
        label = f"auto ({result['auto']['model']})" if r["model"] == AUTO else r["model"]
        lines.append(f"{label:<34}{r['accuracy']:>10.4f}{r['f1']:>10.4f}{r['fit_seconds']:>10.3f}")
    if "auto" in result:
        lines.append(f"auto: {result['auto']['auto_reason']}")
    if "selected_by_dev" in result:
        chosen = result["selected_by_dev"]
        lines.append(f"with a dev class balance ({chosen['dev_class_balance']}):")
        for key, c in chosen["candidates"].items():
            if key.endswith(DEV_PRIOR):
                lines.append(f"{key:<34}{c['accuracy']:>10.4f}{c['f1']:>10.4f}   dev {c['dev_accuracy']:.4f}")
        lines.append(
            f"selected by dev accuracy ({chosen['dev_accuracy']:.4f}): {chosen['model']} "
            f"-> test accuracy {chosen['accuracy']:.4f}, f1 {chosen['f1']:.4f}"
        )
    return "\n".join(lines)
