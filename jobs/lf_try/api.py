"""``labellake lf try`` and :func:`labellake.try_lf`: what an LF would do, in seconds, before any run.

The LF (given inline, or the changes of an edited pack) is evaluated on the dataset's cached
sample (:mod:`jobs.lf_try.sample`) beside the stored votes of the other LFs on the same rows;
the sample is then fitted as a run would fit it (:mod:`jobs.lf_try.figures`). Nothing is
written but the sample itself, and no Spark session starts once the sample is cached.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from jobs.core.datasets import DatasetConfig, get_dataset
from jobs.core.errors import ConfigError
from jobs.core.settings import Settings
from jobs.lf_try import figures
from jobs.lf_try.candidates import Change, InlineLF, candidate_votes, inline_change, pack_change
from jobs.lf_try.sample import DEFAULT_SAMPLE_ROWS, DEV, GOLD, PATTERN_ROWS, PUBLISHED, VOTES, Sample, load_sample
from lf_library.core import LabelingFunction

EXAMPLES = 5
NOTHING_PUBLISHED = "nothing is published yet: every label the fit gives counts as a change"


@dataclass(frozen=True)
class TryRequest:
    """What to try: an inline LF or the dataset's pack as it is now (``pack=True``)."""

    dataset: str
    lf: InlineLF | None = None
    pack: bool = False
    sample_rows: int = DEFAULT_SAMPLE_ROWS
    show_text: bool = False


def _sample_votes(sample: Sample) -> figures.SampleVotes:
    rows = sample.rows
    m = len(sample.lfs)
    flat = rows.column(VOTES).combine_chunks().flatten().to_numpy(zero_copy_only=False)
    return figures.SampleVotes(
        np.asarray(flat, dtype=np.int16).reshape(rows.num_rows, m),
        sample.lfs,
        rows.column(GOLD).to_numpy().astype(np.int64),
        rows.column(DEV).to_numpy(zero_copy_only=False).astype(bool),
        rows.column(PUBLISHED).to_numpy().astype(np.int64),
    )


def _table_rows(sample: Sample) -> np.ndarray:
    """Each sample row's count of table rows with its stored vote pattern."""
    return sample.rows.column(PATTERN_ROWS).to_numpy(zero_copy_only=False).astype(np.float64)


def _change(request: TryRequest, ds: DatasetConfig, sample: Sample | None) -> Change:
    """What the try changes in the pack: the inline LF added (or replacing the LF of its name), or
    the pack's LFs that differ from the sample's stored votes (``--pack``, which needs ``sample``)."""
    from jobs.stages.apply.votes import load_dataset_pack

    pack = load_dataset_pack(ds)
    if request.pack:
        if request.lf is not None:
            raise ConfigError("lf try: give an inline LF or --pack, not both")
        assert sample is not None, "--pack compares the pack with the sample's stored votes"
        return pack_change(pack, dict(sample.meta["lf_versions"]))
    if request.lf is None:
        raise ConfigError("lf try: give an LF (--keywords, --regex, --sql or --python) or --pack")
    return inline_change(request.lf.build(ds.classes), pack)


def _examples(mask: np.ndarray, ids: list[str], texts: list[Any] | None) -> list[dict[str, Any]]:
    picked = np.flatnonzero(mask)[:EXAMPLES]
    return [{"id": ids[i], **({"text": texts[i]} if texts is not None else {})} for i in picked]


def _lf_report(
    lf: LabelingFunction, votes: np.ndarray, fitted: figures.Fitted, after: figures.SampleVotes, show: dict
) -> dict[str, Any]:
    ids, texts = show["ids"], show["texts"]
    stats = fitted.stats[lf.name]
    column = after.L[:, after.lf_names.index(lf.name)]
    others = after.L[:, [j for j, n in enumerate(after.lf_names) if n != lf.name]]
    disagrees = (column >= 0) & ((others >= 0) & (others != column[:, None])).any(axis=1)
    wrong = (column >= 0) & (after.gold >= 0) & (column != after.gold)
    return {
        "lf": lf.name,
        "kind": lf.kind,
        "version": lf.version,
        **{k: stats[k] for k in ("labeled", "coverage", "overlaps", "conflicts", "polarity")},
        "gold": {
            "correct": stats["correct"],
            "incorrect": stats["incorrect"],
            "accuracy": stats["empirical_accuracy"],
        },
        "dev": figures.dev_accuracy(votes, after),
        "with_each_lf": figures.pairwise(column, after, lf.name),
        "examples": {
            "votes": _examples(column >= 0, ids, texts),
            "conflicts": _examples(disagrees, ids, texts),
            "wrong_on_gold": _examples(wrong, ids, texts),
        },
    }


