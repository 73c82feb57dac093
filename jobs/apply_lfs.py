"""Apply LFs: source table -> votes table (+ LF registry).

Votes are stored long and sparse: one row ``(id, lf, vote, lf_version)`` per
non-abstain vote. Why this layout:

- replacing one LF's votes is a ``replaceWhere lf = ...`` that leaves every
  other LF's files alone (incremental reruns when one LF changes);
- abstains, usually most of the matrix, cost nothing;
- vote patterns for the label model are one ``groupBy(id)`` away;
- adding or removing an LF never changes the schema.

The votes are computed in one projection of compiled Spark expressions (see
:mod:`lf_library.compile`); no Python runs per row.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from delta.tables import DeltaTable
from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.datasets import DatasetConfig
from jobs.errors import ConfigError, LFExecutionError, StageOrderError
from jobs.lf_analysis import write_lf_analysis
from jobs.lineage import RunContext
from jobs.settings import Settings
from jobs.tables import commit_metadata, latest_commit, table
from lf_library.apply_python import error_column, with_python_votes
from lf_library.compile import compile_lf
from lf_library.core import LFPack
from lf_library.keyword_index import split_for_index, token_votes
from lf_library.packs import load_pack

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ApplyResult:
    source_version: int
    lfs: int
    votes: int
    votes_version: int
    lf_errors: dict[str, dict]
    lf_set_version: str


def load_dataset_pack(ds: DatasetConfig) -> LFPack:
    """The dataset's LF pack, checked to use the dataset's classes in order."""
    pack = load_pack(ds.lf_pack)
    if pack.classes != ds.classes:
        raise ConfigError(
            f"dataset {ds.name!r}: LF pack {pack.name!r} has classes {pack.classes}, "
            f"the dataset declares {ds.classes}"
        )
    return pack


def votes_long(annotated: DataFrame, pack: LFPack) -> DataFrame:
    """``(id, lf, vote, lf_version)`` for every non-abstain vote of every LF of ``pack``.

    ``annotated`` is the source with the Python LFs' vote columns already added
    (:func:`lf_library.apply_python.with_python_votes`); declarative LFs are
    compiled here, so those votes come out of one projection. Packs with many
    single-word keyword LFs apply those through one token lookup instead
    (:mod:`lf_library.keyword_index`), and the two vote sets are unioned.
    """
    indexed, compiled = split_for_index(pack)
    # Two steps on purpose: a plain projection computes every vote column (Spark
    # shares common subexpressions such as lower(text) there, which it does not
    # inside a generator), then an explode of cheap column references keeps
    # the non-abstain ones. A higher-order filter() here would be interpreted.
    per_row = compiled + list(pack.python)
    wide = annotated.select("id", *[compile_lf(lf, pack, F.col("text")) for lf in compiled],
                            *[F.col(lf.name) for lf in pack.python])
    entries = [
        F.struct(F.lit(lf.name).alias("lf"), F.col(lf.name).alias("vote"), F.lit(lf.version).alias("lf_version"))
        for lf in per_row
    ]
    votes = None
    if entries:
        votes = (wide.select("id", F.explode(F.array(*entries)).alias("v")).where(F.col("v.vote") >= 0)
                 .select("id", F.col("v.lf").alias("lf"), F.col("v.vote").alias("vote"),
                         F.col("v.lf_version").alias("lf_version")))
    if indexed:
        by_token = token_votes(annotated, pack, indexed)
        votes = by_token if votes is None else votes.unionByName(by_token)
    return votes


def registry_rows(spark: SparkSession, pack: LFPack, ds: DatasetConfig, run: RunContext) -> DataFrame:
    import json

    rows = [
        (lf.name, lf.version, lf.kind, lf.label, None if lf.label is None else pack.label_index(lf), ds.name, pack.name,
         json.dumps(lf.params(), sort_keys=True), lf.description, lf.owner, run.run_id, run.run_id)
        for lf in pack
    ]
    schema = (
        "lf string, lf_version string, kind string, label_name string, label int, dataset string, "
        "pack string, definition string, description string, owner string, first_run string, last_run string"
    )
    return spark.createDataFrame(rows, schema)


def upsert_registry(spark: SparkSession, settings: Settings, pack: LFPack, ds: DatasetConfig, run: RunContext) -> None:
    """Record every LF version applied: first run it appeared in, last run it was used."""
    ref = table(settings, ds.name, "lf_registry")
    updates = registry_rows(spark, pack, ds, run)
    if not ref.exists():
        updates.write.format("delta").option("userMetadata", commit_metadata(run_id=run.run_id, stage="apply_lfs")).save(str(ref.path))
        return
    (DeltaTable.forPath(spark, str(ref.path)).alias("r")
     .merge(updates.alias("u"), "r.lf = u.lf AND r.lf_version = u.lf_version")
     .whenMatchedUpdate(set={"last_run": "u.last_run"})
     .whenNotMatchedInsertAll()
     .execute())


def run_apply_lfs(spark: SparkSession, ds: DatasetConfig, settings: Settings, run: RunContext) -> ApplyResult:
    """Apply the dataset's pack to the current source version and overwrite the votes."""
    source = table(settings, ds.name, "source")
    if not source.exists():
        raise StageOrderError(f"apply_lfs {ds.name}: source table {source.path} missing; run ingest first")
    source_version, _ = latest_commit(spark, source)
    pack = load_dataset_pack(ds)
    rows = spark.read.format("delta").option("versionAsOf", source_version).load(str(source.path))
    votes = table(settings, ds.name, "votes")
    meta = commit_metadata(
        run_id=run.run_id, stage="apply_lfs", dataset=ds.name, source_table=source.name,
        source_version=source_version, lf_set_version=pack.set_version, lf_versions=pack.versions,
        lfs=pack.names,
    )
    annotated = with_python_votes(rows, pack.python, pack.classes)
    if pack.python:
        annotated = annotated.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        errors = lf_error_report(annotated, pack, ds)
        (votes_long(annotated, pack).write.format("delta").mode("overwrite").option("overwriteSchema", "true")
         .option("userMetadata", meta).save(str(votes.path)))
    finally:
        if pack.python:
            annotated.unpersist()
    upsert_registry(spark, settings, pack, ds, run)
    votes_version, _ = latest_commit(spark, votes)
    gold_ref = table(settings, ds.name, "gold")
    write_lf_analysis(
        spark,
        spark.read.format("delta").option("versionAsOf", votes_version).load(str(votes.path)),
        rows.count(),
        spark.read.format("delta").load(str(gold_ref.path)) if gold_ref.exists() else None,
        [(lf.name, lf.version, lf.kind) for lf in pack],
        errors,
        table(settings, ds.name, "lf_analysis"),
        run.run_id,
    )
    n_votes = int(DeltaTable.forPath(spark, str(votes.path)).history(1).select("operationMetrics").first()[0].get("numOutputRows", -1))
    log.info("apply_lfs %s: %d LFs over %s@v%d -> %d votes in %s@v%d",
             ds.name, len(pack), source.name, source_version, n_votes, votes.name, votes_version)
    return ApplyResult(source_version, len(pack), n_votes, votes_version, errors, pack.set_version)


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
        sample = (annotated.where(F.col(error_column(lf.name)).isNotNull())
                  .select("id", error_column(lf.name)).limit(5).collect())
        report[lf.name] = {
            "errors": n, "rate": n / rows if rows else 0.0,
            "sample_ids": [r["id"] for r in sample], "first_error": sample[0][1] if sample else None,
        }
        log.warning("apply_lfs %s: LF %s failed on %d of %d rows (abstained there); e.g. id %s: %s",
                    ds.name, lf.name, n, rows, report[lf.name]["sample_ids"][:1], report[lf.name]["first_error"])
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
