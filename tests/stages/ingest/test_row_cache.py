"""The ingest's row cache gives back every string byte for byte (it holds them as bytes)."""

from __future__ import annotations

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from jobs.stages.ingest.row_cache import cached_rows


def test_cached_rows_give_back_the_frame(spark: SparkSession) -> None:
    rows = [("a1", "plain", "f.csv", 1), (None, "", "f.csv", 2), ("a\u00e9", "emoji \U0001f600 and \t tab", "g.csv", 3)]
    frame = spark.createDataFrame(rows, "`id.x` string, `te``xt` string, _source_file string, n long")
    # A Spark string can hold bytes that are not UTF-8: those survive too.
    invalid = spark.createDataFrame([("b1", None, "g.csv", 4)], frame.schema)
    frame = frame.unionByName(invalid.withColumn("te`xt", F.unhex(F.lit("C328")).cast("string")))
    view, cached = cached_rows(frame, ["_source_file"])
    try:
        cached_types = dict(cached.dtypes)
        assert cached_types["id.x"] == "binary" and cached_types["te`xt"] == "binary"
        assert cached_types["_source_file"] == "string" and cached_types["n"] == "bigint"
        assert view.schema == frame.schema
        key = F.col("n")
        assert view.orderBy(key).select(F.hex("`te``xt`"), "`id.x`").collect() == (
            frame.orderBy(key).select(F.hex("`te``xt`"), "`id.x`").collect()
        )
        assert view.orderBy(key).collect() == frame.orderBy(key).collect()
    finally:
        cached.unpersist()
