"""Computing votes: an LF pack over source rows, as long sparse ``(id, lf, vote, lf_version)`` rows.

Votes are stored long and sparse: one row ``(id, lf, vote, lf_version)`` per
non-abstain vote. Why this layout:

- replacing one LF's votes is a ``replaceWhere lf = ...`` that leaves every
  other LF's files alone (incremental reruns when one LF changes);
- abstains, usually most of the matrix, cost nothing;
- vote patterns for the label model are one ``groupBy(id)`` away;
- adding or removing an LF never changes the schema.

The votes are computed in one projection: the text LFs through the JVM text
kernel (:mod:`lf_library.text_kernel`), the rest as compiled Spark
expressions (:mod:`lf_library.compile`); no Python runs per row.
"""

from __future__ import annotations

import logging
from typing import cast

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from jobs.core.datasets import DatasetConfig
from jobs.core.errors import ConfigError, LFExecutionError
from lf_library.apply_python import error_column, with_python_votes
from lf_library.compile import lf_condition
from lf_library.core import LabelingFunction, LFPack
from lf_library.keyword_index import split_for_index, token_votes
from lf_library.packs import load_pack
from lf_library.python_lf import PythonLF
from lf_library.text_kernel import in_kernel, kernel_codes, kernel_enabled

log = logging.getLogger(__name__)

VOTES_SCHEMA = "id string, lf string, vote int, lf_version string"


def load_dataset_pack(ds: DatasetConfig) -> LFPack:
    """The dataset's LF pack, checked to use the dataset's classes in order."""
    pack = load_pack(ds.lf_pack)
    if pack.classes != ds.classes:
        raise ConfigError(
            f"dataset {ds.name!r}: LF pack {pack.name!r} has classes {pack.classes}, the dataset declares {ds.classes}"
        )
    return pack


def sub_pack(pack: LFPack, names: list[str] | set[str]) -> LFPack:
    """The LFs of ``pack`` named in ``names``, in pack order (same classes, same versions)."""
    return LFPack(pack.name, pack.classes, [lf for lf in pack if lf.name in set(names)])


def votes_long(annotated: DataFrame, pack: LFPack) -> DataFrame:
    """``(id, lf, vote, lf_version)`` for every non-abstain vote of every LF of ``pack``.

    ``annotated`` is the source with the Python LFs' vote columns already added
    (:func:`lf_library.apply_python.with_python_votes`). Every other vote comes
    out of one projection over the source:

    - the text LFs (keywords, regexes, word counts) through the text kernel
      (:mod:`lf_library.text_kernel`), one decode and lowercase per row, or as
      compiled expressions (:mod:`lf_library.compile`) when it is unavailable;
    - the other declarative LFs as compiled expressions, the Python LFs as
      their vote columns.

    Each vote travels as one int code, ``lf position x classes + class``, so a
    row emits an array of only the votes it has: exploding it costs per vote,
    not per (row, LF), and the LF name and version are looked up from constant
    arrays. Packs with many single-word keyword LFs apply those through one
    token lookup instead (:mod:`lf_library.keyword_index`), and the two vote
    sets are unioned.
    """
    indexed, compiled = split_for_index(pack)
    per_row: list[LabelingFunction] = compiled + list(pack.python)
    votes: DataFrame | None = None
    if per_row:
        k = len(pack.classes)
        use_kernel = kernel_enabled(annotated.sparkSession)
        kernel_lfs = [
            (lf, pos * k + pack.label_index(lf)) for pos, lf in enumerate(per_row) if use_kernel and in_kernel(lf)
        ]
        in_kernel_names = {lf.name for lf, _ in kernel_lfs}
        singles = [_vote_code(lf, pos, pack) for pos, lf in enumerate(per_row) if lf.name not in in_kernel_names]
        parts = (
            [F.coalesce(kernel_codes(annotated.sparkSession, F.col("text"), kernel_lfs), F.array().cast("array<int>"))]
            if kernel_lfs
            else []
        ) + ([F.array(*singles)] if singles else [])
        codes = parts[0] if len(parts) == 1 else F.concat(*parts)
        names = F.array(*[F.lit(lf.name) for lf in per_row])
        versions = F.array(*[F.lit(lf.version) for lf in per_row])
        position = (F.col("code") / F.lit(k)).cast("int") + F.lit(1)
        # Two steps on purpose. The codes come out of a plain projection, where Spark
        # shares common subexpressions such as lower(text) between compiled LFs (it
        # does not inside a generator). And explode_outer, not explode: for explode,
        # Spark infers a filter "the array is not empty" and pushes it below the
        # projection, where it builds the code array a second time per row (every
        # LF, or the kernel, evaluated twice); the outer form's one null row for a
        # row without votes is dropped by the null filter.
        votes = (
            annotated.select("id", codes.alias("codes"))
            .select("id", F.explode_outer("codes").alias("code"))
            .where(F.col("code").isNotNull())
            .select(
                "id",
                F.element_at(names, position).alias("lf"),
                (F.col("code") % F.lit(k)).cast("int").alias("vote"),
                F.element_at(versions, position).alias("lf_version"),
            )
        )
    if indexed:
        by_token = token_votes(annotated, pack, indexed)
        votes = by_token if votes is None else votes.unionByName(by_token)
    assert votes is not None, "votes_long needs a pack with at least one LF"
    return votes


