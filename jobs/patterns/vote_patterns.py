"""Per-row vote patterns, the label model's unit of work, built from the long votes table.

A row's *pattern* is which LFs voted what on it. The fit needs every row's
pattern once (to count the distinct ones and to join predictions back). A
full recompute's apply writes them from its LF pass
(:func:`jobs.stages.apply.votes.pattern_codes_of`); otherwise this
``groupBy(id)`` over every vote builds them, the label-model stage's one
row-level cost.

Two encodings, the same patterns:

- **codes** (the default when it fits): each LF's vote is a digit in base
  ``classes + 1`` (0 = abstain), packed into as few ``long`` columns as
  needed, so a row's pattern is a ``sum`` of its votes' digits. That is a
  plain hash aggregate with fixed-width buffers, and grouping and joining on
  longs is cheap; the readable ``lf=vote,...`` string is built only for the
  distinct patterns (measured in docs/decisions/0005).
- **strings**, for packs so wide that codes would need more than
  ``MAX_CODE_COLUMNS`` longs (1,000 LFs x 20 classes): each vote becomes its
  ``lf=vote`` string and a row's sorted, comma-joined entries are its pattern.

Either way the canonical pattern string is the same (entries sorted as
strings), so the ``pattern_counts`` table, reports and reruns read one format.
"""

from __future__ import annotations

import base64
import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

if TYPE_CHECKING:
    import pandas as pd

MAX_CODE_COLUMNS = 8
PATTERN = "pattern"


