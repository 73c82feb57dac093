"""A staging table an older labellake wrote with other columns is started afresh; one whose
schema differs only in nullability keeps its earlier runs' candidates."""

from __future__ import annotations

from pathlib import Path

from deltalake import DeltaTable

from jobs.lake.table_files import table_schema
from jobs.lake.tables import TableRef
from jobs.stages.fit.outputs import reset_staging_if_schema_changed

STAGED = "id string, label int, probs array<double>, _run_id string"


def test_staging_with_other_columns_is_reset_and_nullability_is_not_a_change(spark, tmp_path: Path) -> None:
    ref = TableRef("ds", "staging_labels", tmp_path / "staging")
    staged = spark.createDataFrame([("a", 1, [0.2, 0.8], "run-1")], STAGED)
    staged.write.format("delta").partitionBy("_run_id").save(str(ref.path))
    # Delta reads the array back as containsNull=true: the same columns and types, nothing dropped.
    assert table_schema(spark, ref).simpleString() == staged.schema.simpleString()
    reset_staging_if_schema_changed(spark, ref, staged)
    assert DeltaTable(str(ref.path)).version() == 0

    wider = spark.createDataFrame(
        [("a", 1, [0.2, 0.8], 0.8, "run-2")], STAGED.replace(", _run_id", ", confidence double, _run_id")
    )
    reset_staging_if_schema_changed(spark, ref, wider)
    table = DeltaTable(str(ref.path))
    assert table.version() == 1 and table.to_pyarrow_table().num_rows == 0
    assert table_schema(spark, ref).fieldNames() == wider.columns
