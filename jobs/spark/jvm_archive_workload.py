"""The Spark workload whose classes the driver archive holds (run by :func:`jobs.spark.jvm_archive.build_archive`
in a JVM that writes the archive at exit). Apart from jvm_archive, which Spark's conf imports."""

from __future__ import annotations

import sys
from pathlib import Path

from jobs.core.settings import Settings


def run_workload(root: Path) -> None:
    """What a relabel asks of the driver, in miniature: Arrow frames, Delta writes, MERGE,
    replaceWhere, time travel, history, SQL, joins, windows and a Python (Arrow) UDF."""
    import dataclasses

    import pandas as pd
    from delta.tables import DeltaTable
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from jobs.spark.session import get_spark

    settings = dataclasses.replace(Settings.from_env(), home=root / "lakehouse")
    spark = get_spark("labellake-jvm-archive", settings)
    words = ["free", "prize", "thanks", "song", "check", "video", "subscribe", "love"]
    rows = pd.DataFrame(
        {
            "id": [f"r{i}" for i in range(2000)],
            "text": [" ".join(words[(i + k) % len(words)] for k in range(i % 7 + 1)) for i in range(2000)],
            "lf": [f"lf{i % 5}" for i in range(2000)],
            "vote": [i % 3 - 1 for i in range(2000)],
        }
    )
    path = str(root / "votes")
    frame = spark.createDataFrame(rows)
    frame.write.format("delta").partitionBy("lf").save(path)
    votes = spark.read.format("delta").load(path)
    votes.where(F.col("text").rlike("(?i)\\bfree\\b")).groupBy("lf").agg(
        F.count("*"), F.avg(F.length("text")), F.collect_set("vote")
    ).collect()
    ranked = votes.withColumn("n", F.row_number().over(Window.partitionBy("lf").orderBy("id")))
    ranked.join(votes.groupBy("id").agg(F.max("vote").alias("top")), "id").where("n < 10").count()
    changed = votes.limit(200).withColumn("vote", F.lit(1))
    table = DeltaTable.forPath(spark, path)
    table.alias("t").merge(changed.alias("c"), "t.id = c.id AND t.lf = c.lf").whenMatchedUpdateAll().execute()
    votes.where("lf = 'lf0'").write.format("delta").mode("overwrite").option("replaceWhere", "lf = 'lf0'").save(path)
    spark.read.format("delta").option("versionAsOf", 0).load(path).exceptAll(votes).count()
    table.history().collect()
    votes.createOrReplaceTempView("votes")
    spark.sql("SELECT lf, count(DISTINCT id) FROM votes GROUP BY lf ORDER BY lf").toPandas()
    votes.mapInArrow(lambda batches: (b for b in batches), votes.schema).count()
    spark.stop()


if __name__ == "__main__":
    run_workload(Path(sys.argv[1]))
