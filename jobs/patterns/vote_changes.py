"""An LF edit's code differences from the edited LFs' vote files, read with Arrow on the driver.

After an LF edit, every row's codes change by its edited LFs' new digits less their old
ones (:mod:`jobs.patterns.incremental`). The votes table keeps each LF's votes (abstains
left out) in its own partition, so the edited LFs' votes at the two versions are a few
files, usually far fewer rows than the source: pyarrow reads them and sums the digits
per row in well under the time of the Spark jobs that do the same (a union, an
aggregate by id, a cache and a count). Used when delta-rs lists the files and they
hold at most :data:`ARROW_VOTE_ROWS` votes; else Spark computes the same table.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from jobs.lake.table_files import partition_parquet_files
from jobs.lake.tables import TableRef

if TYPE_CHECKING:
    import pyarrow as pa

    from jobs.patterns.vote_patterns import PatternCodec

ARROW_VOTE_ROWS = 2_000_000
"""Most votes (both versions together) whose differences are summed on the driver."""


def listed_votes(ref: TableRef, versions: tuple[int, int], lfs: list[str]) -> tuple[dict, dict] | None:
    """The edited LFs' vote files at the old and new version, or None when delta-rs cannot list
    them or they hold more than :data:`ARROW_VOTE_ROWS` votes."""
    import pyarrow.parquet as pq

    listed = [partition_parquet_files(ref, version, "lf", lfs) for version in versions]
    if listed[0] is None or listed[1] is None:
        return None
    rows = sum(pq.ParquetFile(path).metadata.num_rows for files in listed for paths in files.values() for path in paths)
    return None if rows > ARROW_VOTE_ROWS else (listed[0], listed[1])


def code_changes(codec: PatternCodec, old: dict[str, list[str]], new: dict[str, list[str]]) -> pa.Table:
    """``(id, _d<column>...)``: per row whose codes the edit changed, each column's difference
    (new digits less old ones), from the LFs' vote files at the two versions. A vote outside
    the classes is a ValueError naming the LF, row and vote, as the Spark digits raise."""
    import pyarrow as pa
    import pyarrow.compute as pc

    parts = [_digits(codec, lf, paths, 1) for lf, paths in new.items() if paths]
    parts += [_digits(codec, lf, paths, -1) for lf, paths in old.items() if paths]
    names = ["id", *[f"_d{c}" for c in codec.columns]]
    if not parts:
        return pa.table({n: pa.array([], pa.string() if n == "id" else pa.int64()) for n in names})
    summed = pa.concat_tables(parts).group_by("id").aggregate([(c, "sum") for c in codec.columns])
    columns = [summed.column(f"{c}_sum") for c in codec.columns]
    moved = functools.reduce(pc.or_, [pc.not_equal(c, 0) for c in columns])
    return pa.table([summed.column("id"), *columns], names=names).filter(moved)


def _digits(codec: PatternCodec, lf: str, paths: list[str], sign: int) -> pa.Table:
    """``(id, _p<column>...)`` per vote of ``lf`` in ``paths``: its digit, ``sign`` times."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    votes = pq.read_table(paths, columns=["id", "vote"], partitioning=None)
    ids = votes.column("id").cast(pa.string())
    vote = votes.column("vote").cast(pa.int64())
    n_classes = codec.base - 1
    outside = pc.or_(pc.less(vote, 0), pc.greater_equal(vote, n_classes))
    if pc.any(outside).as_py():
        at = pc.index(outside, True).as_py()
        raise ValueError(
            f"votes: LF {lf} cast a vote outside the {n_classes} classes on row {ids[at].as_py()}: {vote[at].as_py()}"
        )
    j = codec.lf_names.index(lf)
    place = codec.base ** (j % codec.per_column)
    digit = pc.multiply(pc.add(vote, 1), place * sign)
    zeros = pa.nulls(len(votes), pa.int64()).fill_null(0)
    at_column = j // codec.per_column
    return pa.table(
        [ids, *[digit if c == at_column else zeros for c in range(len(codec.columns))]], names=["id", *codec.columns]
    )
