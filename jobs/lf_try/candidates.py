"""The LFs a try evaluates: one given inline, or what a changed pack changes; and their votes on the sample.

Votes are computed without Spark where the LF's semantics have a plain-Python form: keywords,
regexes and word counts through their reference functions (:mod:`lf_library.reference`, the
functions the compiled expressions are checked against), Python LFs on the sample's rows as
one pandas batch (:func:`lf_library.apply_python.python_votes`), a SQL condition with DuckDB.
Anything else, or SQL that DuckDB does not take, goes through the pipeline's own Spark
expressions on the sample (:func:`jobs.stages.apply.votes.votes_long`).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from jobs.core.errors import ConfigError
from lf_library.core import ABSTAIN, KeywordLF, LabelingFunction, LFPack, RegexLF, SqlLF, WordCountLF
from lf_library.errors import LFDefinitionError
from lf_library.python_lf import PythonLF, labeling_function

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

log = logging.getLogger(__name__)

DEFAULT_NAME = "candidate"


@dataclass(frozen=True)
class InlineLF:
    """An LF given on the command line or to :func:`labellake.try_lf`: exactly one of the rules."""

    label: str | None = None
    name: str = DEFAULT_NAME
    keywords: tuple[str, ...] = ()
    regex: str | None = None
    sql: str | None = None
    python: str | Callable[..., Any] | LabelingFunction | None = None
    match: str = "substring"
    ignore_case: bool = False

    def build(self, classes: tuple[str, ...]) -> LabelingFunction:
        """The LF itself; a ConfigError naming what is wrong with the options."""
        given = [k for k, v in (("keywords", self.keywords), ("regex", self.regex), ("sql", self.sql)) if v]
        given += ["python"] if self.python is not None else []
        if len(given) != 1:
            raise ConfigError(f"lf try: give exactly one of keywords, regex, sql, python (got {given or 'none'})")
        if self.python is not None:
            return _python_lf(self.python, self.name, self.label)
        if self.label is None:
            raise ConfigError(f"lf try: --label is required with --{given[0]} (one of {list(classes)})")
        try:
            if self.keywords:
                return KeywordLF(self.name, self.label, keywords=tuple(self.keywords), match=self.match)
            if self.regex:
                return RegexLF(self.name, self.label, pattern=self.regex, ignore_case=self.ignore_case)
            return SqlLF(self.name, self.label, condition=str(self.sql))
        except LFDefinitionError as exc:
            raise ConfigError(f"lf try: {exc}") from exc


def _python_lf(target: str | Callable[..., Any] | LabelingFunction, name: str, label: str | None) -> LabelingFunction:
    """``module:function`` (or the object itself) as an LF: an LF object as it is, a plain
    function as a row-wise Python LF."""
    found: Any = target
    if isinstance(target, str):
        module_name, _, attribute = target.partition(":")
        if not module_name or not attribute:
            raise ConfigError(f"lf try: --python wants module:function, got {target!r}")
        try:
            found = getattr(importlib.import_module(module_name), attribute)
        except Exception as exc:  # noqa: BLE001 - a module that fails to import (syntax, its own raise) too
            message = " ".join(str(exc).split())[:300]
            raise ConfigError(f"lf try: cannot load {target!r}: {type(exc).__name__}: {message}") from exc
    if isinstance(found, LabelingFunction):
        return found
    if not callable(found):
        raise ConfigError(f"lf try: {target!r} is neither an LF nor a function")
    lf_name = name if name != DEFAULT_NAME else getattr(found, "__name__", DEFAULT_NAME)
    try:
        return labeling_function(name=lf_name, label=label)(found)
    except LFDefinitionError as exc:
        raise ConfigError(f"lf try: {exc}") from exc


@dataclass(frozen=True)
class Change:
    """What a try evaluates against the stored votes: LFs to add or replace, LFs to drop."""

    lfs: list[LabelingFunction]
    removed: list[str]


def inline_change(lf: LabelingFunction, pack: LFPack) -> Change:
    """One LF: new when its name is not in the pack, an edit of that LF when it is."""
    try:
        LFPack(pack.name, pack.classes, [lf])
    except LFDefinitionError as exc:
        raise ConfigError(f"lf try: {exc}") from exc
    return Change([lf], [])


def pack_change(pack: LFPack, stored_versions: dict[str, str]) -> Change:
    """The LFs of ``pack`` that are new or whose version differs from the stored votes', and the
    stored LFs it no longer has."""
    changed = [lf for lf in pack if stored_versions.get(lf.name) != lf.version]
    return Change(changed, sorted(set(stored_versions) - set(pack.names)))


def candidate_votes(lfs: list[LabelingFunction], classes: tuple[str, ...], rows: pa.Table) -> dict[str, np.ndarray]:
    """Each LF's vote on every sample row (class index, -1 abstain), in the sample's row order."""
    pack = LFPack("try", classes, lfs)
    frame = rows.to_pandas()
    votes: dict[str, np.ndarray] = {}
    python_lfs = [lf for lf in lfs if isinstance(lf, PythonLF)]
    if python_lfs:
        from lf_library.apply_python import python_votes

        for name, (values, errors) in python_votes(frame.copy(), python_lfs, classes).items():
            failed = [e for e in errors if e]
            if failed:
                log.warning(
                    "lf try: LF %s failed on %d of %d sample rows: %s", name, len(failed), len(frame), failed[0]
                )
            votes[name] = np.asarray(values, dtype=np.int16)
    spark_lfs: list[LabelingFunction] = []
    for lf in lfs:
        if lf.name in votes:
            continue
        if isinstance(lf, (KeywordLF, RegexLF, WordCountLF)):
            votes[lf.name] = _reference_votes(lf, pack, frame)
        elif isinstance(lf, SqlLF) and (sql := _duckdb_votes(lf, pack, rows)) is not None:
            votes[lf.name] = sql
        else:
            spark_lfs.append(lf)
    if spark_lfs:
        votes.update(_spark_votes(LFPack("try", classes, spark_lfs), frame))
    return votes


def _reference_votes(lf: LabelingFunction, pack: LFPack, frame: pd.DataFrame) -> np.ndarray:
    from lf_library.reference import python_lf

    vote = python_lf(lf, pack)
    return np.fromiter((vote(t) for t in frame["text"].tolist()), dtype=np.int16, count=len(frame))


def _duckdb_votes(lf: SqlLF, pack: LFPack, rows: pa.Table) -> np.ndarray | None:
    """The SQL condition evaluated by DuckDB over the sample; None when DuckDB rejects it (Spark SQL
    then evaluates it, exactly as a run would)."""
    import duckdb

    label = pack.label_index(lf)
    try:
        with duckdb.connect() as con:
            con.register("sample", rows)
            hit = con.execute(f"SELECT coalesce(({lf.condition}), false) FROM sample").fetchnumpy()  # noqa: S608
    except duckdb.Error as exc:
        log.info("lf try: DuckDB cannot evaluate %s (%s); using Spark SQL", lf.name, " ".join(str(exc).split())[:200])
        return None
    return np.where(next(iter(hit.values())).astype(bool), label, ABSTAIN).astype(np.int16)


def _spark_votes(pack: LFPack, frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """Votes through the run's Spark expressions, on the sample (a local session)."""
    from pyspark.errors import PySparkException

    from jobs.spark.session import get_spark
    from jobs.stages.apply.votes import votes_long

    spark = get_spark("labellake-lf-try")
    columns = [c for c in frame.columns if not c.startswith("_")]
    try:
        votes = votes_long(spark.createDataFrame(frame[columns]), pack).toPandas()
    except PySparkException as exc:
        message = " ".join(str(exc).split("; line")[0].split())[:300]
        raise ConfigError(f"lf try: Spark cannot evaluate {', '.join(pack.names)}: {message}") from exc
    position = {row_id: i for i, row_id in enumerate(frame["id"].tolist())}
    out = {lf.name: np.full(len(frame), ABSTAIN, dtype=np.int16) for lf in pack}
    for lf_name, row_id, vote in zip(votes["lf"], votes["id"], votes["vote"], strict=True):
        out[lf_name][position[row_id]] = vote
    return out
