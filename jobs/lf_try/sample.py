"""The try-loop's sample: a stratified sample of the source with the stored votes, gold and published
label of each of its rows, kept as the dataset's ``lf_sample`` Delta table.

Built with Spark when missing or stale (the source, votes, labels or gold moved on, or another
size was asked for); read warm with delta-rs, without Spark. Strata are (published label, has
gold): each gets its share of the sample in proportion to its rows (largest remainders), so the
sample's plain shares estimate the whole table's, and a rare class is never left out by chance.
Within a stratum the rows are the first by a hash of their id: the same rows on every rebuild.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jobs.core.datasets import DatasetConfig
from jobs.core.errors import LabellakeError, StageOrderError
from jobs.core.settings import Settings
from jobs.lake.tables import DatasetTables, TableRef, commit_at, commit_metadata, dataset_tables

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)

DEFAULT_SAMPLE_ROWS = 100_000
GOLD, DEV, PUBLISHED, STRATUM, VOTES = "_gold", "_dev", "_published", "_stratum", "_votes"
PATTERN_ROWS = "_pattern_rows"
"""The sample's own columns beside the source's: gold class (-1: none), in the dev split,
published label (-1: none), stratum, the stored votes in the order of the ``lfs`` on record,
and how many rows of the whole table have the row's stored vote pattern (the fit's weights)."""
SAMPLE_FORMAT = 2
"""Bumped when the sample's columns change: an older sample is drawn again."""


@dataclass(frozen=True)
class SampleKey:
    """What a sample was drawn from: it is stale when any of these moved on."""

    source_version: int
    votes_version: int
    labels_version: int | None
    gold: str | None
    rows: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "source_version": self.source_version,
            "votes_version": self.votes_version,
            "labels_version": self.labels_version,
            "gold": self.gold,
            "requested_rows": self.rows,
            "format": SAMPLE_FORMAT,
        }


@dataclass(frozen=True)
class Sample:
    """The sample's rows (Arrow) and what its commit recorded."""

    rows: pa.Table
    meta: dict[str, Any]

    @property
    def lfs(self) -> list[str]:
        return list(self.meta["lfs"])

    @property
    def population(self) -> int:
        return int(self.meta["population"])


def _version(ref: TableRef) -> int | None:
    from deltalake import DeltaTable

    return int(DeltaTable(ref.uri).version()) if ref.exists() else None


def current_key(settings: Settings, ds: DatasetConfig, tables: DatasetTables, rows: int) -> SampleKey:
    """The versions a sample drawn now would read (delta-rs logs only); a StageOrderError before the
    first votes."""
    from jobs.hand_labels.gold_set import evaluation_gold_ref

    votes_version = _version(tables.votes)
    if votes_version is None:
        raise StageOrderError(
            f"lf try {ds.name}: no votes yet at {tables.votes.path}; run `labellake run --dataset {ds.name}` first"
        )
    source_version = int(commit_at(None, tables.votes, votes_version)["source_version"])
    gold_ref, where = evaluation_gold_ref(settings, ds)
    gold_version = _version(gold_ref)
    gold = None if gold_version is None else f"{gold_ref.role}@v{gold_version}:{where}"
    return SampleKey(source_version, votes_version, _version(tables.labels), gold, rows)


def stored_sample(tables: DatasetTables, key: SampleKey) -> Sample | None:
    """The sample on record when it was drawn for ``key``, else None."""
    from deltalake import DeltaTable

    ref = tables.lf_sample
    if not ref.exists():
        return None
    table = DeltaTable(ref.uri)
    history = table.history(1)
    meta = json.loads(history[0].get("userMetadata") or "{}") if history else {}
    if meta.get("key") != key.as_dict():
        return None
    return Sample(table.to_pyarrow_table(), meta)


def build_sample(spark: SparkSession, settings: Settings, ds: DatasetConfig, key: SampleKey) -> Sample:
    """Draw the sample for ``key`` with Spark, write it to ``lf_sample`` and return it."""
    from pyspark.sql import functions as F

    tables = dataset_tables(settings, ds.name)
    votes_meta = commit_at(spark, tables.votes, key.votes_version)
    lfs = list(votes_meta["lfs"])
    rows = _labeled_source(spark, settings, ds, tables, key)
    per_stratum = {str(r[0]): int(r[1]) for r in rows.groupBy(STRATUM).count().collect()}
    population = sum(per_stratum.values())
    quotas = stratum_quotas(per_stratum, key.rows)
    if population > key.rows:
        rows = _first_by_hash(rows, quotas, key.rows / max(population, 1))
    chosen = rows.persist()
    votes = tables.votes.read(spark, key.votes_version).join(F.broadcast(chosen.select("id")), "id")
    by_id = votes.groupBy("id").agg(F.map_from_entries(F.collect_list(F.struct("lf", "vote"))).alias("_m"))
    in_order = F.transform(
        F.array(*[F.lit(name) for name in lfs]), lambda name: F.coalesce(F.element_at("_m", name), F.lit(-1))
    )
    sample = (
        chosen.join(by_id, "id", "left")
        .join(_pattern_rows(spark, tables, key, lfs, len(ds.classes), chosen), "id", "left")
        .withColumn(VOTES, F.coalesce(in_order, F.array_repeat(F.lit(-1), len(lfs))))
        .drop("_m", "_hash")
        .orderBy("id")
    )
    meta = {
        "key": key.as_dict(),
        "lfs": lfs,
        "lf_versions": votes_meta["lf_versions"],
        "population": population,
        "strata": {s: [per_stratum[s], quotas[s]] for s in sorted(per_stratum)},
    }
    try:
        tables.lf_sample.overwrite(sample.coalesce(1), commit_metadata(**meta))
    except Exception:  # another try drawing the same sample at once: its commit wins, and serves
        if stored_sample(tables, key) is None:
            raise
    finally:
        chosen.unpersist()
    stored = stored_sample(tables, key)
    if stored is None:
        raise LabellakeError(f"lf try {ds.name}: another try replaced the sample while this one drew it; try again")
    return stored


