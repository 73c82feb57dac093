"""Computing votes: an LF pack over source rows, as long sparse ``(id, lf, vote, lf_version)`` rows.

Votes are stored long and sparse: one row ``(id, lf, vote, lf_version)`` per
non-abstain vote. Why this layout:

- replacing one LF's votes is a commit that replaces its ``lf`` partition and
  leaves every other LF's files alone (incremental reruns when one LF changes);
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
from jobs.patterns.vote_patterns import PatternCodec
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
    out of one projection over the source (:func:`coded_rows`), except that packs
    with many single-word keyword LFs apply those through one token lookup
    instead (:mod:`lf_library.keyword_index`), and the two vote sets are unioned.
    """
    indexed, _ = split_for_index(pack)
    coded = coded_rows(annotated, pack, indexed_too=True)
    votes = votes_of_codes(coded, pack) if coded is not None else None
    if indexed:
        by_token = token_votes(annotated, pack, indexed)
        votes = by_token if votes is None else votes.unionByName(by_token)
    assert votes is not None, "votes_long needs a pack with at least one LF"
    return votes


def _per_row_lfs(pack: LFPack) -> list[LabelingFunction]:
    """The LFs evaluated per row (all but the token-indexed ones), in code position order."""
    return split_for_index(pack)[1] + list(pack.python)


def codes_hold_every_vote(pack: LFPack) -> bool:
    """Whether :func:`coded_rows` carries all of a row's votes: some LF votes per row, and none
    through the token index."""
    return bool(_per_row_lfs(pack)) and not split_for_index(pack)[0]


def coded_rows(annotated: DataFrame, pack: LFPack, indexed_too: bool = False) -> DataFrame | None:
    """``(id, codes)``: each row's votes of the per-row LFs as an int array, one code per vote,
    ``position x classes + class``; None without per-row LFs, or (unless ``indexed_too``) when
    some LFs vote through the token index instead (then the codes are not all of a row's votes).

    One projection: the text LFs (keywords, regexes, word counts) through the text kernel
    (:mod:`lf_library.text_kernel`), one decode and lowercase per row, or as compiled
    expressions (:mod:`lf_library.compile`) when it is unavailable; the other declarative LFs
    as compiled expressions, the Python LFs as their vote columns. A row carries only the
    votes it has: exploding them costs per vote, not per (row, LF).
    """
    per_row = _per_row_lfs(pack)
    if not per_row or (not indexed_too and not codes_hold_every_vote(pack)):
        return None
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
    return annotated.select("id", codes.alias("codes"))


def votes_of_codes(coded: DataFrame, pack: LFPack) -> DataFrame:
    """``(id, lf, vote, lf_version)`` of :func:`coded_rows`' codes; the LF name and version are
    looked up from constant arrays.

    Two steps on purpose. The codes come out of a plain projection, where Spark
    shares common subexpressions such as lower(text) between compiled LFs (it
    does not inside a generator). And explode_outer, not explode: for explode,
    Spark infers a filter "the array is not empty" and pushes it below the
    projection, where it builds the code array a second time per row (every
    LF, or the kernel, evaluated twice); the outer form's one null row for a
    row without votes is dropped by the null filter.
    """
    per_row, k = _per_row_lfs(pack), len(pack.classes)
    names = F.array(*[F.lit(lf.name) for lf in per_row])
    versions = F.array(*[F.lit(lf.version) for lf in per_row])
    position = (F.col("code") / F.lit(k)).cast("int") + F.lit(1)
    return (
        coded.select("id", F.explode_outer("codes").alias("code"))
        .where(F.col("code").isNotNull())
        .select(
            "id",
            F.element_at(names, position).alias("lf"),
            (F.col("code") % F.lit(k)).cast("int").alias("vote"),
            F.element_at(versions, position).alias("lf_version"),
        )
    )


VOTE_CODES = "_votes"
"""Row-patterns column apply stores beside the packed codes: the row's :func:`coded_rows` codes,
which it explodes into the votes (unpacking 73 digits per row cost four times more)."""


def pattern_codes_of(coded: DataFrame, pack: LFPack, codec: PatternCodec) -> DataFrame:
    """``(id, _p0, ..., _votes)``: each row's packed vote pattern (:class:`PatternCodec`) summed
    from its codes in the same pass, instead of regrouping the long votes by id (a shuffle of
    every id), and the codes themselves (:data:`VOTE_CODES`)."""
    per_row, k = _per_row_lfs(pack), len(pack.classes)
    index = {name: j for j, name in enumerate(codec.lf_names)}
    columns = []
    for c, name in enumerate(codec.columns):
        places = [
            codec.base ** (index[lf.name] % codec.per_column) if index[lf.name] // codec.per_column == c else 0
            for lf in per_row
        ]
        lookup = "array(" + ", ".join(f"{v}L" for v in places) + ")"
        digit = f"element_at({lookup}, CAST(x div {k} AS INT) + 1) * (x % {k} + 1)"
        expr = f"aggregate(codes, 0L, (acc, x) -> acc + coalesce({digit}, 0L))"  # x is null for an abstain
        columns.append(F.expr(expr).alias(name))
    return coded.select("id", *columns, F.col("codes").alias(VOTE_CODES))


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


def pattern_codes(
    rows: DataFrame, pack: LFPack, ds: DatasetConfig, codec: PatternCodec
) -> tuple[DataFrame | None, dict[str, dict], list[DataFrame]]:
    """Every row's pattern codes (:func:`pattern_codes_of`) straight from the LF projection, the
    Python LFs' error report and what to unpersist; no codes when some LFs vote through the
    token index (their votes are not per-row codes)."""
    if not codes_hold_every_vote(pack):
        return None, {}, []
    annotated = with_python_votes(rows, cast(list[PythonLF], pack.python), pack.classes)
    cached = [annotated.persist(StorageLevel.MEMORY_AND_DISK)] if pack.python else []
    coded = coded_rows(cached[0] if cached else annotated, pack)
    assert coded is not None
    try:
        errors = lf_error_report(cached[0], pack, ds) if cached else {}
    except Exception:
        for frame in cached:
            frame.unpersist()
        raise
    return pattern_codes_of(coded, pack, codec), errors, cached


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
