"""Apply LFs: source table -> votes table (+ LF registry).

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

import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from expectations.gx_runner import run_suite
from expectations.votes_suite import build_votes_suite, observed_votes_value, votes_view
from jobs.core.datasets import DatasetConfig
from jobs.core.errors import ConfigError, LFExecutionError, StageOrderError
from jobs.core.lineage import RunContext
from jobs.core.settings import Settings
from jobs.lake.tables import TableRef, commit_history, commit_metadata, latest_commit, runs_table, table
from jobs.stages.apply.recompute_plan import ROW_STATUS, RecomputePlan, plan_recompute
from jobs.stages.gate import ValidationReport, enforce
from lf_library.apply_python import error_column, with_python_votes
from lf_library.compile import check_with_spark, lf_condition
from lf_library.core import LabelingFunction, LFPack
from lf_library.keyword_index import split_for_index, token_votes
from lf_library.packs import load_pack
from lf_library.python_lf import PythonLF
from lf_library.text_kernel import in_kernel, kernel_codes, kernel_enabled

if TYPE_CHECKING:
    import pyarrow as pa

log = logging.getLogger(__name__)

VOTES_SCHEMA = "id string, lf string, vote int, lf_version string"


@dataclass(frozen=True)
class ApplyResult:
    source_version: int
    lfs: int
    votes: int
    votes_version: int
    lf_errors: dict[str, dict]
    lf_set_version: str
    plan: RecomputePlan
    recomputed: dict
    validation: list
    validation_seconds: float


def load_dataset_pack(ds: DatasetConfig) -> LFPack:
    """The dataset's LF pack, checked to use the dataset's classes in order."""
    pack = load_pack(ds.lf_pack)
    if pack.classes != ds.classes:
        raise ConfigError(
            f"dataset {ds.name!r}: LF pack {pack.name!r} has classes {pack.classes}, the dataset declares {ds.classes}"
        )
    return pack


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


def registry_rows(pack: LFPack, ds: DatasetConfig, run: RunContext) -> pa.Table:
    """One registry row per LF version of ``pack`` applied by ``run`` (an Arrow table)."""
    import json

    import pyarrow as pa

    rows = [
        {
            "lf": lf.name,
            "lf_version": lf.version,
            "kind": lf.kind,
            "label_name": lf.label,
            "label": None if lf.label is None else pack.label_index(lf),
            "dataset": ds.name,
            "pack": pack.name,
            "label_space": list(pack.classes),
            "definition": json.dumps(lf.params(), sort_keys=True),
            "description": lf.description,
            "owner": lf.owner,
            "first_run": run.run_id,
            "last_run": run.run_id,
        }
        for lf in pack
    ]
    return pa.Table.from_pylist(rows, schema=_registry_schema())


def _registry_schema() -> pa.Schema:
    import pyarrow as pa

    return pa.schema(
        [
            ("lf", pa.string()),
            ("lf_version", pa.string()),
            ("kind", pa.string()),
            ("label_name", pa.string()),
            ("label", pa.int32()),
            ("dataset", pa.string()),
            ("pack", pa.string()),
            ("label_space", pa.list_(pa.string())),
            ("definition", pa.string()),
            ("description", pa.string()),
            ("owner", pa.string()),
            ("first_run", pa.string()),
            ("last_run", pa.string()),
        ]
    )


def upsert_registry(settings: Settings, pack: LFPack, ds: DatasetConfig, run: RunContext) -> None:
    """Record every LF version applied: first run it appeared in, last run it was used.

    ``definition`` is what the version hashes (the parameters of a declarative LF,
    the normalized source of a Python LF), so an old version's votes can be
    explained long after its code changed.

    Written with delta-rs: a Spark MERGE of these few dozen rows was 12 Spark jobs and
    2.4 s of a 10M-row LF-edit rerun's apply stage (and of every quiet night); reading
    the table, upserting in Python and overwriting it takes milliseconds. Not delta-rs's
    own MERGE: it writes ``string_view`` Parquet columns, which DuckDB's filters over
    the table's Arrow dataset then reject. The registry is small (one row per LF
    version) and has one writer per dataset (the dataset lock); overwriting keeps
    every earlier version readable by time travel.
    """
    import pyarrow as pa
    from deltalake import DeltaTable, write_deltalake
    from deltalake.transaction import CommitProperties

    ref = table(settings, ds.name, "lf_registry")
    updates = registry_rows(pack, ds, run)
    commit = CommitProperties(custom_metadata={"userMetadata": commit_metadata(run_id=run.run_id, stage="apply_lfs")})
    if not ref.exists():
        write_deltalake(str(ref.path), updates, mode="append", commit_properties=commit)
        return
    rows = {(r["lf"], r["lf_version"]): r for r in DeltaTable(str(ref.path)).to_pyarrow_table().to_pylist()}
    for update in updates.to_pylist():
        known = rows.get((update["lf"], update["lf_version"]))
        if known is None:
            rows[(update["lf"], update["lf_version"])] = update
        else:
            known["last_run"] = update["last_run"]
    # schema_mode: a registry written by an older labellake gains the current columns (null before).
    write_deltalake(
        str(ref.path),
        pa.Table.from_pylist(list(rows.values()), schema=_registry_schema()),
        mode="overwrite",
        schema_mode="overwrite",
        commit_properties=commit,
    )


def sub_pack(pack: LFPack, names: list[str] | set[str]) -> LFPack:
    """The LFs of ``pack`` named in ``names``, in pack order (same classes, same versions)."""
    return LFPack(pack.name, pack.classes, [lf for lf in pack if lf.name in set(names)])


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


def write_votes(
    plan: RecomputePlan, pack: LFPack, ds: DatasetConfig, rows: DataFrame, votes_ref: TableRef, meta: str
) -> dict[str, dict]:
    """Write this run's votes in one Delta commit, recomputing only what ``plan`` says.

    The table is partitioned by LF, so an LF-only change is a ``replaceWhere lf IN (...)``
    that rewrites just the changed and removed LFs' files. When rows changed too, the
    kept votes (unchanged LFs on unchanged rows, read from the previous version) and the
    new ones replace the table together. Either way readers see the old state or the
    new one, never a mix. Returns the error report of the Python LFs that ran.
    """
    path = str(votes_ref.path)
    if plan.mode == "full":
        new, errors, cached = compute_votes(rows, pack, ds)
        parts = [new] if new is not None else []
        writer_options = {"overwriteSchema": "true"}
    else:
        changed = sub_pack(pack, plan.recomputed_lfs)
        new_lfs, errors, cached = compute_votes(rows, changed, ds)
        parts = [new_lfs] if new_lfs is not None else []
        if plan.rows_changed:
            unchanged = sub_pack(pack, [n for n in pack.names if n not in set(plan.recomputed_lfs)])
            dirty = plan.rows.where(F.col(ROW_STATUS).isin("new", "changed")).select("id")
            new_rows, more_errors, more_cached = compute_votes(rows.join(dirty, "id", "left_semi"), unchanged, ds)
            errors, cached = {**errors, **more_errors}, cached + more_cached
            parts += [new_rows] if new_rows is not None else []
            same = plan.rows.where(F.col(ROW_STATUS) == "same").select("id")
            kept = (
                rows.sparkSession.read.format("delta")
                .option("versionAsOf", plan.previous_votes_version)
                .load(path)
                .where(F.col("lf").isin(unchanged.names))
                .join(same, "id", "left_semi")
            )
            parts.append(kept.select("id", "lf", "vote", "lf_version"))
            writer_options = {}
        else:
            replaced = plan.recomputed_lfs + plan.removed_lfs
            # No LF changed and no row changed (a re-ingest with the same content): an empty
            # append, so the commit records the new source version without touching a file.
            writer_options = (
                {"replaceWhere": "lf IN (" + ", ".join(_sql_string(n) for n in replaced) + ")"}
                if replaced
                else {"_mode": "append"}
            )
    if not parts:  # an empty pack, or only removed LFs: write an empty frame of the right schema
        parts = [rows.sparkSession.createDataFrame([], VOTES_SCHEMA)]
    votes = parts[0]
    for part in parts[1:]:
        votes = votes.unionByName(part)
    try:
        mode = writer_options.pop("_mode", "overwrite")
        writer = votes.repartition("lf").write.format("delta").mode(mode).partitionBy("lf")
        for key, value in {**writer_options, "userMetadata": meta}.items():
            writer = writer.option(key, value)
        writer.save(path)
    finally:
        for frame in cached:
            frame.unpersist()
    return errors


def _sql_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def run_apply_lfs(spark: SparkSession, ds: DatasetConfig, settings: Settings, run: RunContext) -> ApplyResult:
    """Bring the votes table up to the dataset's pack over the current source version.

    Incremental by default (see :mod:`jobs.stages.apply.recompute_plan`): only new or changed LFs
    and new or changed rows are computed; ``run.mode == "full"`` recomputes all.
    """
    source = table(settings, ds.name, "source")
    if not source.exists():
        raise StageOrderError(f"apply_lfs {ds.name}: source table {source.path} missing; run ingest first")
    source_version, _ = latest_commit(spark, source)
    pack = load_dataset_pack(ds)
    rows = spark.read.format("delta").option("versionAsOf", source_version).load(str(source.path))
    check_with_spark(spark, pack, rows)
    votes = table(settings, ds.name, "votes")
    plan = plan_recompute(spark, run, pack, votes, source, source_version)
    if plan.rows is not None:
        plan.rows = plan.rows.persist(StorageLevel.MEMORY_AND_DISK)
    total_rows = rows.count()
    log.info("apply_lfs %s: %s", ds.name, plan.describe(pack, total_rows))
    meta = commit_metadata(
        run_id=run.run_id,
        stage="apply_lfs",
        dataset=ds.name,
        source_table=source.name,
        source_version=source_version,
        lf_set_version=pack.set_version,
        lf_versions=pack.versions,
        lfs=pack.names,
        lf_kinds={lf.name: lf.kind for lf in pack},
        classes=list(pack.classes),
        mode=plan.mode,
        recomputed=plan.recomputed_lfs,
        removed=plan.removed_lfs,
        row_changes=plan.row_changes,
    )
    nothing_to_do = (
        plan.mode == "incremental"
        and not plan.lf_changes
        and not plan.rows_changed
        and plan.previous_source_version == source_version
    )
    try:
        if nothing_to_do:
            errors = {}  # the votes on record are this run's votes; no new version
        else:
            errors = write_votes(plan, pack, ds, rows, votes, meta)
    finally:
        if plan.rows is not None:
            plan.rows.unpersist()
    upsert_registry(settings, pack, ds, run)
    votes_version, _ = latest_commit(spark, votes)
    n_votes = spark.read.format("delta").option("versionAsOf", votes_version).load(str(votes.path)).count()
    # Only votes this run computed need checking: unchanged LFs on unchanged rows were
    # validated by the run that computed them (an LF-only change checks just its partitions).
    checked_lfs = pack.names if plan.mode == "full" or plan.rows_changed else plan.recomputed_lfs
    # ...unless the votes on record never passed their check (it failed, or the run that wrote
    # them died first): then their LFs are checked again, so a failure holds until its cause changes.
    unchecked = unvalidated_lfs(spark, settings, ds.name, votes)
    checked_lfs = [n for n in pack.names if n in set(checked_lfs) | unchecked]
    validation = (
        validate_votes(spark, ds, settings, run, sub_pack(pack, checked_lfs), votes, votes_version)
        if checked_lfs
        else ValidationReport(notes=["votes suite skipped: no vote was recomputed"])
    )
    log.info(
        "apply_lfs %s: %d LFs over %s@v%d -> %d votes in %s@v%d",
        ds.name,
        len(pack),
        source.name,
        source_version,
        n_votes,
        votes.name,
        votes_version,
    )
    return ApplyResult(
        source_version,
        len(pack),
        n_votes,
        votes_version,
        errors,
        pack.set_version,
        plan,
        plan.record(pack, total_rows),
        validation.outcomes,
        validation.seconds,
    )


def computed_lfs(meta: dict[str, Any]) -> list[str]:
    """The LFs a votes commit computed votes for (every LF when rows changed or the run was full)."""
    changes = meta.get("row_changes") or {}
    if meta.get("mode") == "full" or any(changes.get(s, 0) for s in ("new", "changed")):
        return list(meta.get("lfs") or [])
    return list(meta.get("recomputed") or [])


def unvalidated_lfs(spark: SparkSession | None, settings: Settings, dataset: str, votes: TableRef) -> set[str]:
    """LFs with votes on record that no run has checked successfully since they were written.

    A run records ``votes_version`` with its votes outcomes only once its check
    passed. Walking back from the newest votes commit to the last one some run
    checked, every LF those commits computed is still unchecked: its check
    failed, or the run that wrote it died first. An edit of another LF in
    between does not clear it."""
    checked = _checked_votes_versions(settings, dataset)
    unchecked: set[str] = set()
    for version, meta in commit_history(spark, votes):
        if version in checked:
            break
        unchecked |= set(computed_lfs(meta))
    return unchecked


def _checked_votes_versions(settings: Settings, dataset: str) -> set[int]:
    """Votes versions some run of ``dataset`` recorded a passing votes check for."""
    ref = runs_table(settings)
    if not ref.exists():
        return set()
    from deltalake import DeltaTable

    rows = (
        DeltaTable(str(ref.path))
        .to_pyarrow_table(columns=["votes_version", "votes_validation"], filters=[("dataset", "=", dataset)])
        .to_pylist()
    )
    passed = set()
    for row in rows:
        outcomes = json.loads(row["votes_validation"] or "[]")
        if (
            row["votes_version"] is not None
            and outcomes
            and not any(not o["success"] and o["severity"] == "blocking" for o in outcomes)
        ):
            passed.add(int(row["votes_version"]))
    return passed


def validate_votes(
    spark: SparkSession,
    ds: DatasetConfig,
    settings: Settings,
    run: RunContext,
    pack: LFPack,
    votes: TableRef,
    votes_version: int,
) -> ValidationReport:
    """The votes suite on the version this run settled on, over the LFs of ``pack``: label
    spaces, and LFs that never fire."""
    frame = (
        spark.read.format("delta")
        .option("versionAsOf", votes_version)
        .load(str(votes.path))
        .where(F.col("lf").isin(pack.names))
    )
    view = votes_view(spark, frame, pack.vote_space()).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        checked = run_suite(
            settings.home,
            ds.name,
            lambda: build_votes_suite(f"{ds.name}_votes", pack.names),
            view,
            run.run_id,
            ds.expectations.severity_of,
            observed_votes_value(pack.names),
            index_columns=["id", "lf"],
        )
    finally:
        view.unpersist()
    report = ValidationReport(thresholds=ds.expectations.record())
    report.add(checked)
    enforce(spark, settings, run, "apply_lfs", f"{votes.name}@v{votes_version}", report, "votes_validation")
    return report


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
