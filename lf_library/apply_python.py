"""Where Python LFs run: one ``mapInArrow`` pass over Arrow batches.

For each batch the preprocessors run once (vectorized), then every Python LF:
vectorized ones on the whole batch, row-wise ones over the batch's rows. An LF
that raises does not fail the task: it abstains for the rows it failed on and
its error message is kept in an ``_err_<lf>`` column, so the job can count
errors per LF, show sample row ids and decide against the error budget. A
vectorized LF that raises on a batch is retried row by row (one-row frames) so
only the offending rows abstain.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from types import SimpleNamespace
from typing import Any

import numpy as np
from pyspark.sql import DataFrame
from pyspark.sql.types import IntegerType, StringType, StructField, StructType

from lf_library.core import ABSTAIN
from lf_library.python_lf import Preprocessor, PythonLF

ERROR_PREFIX = "_err_"


def error_column(lf_name: str) -> str:
    return ERROR_PREFIX + lf_name


def _to_vote(value: Any, classes: tuple[str, ...]) -> int:
    """A returned value as a class index; raises ValueError naming what was wrong."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ABSTAIN
    if isinstance(value, str):
        if value not in classes:
            raise ValueError(f"returned {value!r}, not one of {classes}")
        return classes.index(value)
    if isinstance(value, (bool, np.bool_)):
        raise ValueError("returned a bool; return a class index, a class name or None")
    index = int(value)
    if index != value or not -1 <= index < len(classes):
        raise ValueError(f"returned {value!r}, not -1 or a class index in [0, {len(classes)})")
    return index


def _short(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:500]


def _run_row_lf(lf: PythonLF, frame: Any, classes: tuple[str, ...]) -> tuple[list[int], list[str | None]]:
    votes: list[int] = []
    errors: list[str | None] = []
    for record in frame.to_dict("records"):
        try:
            votes.append(_to_vote(lf.call_row(SimpleNamespace(**record)), classes))
            errors.append(None)
        except Exception as exc:  # an LF bug must cost one row, not the run
            votes.append(ABSTAIN)
            errors.append(_short(exc))
    return votes, errors


def _run_batch_lf(lf: PythonLF, frame: Any, classes: tuple[str, ...]) -> tuple[list[int], list[str | None]]:
    try:
        raw = list(lf.call_batch(frame))
        if len(raw) != len(frame):
            raise ValueError(f"returned {len(raw)} votes for a batch of {len(frame)} rows")
        return [_to_vote(v, classes) for v in raw], [None] * len(frame)
    except Exception:
        votes: list[int] = []
        errors: list[str | None] = []
        for i in range(len(frame)):
            try:
                out = list(lf.call_batch(frame.iloc[i : i + 1]))
                if len(out) != 1:
                    raise ValueError(f"returned {len(out)} votes for a batch of 1 row")
                votes.append(_to_vote(out[0], classes))
                errors.append(None)
            except Exception as exc:
                votes.append(ABSTAIN)
                errors.append(_short(exc))
        return votes, errors


def _apply_preprocessors(frame: Any, pres: list[Preprocessor]) -> dict[str, str]:
    """Add each preprocessor's column once; return {preprocessor: error} for those that failed."""
    failed: dict[str, str] = {}
    for pre in pres:
        try:
            frame[pre.name] = pre.func(frame)
        except Exception as exc:
            failed[pre.name] = f"preprocessor {pre.name}: {_short(exc)}"
    return failed


def python_votes(
    frame: Any, lfs: list[PythonLF], classes: tuple[str, ...], pres: list[Preprocessor] | None = None
) -> dict[str, tuple[list[int], list[str | None]]]:
    """Each LF's (votes, errors) on one pandas batch: the preprocessors first (added to ``frame``),
    then every LF; what one Arrow batch of :func:`with_python_votes` computes, and the try-loop too."""
    if pres is None:
        pres = list({p.name: p for lf in lfs for p in lf.pre}.values())
    failed_pre = _apply_preprocessors(frame, pres)
    results: dict[str, tuple[list[int], list[str | None]]] = {}
    for lf in lfs:
        broken = [failed_pre[p.name] for p in lf.pre if p.name in failed_pre]
        if broken:
            results[lf.name] = ([ABSTAIN] * len(frame), [broken[0]] * len(frame))
        elif lf.vectorized:
            results[lf.name] = _run_batch_lf(lf, frame, classes)
        else:
            results[lf.name] = _run_row_lf(lf, frame, classes)
    return results


def with_python_votes(df: DataFrame, lfs: list[PythonLF], classes: tuple[str, ...]) -> DataFrame:
    """``df`` plus one int vote column and one error column per Python LF."""
    if not lfs:
        return df
    schema = StructType(
        list(df.schema.fields)
        + [StructField(lf.name, IntegerType(), False) for lf in lfs]
        + [StructField(error_column(lf.name), StringType(), True) for lf in lfs]
    )
    pres = list({p.name: p for lf in lfs for p in lf.pre}.values())
    input_columns = df.columns

    def run(batches: Iterable[Any]) -> Iterator[Any]:
        import pyarrow as pa

        for batch in batches:
            out = {name: batch.column(name) for name in input_columns}
            results = python_votes(batch.to_pandas(), lfs, classes, pres)
            out.update({lf.name: pa.array(results[lf.name][0], type=pa.int32()) for lf in lfs})
            out.update({error_column(lf.name): pa.array(results[lf.name][1], type=pa.string()) for lf in lfs})
            yield pa.RecordBatch.from_pydict(
                out,
                schema=pa.schema(
                    [batch.schema.field(n) for n in input_columns]
                    + [pa.field(lf.name, pa.int32(), nullable=False) for lf in lfs]
                    + [pa.field(error_column(lf.name), pa.string()) for lf in lfs]
                ),
            )

    return df.mapInArrow(run, schema)