def _pattern_rows(
    spark: SparkSession, tables: DatasetTables, key: SampleKey, lfs: list[str], n_classes: int, chosen: DataFrame
) -> DataFrame:
    """``(id, _pattern_rows)`` of the sampled ids: the rows of the whole table that share the id's
    vote pattern (the fit's unit), so a try can fit on the table's pattern counts, not the sample's."""
    from pyspark.sql import functions as F

    from jobs.patterns.vote_patterns import row_patterns

    ids = tables.source.read(spark, key.source_version).select("id")
    patterned = row_patterns(ids, tables.votes.read(spark, key.votes_version), lfs, n_classes)
    counts = patterned.rows.groupBy(*patterned.keys).agg(F.count(F.lit(1)).alias(PATTERN_ROWS))
    sampled = patterned.rows.join(F.broadcast(chosen.select("id")), "id")
    return sampled.join(counts, patterned.keys).select("id", PATTERN_ROWS)


def stratum_quotas(per_stratum: dict[str, int], size: int) -> dict[str, int]:
    """Rows per stratum for a sample of ``size``: proportional, rounded by largest remainder
    (every row when the table is no larger)."""
    population = sum(per_stratum.values())
    if population <= size:
        return dict(per_stratum)
    exact = {s: n * size / population for s, n in per_stratum.items()}
    quotas = {s: math.floor(x) for s, x in exact.items()}
    for s in sorted(exact, key=lambda s: (quotas[s] - exact[s], s))[: size - sum(quotas.values())]:
        quotas[s] += 1
    return quotas


def _labeled_source(
    spark: SparkSession, settings: Settings, ds: DatasetConfig, tables: DatasetTables, key: SampleKey
) -> DataFrame:
    """The source rows at the votes' source version, with gold, dev flag, published label and stratum."""
    from pyspark.sql import functions as F

    from jobs.hand_labels.gold_set import evaluation_gold
    from jobs.stages.fit.choose_model import dev_flag

    source = tables.source.read(spark, key.source_version)
    rows = source.select("id", *[c for c in source.columns if c != "id" and not c.startswith("_")])
    gold = evaluation_gold(spark, settings, ds)
    if gold is not None:
        rows = rows.join(gold.select("id", F.col("label").alias(GOLD)), "id", "left")
    else:
        rows = rows.withColumn(GOLD, F.lit(None).cast("int"))
    if key.labels_version is not None:
        labels = tables.labels.read(spark, key.labels_version).select("id", F.col("label").alias(PUBLISHED))
        rows = rows.join(labels, "id", "left")
    else:
        rows = rows.withColumn(PUBLISHED, F.lit(None).cast("int"))
    rows = rows.select(
        *[c for c in rows.columns if c not in (GOLD, PUBLISHED)],
        F.coalesce(F.col(GOLD), F.lit(-1)).cast("int").alias(GOLD),
        (F.col(GOLD).isNotNull() & dev_flag(ds.dev_percent)).alias(DEV),
        F.coalesce(F.col(PUBLISHED), F.lit(-1)).cast("int").alias(PUBLISHED),
    )
    return rows.withColumn(
        STRATUM, F.concat_ws("|", F.col(PUBLISHED).cast("string"), (F.col(GOLD) >= 0).cast("string"))
    )


def _first_by_hash(rows: DataFrame, quotas: dict[str, int], fraction: float) -> DataFrame:
    """Each stratum's first ``quota`` rows by a hash of the id. A cheap hash filter keeps about
    three times the quota (all of a small stratum) before the ranking, so the window sorts a
    few hundred thousand rows, not the table."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    hashed = rows.withColumn("_hash", F.xxhash64(F.lit("lf_sample"), "id"))
    keep = min(1.0, 3 * fraction)
    small = [s for s, q in quotas.items() if q < 1000]
    cheap = (F.pmod(F.col("_hash"), F.lit(1_000_000)) < int(keep * 1_000_000)) | F.col(STRATUM).isin(small)
    quota = F.create_map(*[x for s, q in quotas.items() for x in (F.lit(s), F.lit(q))])
    rank = F.row_number().over(Window.partitionBy(STRATUM).orderBy("_hash", "id"))
    return (
        hashed.where(cheap)
        .withColumn("_rank", rank)
        .where(F.col("_rank") <= F.element_at(quota, F.col(STRATUM)))
        .drop("_rank")
    )


def load_sample(settings: Settings, ds: DatasetConfig, rows: int, spark_factory: Any) -> tuple[Sample, bool]:
    """The sample for the current tables: the stored one (warm, no Spark) or a new one drawn with the
    session ``spark_factory()`` returns; True when it was drawn now."""
    tables = dataset_tables(settings, ds.name)
    key = current_key(settings, ds, tables, rows)
    stored = stored_sample(tables, key)
    if stored is not None:
        return stored, False
    log.info("lf try %s: drawing a sample of up to %d rows with Spark (kept until the tables change)", ds.name, rows)
    return build_sample(spark_factory(), settings, ds, key), True