@dataclass(frozen=True)
class PatternCodec:
    """How LF votes pack into ``long`` columns: LF ``j``'s digit is ``vote + 1`` at place
    ``j % per_column`` of column ``j // per_column``, in base ``classes + 1``."""

    lf_names: tuple[str, ...]
    base: int
    per_column: int

    @classmethod
    def for_lfs(cls, lf_names: list[str], n_classes: int) -> PatternCodec | None:
        """The codec for these LFs, or None when it would need too many columns."""
        base = n_classes + 1
        per_column = max(1, int(63 / math.log2(base)))
        while base**per_column - 1 > 2**63 - 1:  # the largest packed value must fit a signed long
            per_column -= 1
        if math.ceil(len(lf_names) / per_column) > MAX_CODE_COLUMNS or not lf_names:
            return None
        return cls(tuple(lf_names), base, per_column)

    @property
    def columns(self) -> list[str]:
        return [f"_p{c}" for c in range(math.ceil(len(self.lf_names) / self.per_column))]

    def digit(self, j: int) -> Column:
        return F.expr(self._digit_sql(j))

    def _digit_sql(self, j: int) -> str:
        column, place = self.columns[j // self.per_column], j % self.per_column
        return f"((`{column}` div {self.base**place}) % {self.base})"

    def row_codes(self, ids: DataFrame, votes: DataFrame) -> DataFrame:
        """``(id, _p0, ...)`` for every source row; rows without votes get zeros."""
        digits = self.vote_digits(votes).withColumn(_IN_SOURCE, F.lit(False))
        zeros = ids.select("id", *[F.lit(0).cast("long").alias(c) for c in self.columns], F.lit(True).alias(_IN_SOURCE))
        return _per_source_row(zeros.unionByName(digits), [F.sum(c).alias(c) for c in self.columns])

    def vote_digits(self, votes: DataFrame) -> DataFrame:
        """``(id, _p0, ...)`` per vote: its digit in its LF's column, zeros in the others (a row's
        codes are the sums of its votes' rows). One SQL text, as :meth:`pattern_string`: built from
        Column objects, the LF index map alone took two py4j calls per LF."""
        index = "map(" + ", ".join(f"{_sql_literal(name)}, {j}" for j, name in enumerate(self.lf_names)) + ")"
        j = f"element_at({index}, `lf`)"
        place_values = ", ".join(f"CAST({self.base**p} AS BIGINT)" for p in range(self.per_column))
        place_value = f"element_at(array({place_values}), ({j} % {self.per_column}) + 1)"
        n_classes = self.base - 1
        outside = (
            f"raise_error(concat('votes: LF ', `lf`, ' cast a vote outside the {n_classes} classes on row ', "
            "`id`, ': ', CAST(`vote` AS STRING)))"
        )
        digit = (
            f"CASE WHEN `vote` < 0 OR `vote` >= {n_classes} THEN {outside} "
            f"ELSE CAST(`vote` + 1 AS BIGINT) * {place_value} END"
        )
        parts = [
            F.expr(
                digit
                if len(self.columns) == 1
                else f"CASE WHEN {j} div {self.per_column} = {c} THEN {digit} ELSE 0 END"
            )
            .cast("long")
            .alias(name)
            for c, name in enumerate(self.columns)
        ]
        return votes.select("id", *parts)

    def pattern_string(self) -> Column:
        """The canonical ``lf=vote,...`` string of the coded columns (entries sorted as strings)."""
        order = sorted(range(len(self.lf_names)), key=lambda j: self.lf_names[j] + "=")
        # One SQL text, parsed once by the JVM: built from Column objects it took ~8 py4j calls per
        # LF (0.6 s of a fit's driver time at 73 LFs).
        entries = [
            f"CASE WHEN {self._digit_sql(j)} > 0 THEN "
            f"concat({_sql_literal(self.lf_names[j] + '=')}, CAST({self._digit_sql(j)} - 1 AS STRING)) END"
            for j in order
        ]
        return F.expr(f"concat_ws(',', {', '.join(entries)})")

    def pattern_strings(self, codes: np.ndarray) -> list[str]:
        """The canonical strings of a (P, columns) array of codes, in Python: the same text as
        :meth:`pattern_string` (for the few patterns a gold join names, not for every pattern)."""
        L = self.matrix(codes)
        order = sorted(range(len(self.lf_names)), key=lambda j: self.lf_names[j] + "=")
        return [",".join(f"{self.lf_names[j]}={row[j]}" for j in order if row[j] >= 0) for row in L]

    def matrix(self, codes: np.ndarray) -> np.ndarray:
        """The (P, m) int16 vote matrix of a (P, columns) array of codes, vectorized."""
        codes = np.asarray(codes, dtype=np.int64).reshape(len(codes), len(self.columns))
        L = np.empty((len(codes), len(self.lf_names)), dtype=np.int16)
        for j in range(len(self.lf_names)):
            L[:, j] = (codes[:, j // self.per_column] // self.base ** (j % self.per_column)) % self.base - 1
        return L


def pattern_matrix(patterns: list[str], lf_names: list[str]) -> np.ndarray:
    """Dense (P, m) vote matrix for pattern strings, columns in ``lf_names`` order (a plain loop:
    faster than the vectorised split, docs/decisions/0005)."""
    index = {name: j for j, name in enumerate(lf_names)}
    # int16, not int64: at 1,000 LFs x 900k distinct patterns that is 1.8 GB instead of 7.2 GB.
    L = np.full((len(patterns), len(lf_names)), -1, dtype=np.int16)
    for i, pattern in enumerate(patterns):
        for entry in filter(None, pattern.split(",")):
            name, vote = entry.split("=")
            L[i, index[name]] = int(vote)
    return L


def string_patterns(ids: DataFrame, votes: DataFrame) -> DataFrame:
    """``(id, pattern)`` for every source row, as strings; rows without votes get ``''``.

    Each vote becomes its ``lf=vote`` string before the ``groupBy``, so the
    per-row work is a plain sort and join of strings (no higher-order lambda,
    which Spark interprets).
    """
    entry = F.concat(F.col("lf"), F.lit("="), F.col("vote").cast("string"))
    entries = votes.select("id", entry.alias("_entry"), F.lit(False).alias(_IN_SOURCE))
    empty = ids.select("id", F.lit(None).cast("string").alias("_entry"), F.lit(True).alias(_IN_SOURCE))
    return _per_source_row(
        empty.unionByName(entries), [F.array_join(F.array_sort(F.collect_list("_entry")), ",").alias(PATTERN)]
    )


_IN_SOURCE = "_in_source"


def _per_source_row(tagged: DataFrame, aggregates: list[Column]) -> DataFrame:
    """One ``groupBy(id)`` over the source ids (tagged, contributing nothing) and the votes.

    Rows no LF voted on still get their (empty) pattern, without the 10M x 10M
    join of ids to per-row aggregates this replaced (one shuffle instead of
    three). Votes whose id is not in the source are dropped, as a left join would.
    """
    return (
        tagged.groupBy("id")
        .agg(*aggregates, F.max(_IN_SOURCE).alias(_IN_SOURCE))
        .where(F.col(_IN_SOURCE))
        .drop(_IN_SOURCE)
    )


@dataclass(frozen=True)
class RowPatterns:
    """Every row's pattern key, and how to get from keys to the canonical pattern string."""

    rows: DataFrame
    keys: list[str]
    codec: PatternCodec | None

    def matrix(self, counted: pd.DataFrame, lf_names: list[str]) -> np.ndarray:
        """The (P, m) vote matrix of :meth:`distinct_counts` rows collected to pandas."""
        if self.codec is not None:
            return self.codec.matrix(counted[self.keys].to_numpy())
        return pattern_matrix(counted[PATTERN].tolist(), lf_names)

    def pattern_strings(self, keys: list[tuple]) -> list[str]:
        """The canonical pattern string of each key tuple (rows of the key columns)."""
        if self.codec is None:
            return [key[0] for key in keys]
        return self.codec.pattern_strings(np.array(keys, dtype=np.int64).reshape(len(keys), len(self.keys)))

    def collect_counts(self, counts_table: DataFrame | pd.DataFrame) -> pd.DataFrame:
        """``(*keys, count)`` of every distinct pattern on the driver, in a stable order, from a
        Spark frame or one already read (with delta-rs).

        Only the keys and counts: at 2.7M patterns the readable strings would be
        most of the driver's memory, and the fit needs the codes only.
        """
        columns = [*self.keys, "count"]
        counted = (
            counts_table.select(*columns).toPandas() if isinstance(counts_table, DataFrame) else counts_table[columns]
        )
        return counted.sort_values(self.keys, kind="stable").reset_index(drop=True)

    def distinct_counts(self, finer: DataFrame | None = None) -> DataFrame:
        """``(pattern, count, *keys)``: one row per distinct pattern. From ``finer`` when given
        (counts per pattern and more columns, in ``count``), which is summed, not the rows."""
        counted = (
            self.rows.groupBy(*self.keys).agg(F.count(F.lit(1)).alias("count"))
            if finer is None
            else finer.groupBy(*self.keys).agg(F.sum("count").cast("long").alias("count"))
        )
        if self.codec is None:
            return counted
        return counted.select(self.codec.pattern_string().alias(PATTERN), "count", *self.keys)


def row_patterns(ids: DataFrame, votes: DataFrame, lf_names: list[str], n_classes: int) -> RowPatterns:
    """Every source row's vote pattern, as codes when they fit, else as strings."""
    codec = PatternCodec.for_lfs(lf_names, n_classes)
    if codec is None:
        return RowPatterns(string_patterns(ids, votes), [PATTERN], None)
    return RowPatterns(codec.row_codes(ids, votes), codec.columns, codec)


def _sql_literal(text: str) -> str:
    """``text`` as a Spark SQL string expression. A name of plain characters is quoted as is; any
    other (an annotator source names a person as the annotation file spells them) goes through
    base64, whose alphabet no parser setting (``escapedStringLiterals``) reads differently; the
    optimizer folds the decoding into a constant."""
    if re.fullmatch(r"[A-Za-z0-9_:=.@ -]*", text):
        return f"'{text}'"
    encoded = base64.b64encode(text.encode("utf-8")).decode("ascii")
    return f"decode(unbase64('{encoded}'), 'UTF-8')"