def try_change(
    request: TryRequest, settings: Settings | None = None, spark_factory: Callable[[], Any] | None = None
) -> dict[str, Any]:
    """Every figure of a try, as a JSON-ready dict (the CLI prints it, ``--json`` dumps it)."""
    started = time.monotonic()
    settings = settings or Settings.from_env()
    ds = get_dataset(request.dataset, settings)
    if request.sample_rows < 1:
        raise ConfigError(f"lf try: --sample-rows must be at least 1, got {request.sample_rows}")
    # An inline LF is built (and a bad one refused) before the sample is drawn: no Spark for a typo.
    inline = _change(request, ds, None) if request.lf is not None and not request.pack else None
    sample, drawn = load_sample(settings, ds, request.sample_rows, spark_factory or _default_spark(settings))
    change = inline if inline is not None else _change(request, ds, sample)
    before = _sample_votes(sample)
    votes = candidate_votes(change.lfs, ds.classes, sample.rows) if change.lfs else {}
    after = before.with_change(votes, change.removed)
    ids = sample.rows.column("id").to_pylist()
    n, population = len(ids), sample.population
    sample_is_table = n == population
    weights = None if sample_is_table else figures.table_weights(before, len(ds.classes), _table_rows(sample))
    fitted = figures.fit_sample(ds, after, weights)
    show = {"ids": ids, "texts": sample.rows.column("text").to_pylist() if request.show_text else None}
    end_model = ds.end_model.publish if ds.end_model is not None else None
    row_weights = np.ones(n) if weights is None else weights
    changes = figures.label_changes(before.published, fitted.row_labels, end_model, ds.classes, row_weights)
    changed = changes.pop("changed_mask")
    if not sample_is_table:  # the sample's own fit differs a little from the table's: say how much
        unchanged = figures.fit_sample(ds, before, weights).row_labels
        noise = figures.label_changes(before.published, unchanged, end_model, ds.classes, row_weights)
        changes["without_the_change"] = noise["rows"]
    return {
        "dataset": ds.name,
        "sample": {
            "rows": n,
            "population": population,
            "whole_table": sample_is_table,
            "drawn_now": drawn,
            "source_version": sample.meta["key"]["source_version"],
            "votes_version": sample.meta["key"]["votes_version"],
            "labels_version": sample.meta["key"]["labels_version"],
            "gold_rows": int((before.gold >= 0).sum()),
            "dev_rows": int(before.dev.sum()),
        },
        "lfs": [_lf_report(lf, votes[lf.name], fitted, after, show) for lf in change.lfs],
        "removed": change.removed,
        "label_model": fitted.model,
        "notes": _notes(ds) + ([] if sample.meta["key"]["labels_version"] is not None else [NOTHING_PUBLISHED]),
        "label_changes": {
            **changes,
            "end_model_publishes": end_model,
            "examples": _examples(changed, ids, show["texts"]),
        },
        "seconds": round(time.monotonic() - started, 3),
    }


def _notes(ds: DatasetConfig) -> list[str]:
    """What the try leaves out that a run of this dataset would include."""
    notes = []
    if ds.annotator_sources:
        notes.append("annotators vote as sources in a run, not in the try's fit: its labels may differ more")
    if ds.end_model is not None:
        notes.append(f"the end model publishes ({ds.end_model.publish}): rows it labels count as unchanged")
    return notes


def _default_spark(settings: Settings) -> Callable[[], Any]:
    def start() -> Any:
        from jobs.spark.session import get_spark

        return get_spark("labellake-lf-try", settings)

    return start


def try_lf(
    dataset: str,
    *,
    label: str | None = None,
    name: str = "candidate",
    keywords: str | list[str] | tuple[str, ...] = (),
    regex: str | None = None,
    sql: str | None = None,
    python: Any = None,
    match: str = "substring",
    ignore_case: bool = False,
    pack: bool = False,
    sample_rows: int = DEFAULT_SAMPLE_ROWS,
    show_text: bool = False,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """What an LF would do on ``dataset``, from a notebook: the figures ``labellake lf try --json``
    prints. ``python`` takes an LF object, a function or ``"module:function"``."""
    inline = None
    if not pack:
        words = (keywords,) if isinstance(keywords, str) else tuple(keywords)  # "free" is one keyword
        inline = InlineLF(label, name, words, regex, sql, python, match, ignore_case)
    return try_change(TryRequest(dataset, inline, pack, sample_rows, show_text), settings)