def _vote_code(lf: LabelingFunction, position: int, pack: LFPack) -> Column:
    """``lf``'s vote on a row as a code (``position x classes + class``), null for abstain.

    A declarative LF's code is its condition straight to a constant: wrapping its
    compiled vote column (``CASE ... ELSE -1``) in another CASE makes the optimizer
    duplicate the condition into both branches, which evaluated ``lower(text)``
    15 times per row for 7 LFs.
    """
    base = position * len(pack.classes)
    if lf.kind == "python":
        return F.when(F.col(lf.name) >= 0, F.lit(base) + F.col(lf.name))
    return F.when(lf_condition(lf, F.col("text")), F.lit(base + pack.label_index(lf)))


def compute_votes(
    rows: DataFrame, pack: LFPack, ds: DatasetConfig
) -> tuple[DataFrame | None, dict[str, dict], list[DataFrame]]:
    """Votes of ``pack`` over ``rows``, the Python LFs' error report, and what to unpersist after the write."""
    if not len(pack):
        return None, {}, []
    annotated = with_python_votes(rows, cast(list[PythonLF], pack.python), pack.classes)
    if not pack.python:
        return votes_long(annotated, pack), {}, []
    annotated = annotated.persist(StorageLevel.MEMORY_AND_DISK)
    return votes_long(annotated, pack), lf_error_report(annotated, pack, ds), [annotated]


def lf_error_report(annotated: DataFrame, pack: LFPack, ds: DatasetConfig) -> dict[str, dict]:
    """Errors per Python LF (count, rate, sample ids, first error); fails above the budget.

    One aggregation counts every LF's errors; samples are fetched only for LFs
    that failed somewhere.
    """
    if not pack.python:
        return {}
    counts = annotated.agg(
        F.count(F.lit(1)).alias("_rows"),
        *[F.count(error_column(lf.name)).alias(lf.name) for lf in pack.python],
    ).first()
    rows = int(counts["_rows"])
    report: dict[str, dict] = {}
    for lf in pack.python:
        n = int(counts[lf.name])
        if n == 0:
            continue
        sample = (
            annotated.where(F.col(error_column(lf.name)).isNotNull())
            .select("id", error_column(lf.name))
            .limit(5)
            .collect()
        )
        report[lf.name] = {
            "errors": n,
            "rate": n / rows if rows else 0.0,
            "sample_ids": [r["id"] for r in sample],
            "first_error": sample[0][1] if sample else None,
        }
        log.warning(
            "apply_lfs %s: LF %s failed on %d of %d rows (abstained there); e.g. id %s: %s",
            ds.name,
            lf.name,
            n,
            rows,
            report[lf.name]["sample_ids"][:1],
            report[lf.name]["first_error"],
        )
    over = {name: r for name, r in report.items() if r["rate"] > ds.max_lf_error_rate}
    if over:
        name, worst = max(over.items(), key=lambda kv: kv[1]["rate"])
        raise LFExecutionError(
            f"apply_lfs {ds.name}: LF {name!r} failed on {worst['errors']} rows "
            f"({worst['rate']:.1%} > max_lf_error_rate {ds.max_lf_error_rate:.1%}); "
            f"first error on id {worst['sample_ids'][0]!r}: {worst['first_error']}"
            + (f"; also over budget: {sorted(set(over) - {name})}" if len(over) > 1 else "")
        )
    return report
