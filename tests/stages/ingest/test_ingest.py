"""Bad input is quarantined with a reason; nothing is dropped silently."""

from __future__ import annotations

import dataclasses
import glob
import json
import os
import time
from pathlib import Path

import pyarrow as pa
from deltalake import DeltaTable

from jobs.core.datasets import get_dataset
from jobs.core.lineage import RunContext, utc_now
from jobs.core.settings import Settings
from jobs.lake.tables import table
from jobs.stages.ingest.reuse import input_fingerprint
from jobs.stages.ingest.stage import run_ingest
from tests.conftest import DATA_ROOT, YOUTUBE, write_config

BAD_CSV = (
    "COMMENT_ID,AUTHOR,DATE,CONTENT,CLASS\n"
    'a1,ann,2013-11-07,"Check out my channel, please",1\n'
    "a2,bob,2013-11-07,,0\n"  # empty text
    ",cid,2013-11-07,no id here,1\n"  # empty id
    "   ,dan,2013-11-07,blank id,1\n"  # whitespace id
    'a1,ann,2013-11-07,"Check out my channel, please",1\n'  # exact duplicate
    'a3,eve,2013-11-07,"a comment\nover two lines",0\n'
    "a4,fay,2013-11-07,too,many,fields,here,1\n"  # malformed
    "a3,gus,2013-11-08,same id other text,1\n"  # conflicting duplicate
    "a5,hal,2013-11-08,nice song,0\n"
    "a6,ivy,2013-11-08,gold unknown,7\n"  # gold value outside the mapping
)


def _dataset(tmp_path: Path, settings: Settings):
    data = tmp_path / "data"
    (data / "bad").mkdir(parents=True)
    (data / "bad" / "part1.csv").write_text(BAD_CSV)
    (data / "bad" / "part2.csv").write_text(
        "COMMENT_ID,AUTHOR,DATE,CONTENT,CLASS\n"
        "a5,hal,2013-11-08,nice song,0\n"  # duplicate across files
        'b1,joe,2013-11-09,"unclosed quote,1\n'  # the parser reads on to the next quote...
        "b2,kim,2013-11-09,fine row,0\n"  # ...swallowing this row (recovered: issue 29 item 15)
        'b3,lee,2013-11-09,"quoted, fine",1\n'  # and this one, whose quote ends the malformed record
        "b4,max,2013-11-09,last row,0\n"
    )
    # 3 of 15 rows lack an id or text and 8 are quarantined: far above the default 5%, which would
    # (rightly) stop a real feed; here the point is that each bad row is quarantined with its reason.
    lenient = {**YOUTUBE["expectations"], "max_null_share": 0.5, "max_quarantine_share": 0.7}
    config = write_config(
        tmp_path / "datasets.toml", {"bad": {**YOUTUBE, "source_path": "bad/*.csv", "expectations": lenient}}
    )
    import dataclasses

    settings = dataclasses.replace(settings, data_root=data, config_path=config)
    return settings, get_dataset("bad", settings)


def test_bad_rows_go_to_quarantine_with_reasons(spark, tmp_path: Path, settings: Settings) -> None:
    settings, ds = _dataset(tmp_path, settings)
    result = run_ingest(spark, ds, settings, RunContext("r1", "bad"), utc_now())

    source = DeltaTable(str(table(settings, "bad", "source").path)).to_pandas()
    quarantine = DeltaTable(str(table(settings, "bad", "quarantine").path)).to_pandas()
    gold = DeltaTable(str(table(settings, "bad", "gold").path)).to_pandas()

    assert sorted(source["id"]) == ["a1", "a3", "a5", "a6", "b2", "b3", "b4"]
    assert source.set_index("id").loc["b3", "text"] == "quoted, fine"
    assert "class" not in source.columns  # gold never reaches LF input
    assert source.set_index("id").loc["a3", "text"] == "a comment\nover two lines"
    reasons = quarantine["_reason"].str.replace(r" first kept from .*", "", regex=True)
    assert sorted(reasons) == sorted(
        [
            "null or empty text",
            "null or empty id",
            "null or empty id",
            "duplicate id (identical row)",
            "malformed record",
            "duplicate id (conflicting content)",
            "duplicate id (identical row)",
            "malformed record",
        ]
    )
    malformed = quarantine[quarantine["_reason"] == "malformed record"]["_corrupt_record"].tolist()
    assert any("too,many,fields" in m for m in malformed)
    # The unclosed quote's record keeps its own line; the rows it swallowed were read on their own.
    assert 'b1,joe,2013-11-09,"unclosed quote,1' in malformed and not any("b2,kim" in m for m in malformed)
    dup = quarantine[quarantine["_reason"].str.startswith("duplicate id (identical")]
    assert dup["_reason"].str.contains("part1.csv").all()  # first copy kept from the first file

    assert result.input_rows == 15
    assert result.input_rows == result.accepted + result.quarantined_total
    assert result.accepted == len(source) and result.quarantined_total == len(quarantine)
    assert sorted(gold["id"]) == ["a1", "a3", "a5", "b2", "b3", "b4"]  # a6's gold value 7 is unknown
    assert set(gold["label_name"]) <= {"HAM", "SPAM"}


def test_rerun_of_same_run_does_not_duplicate_quarantine(spark, tmp_path: Path, settings: Settings) -> None:
    settings, ds = _dataset(tmp_path, settings)
    run_ingest(spark, ds, settings, RunContext("r1", "bad", mode="full"), utc_now())
    run_ingest(spark, ds, settings, RunContext("r1", "bad", mode="full"), utc_now())  # Airflow retry
    run_ingest(spark, ds, settings, RunContext("r2", "bad", mode="full"), utc_now())
    quarantine = DeltaTable(str(table(settings, "bad", "quarantine").path)).to_pandas()
    assert quarantine.groupby("_run_id").size().to_dict() == {"r1": 8, "r2": 8}


def test_incremental_run_reuses_unchanged_input(spark, tmp_path: Path, settings: Settings) -> None:
    """Same files, same reading options: the source version is reused; a touched file is re-read."""
    settings, ds = _dataset(tmp_path, settings)
    first = run_ingest(spark, ds, settings, RunContext("r1", "bad"), utc_now())
    again = run_ingest(spark, ds, settings, RunContext("r2", "bad"), utc_now())
    assert again.reused and again.source_version == first.source_version
    assert (again.accepted, again.quarantined) == (first.accepted, first.quarantined)
    for path in ds.source_globs(settings):
        for name in glob.glob(path):
            os.utime(name, ns=(time.time_ns(), time.time_ns()))
    touched = run_ingest(spark, ds, settings, RunContext("r3", "bad"), utc_now())
    assert not touched.reused and touched.source_version == first.source_version + 1
    # A reading setting is part of the fingerprint: the same files read another way are re-read.
    replacing = dataclasses.replace(ds, invalid_utf8="replace")
    assert input_fingerprint(replacing, settings) != input_fingerprint(ds, settings)


ENCODINGS_CSV = (
    b"COMMENT_ID,AUTHOR,DATE,CONTENT,CLASS\n"
    b"u1,ann,2013-11-07,plain ascii,0\n"
    b"u2,bob,2013-11-07,caf\xc3\xa9 in utf-8 \xe2\x9c\x93,1\n"
    b"u3,cid,2013-11-07,caf\xe9 in latin-1,0\n"  # \xe9 alone is not UTF-8
    b'u4,dan,2013-11-07,"a literal \xef\xbf\xbd char\nover two lines",1\n'  # U+FFFD itself, valid UTF-8
    b"u5,eve\xff,2013-11-07,a bad byte in the author,0\n"
)


def test_bytes_that_are_not_utf8_are_quarantined_with_the_bytes_or_replaced_as_configured(
    spark, tmp_path: Path, settings: Settings, caplog
) -> None:
    """Issue 29 item 14: Spark alone would have replaced the bytes with U+FFFD and lost them."""
    import base64
    import logging

    (tmp_path / "data" / "enc").mkdir(parents=True)
    (tmp_path / "data" / "enc" / "part.csv").write_bytes(ENCODINGS_CSV)
    lenient = {**YOUTUBE["expectations"], "max_quarantine_share": 0.5, "max_file_quarantine_share": 0.5}
    for mode in ("quarantine", "replace"):
        entry = {**YOUTUBE, "source_path": "enc/*.csv", "expectations": lenient, "invalid_utf8": mode}
        config = write_config(tmp_path / f"{mode}.toml", {"enc": entry})
        run_settings = dataclasses.replace(
            settings, home=tmp_path / mode, data_root=tmp_path / "data", config_path=config
        )
        with caplog.at_level(logging.WARNING, logger="jobs"):
            run_ingest(spark, get_dataset("enc", run_settings), run_settings, RunContext("r1", "enc"), utc_now())
        source = DeltaTable(str(table(run_settings, "enc", "source").path)).to_pandas().set_index("id")
        texts = source["text"].to_dict()
        assert texts["u1"] == "plain ascii" and texts["u2"] == "café in utf-8 ✓"
        assert texts["u4"] == "a literal \ufffd char\nover two lines"  # valid text, kept as it is
        if mode == "quarantine":
            assert sorted(source.index) == ["u1", "u2", "u4"]
            quarantine = DeltaTable(str(table(run_settings, "enc", "quarantine").path)).to_pandas()
            reasons = dict(zip(quarantine["comment_id"], quarantine["_reason"], strict=True))
            assert reasons == {"u3": "invalid UTF-8 bytes in CONTENT", "u5": "invalid UTF-8 bytes in AUTHOR"}
            kept = dict(zip(quarantine["comment_id"], quarantine["_corrupt_record"], strict=True))
            assert base64.b64encode(b"caf\xe9 in latin-1").decode() in kept["u3"]
            assert base64.b64encode(b"eve\xff").decode() in kept["u5"]
        else:
            assert sorted(source.index) == ["u1", "u2", "u3", "u4", "u5"]
            assert texts["u3"] == "caf\ufffd in latin-1" and source.loc["u5", "author"] == "eve\ufffd"
            assert any("2 rows had invalid UTF-8 bytes" in r.getMessage() for r in caplog.records)


ENCODINGS_JSON = (
    b'{"COMMENT_ID": "u1", "AUTHOR": "ann", "CONTENT": "plain ascii", "CLASS": 0}\n'
    b'{"COMMENT_ID": "u2", "AUTHOR": "bob", "CONTENT": "caf\xc3\xa9 \xe2\x9c\x93 or caf\\u00e9", "CLASS": 1}\n'
    b'{"COMMENT_ID": "u3", "AUTHOR": "cid", "CONTENT": "caf\xe9 in latin-1", "CLASS": 0}\n'
    b"\n"
    b'{"COMMENT_ID": "u4", "AUTHOR": "dan", "CONTENT": "a literal \xef\xbf\xbd char\\nover two lines", "CLASS": 1}\n'
    b'{"COMMENT_ID": "u5", "AUTHOR": "eve\xff", "CONTENT": "a bad byte in the author", "CLASS": 0}\n'
    b'{"COMMENT_ID": "u6", "CONTENT": "cut off\n'
)


def test_json_lines_that_are_not_utf8_are_quarantined_with_their_bytes(spark, tmp_path: Path, settings: Settings):
    """Item 14 for JSON lines: each line's bytes are checked before it is parsed; valid lines (escapes,
    a literal U+FFFD) read exactly as Spark's JSON reader reads them."""
    import base64

    from jobs.stages.ingest.json_lines import read_json_lines

    (tmp_path / "data" / "enc").mkdir(parents=True)
    path = tmp_path / "data" / "enc" / "part.json"
    path.write_bytes(ENCODINGS_JSON)
    lenient = {
        **YOUTUBE["expectations"],
        "max_quarantine_share": 0.6,
        "max_file_quarantine_share": 0.6,
        "max_null_share": 0.2,
    }
    entry = {**YOUTUBE, "source_path": "enc/*.json", "format": "json", "expectations": lenient}
    config = write_config(tmp_path / "json.toml", {"enc": entry})
    run_settings = dataclasses.replace(settings, data_root=tmp_path / "data", config_path=config)
    run_ingest(spark, get_dataset("enc", run_settings), run_settings, RunContext("r1", "enc"), utc_now())
    source_table = DeltaTable(str(table(run_settings, "enc", "source").path))
    source = source_table.to_pandas().set_index("id")
    assert sorted(source.index) == ["u1", "u2", "u4"]
    stats = {c for c in pa.table(source_table.get_add_actions(flatten=True)).column_names if c.startswith("min.")}
    assert stats == {"min.id", "min._source_file", "min._run_id"}  # none on the text
    assert source_table.history(1)[0]["userMetadata"]  # committed by delta-rs with the run's lineage
    assert (
        source.loc["u2", "text"] == "café ✓ or café"
        and source.loc["u4", "text"] == "a literal \ufffd char\nover two lines"
    )
    quarantine = DeltaTable(str(table(run_settings, "enc", "quarantine").path)).to_pandas()
    reasons = dict(zip(quarantine["comment_id"].fillna("-"), quarantine["_reason"], strict=True))
    assert reasons == {
        "u3": "invalid UTF-8 bytes in CONTENT",
        "u5": "invalid UTF-8 bytes in AUTHOR",
        "-": "malformed record",
    }
    kept = dict(zip(quarantine["comment_id"].fillna("-"), quarantine["_corrupt_record"], strict=True))
    assert base64.b64encode(b"caf\xe9 in latin-1").decode() in kept["u3"] and '"cut off' in kept["-"]

    # The valid lines read as Spark's own JSON reader reads them; the invalid ones with U+FFFD.
    columns = ["COMMENT_ID", "AUTHOR", "CONTENT", "CLASS"]
    ours = read_json_lines(spark, [str(path)], columns, "_corrupt_record", {}).toPandas().set_index("COMMENT_ID")
    spark_reader = spark.read.schema(", ".join(f"{c} string" for c in columns)).json(str(path)).toPandas()
    theirs = spark_reader.dropna(subset=["COMMENT_ID"]).set_index("COMMENT_ID")
    for valid in ("u1", "u2", "u4"):
        assert ours.loc[valid, columns[1:]].tolist() == theirs.loc[valid, columns[1:]].tolist()
    assert ours.loc["u3", "CONTENT"] == "caf\ufffd in latin-1" and ours.loc["u5", "AUTHOR"] == "eve\ufffd"
    assert ours["_invalid_utf8"].notna().sum() == 2 and ours.loc["u1", "CLASS"] == "0"


def test_an_unchanged_ingest_completes_without_spark_and_a_changed_one_records_nothing(
    spark, tmp_path: Path, settings: Settings
) -> None:
    """What the DAG checks before an ingest's spark-submit (jobs.pipeline.stage_without_spark)."""
    from jobs.lake.runs import run_record
    from jobs.pipeline import run_stage, stage_without_spark

    settings, ds = _dataset(tmp_path, settings)
    run_stage("ingest", RunContext("first", "bad"), settings, spark)
    source = table(settings, "bad", "source")
    version = DeltaTable(str(source.path)).version()
    assert stage_without_spark("ingest", RunContext("unchanged", "bad"), settings)
    record = run_record(None, settings, "unchanged", "bad")
    assert record["stage"] == "ingest" and record["status"] == "running" and record["source_version"] == version
    assert record["quarantined_rows"] == run_record(None, settings, "first", "bad")["quarantined_rows"] > 0
    assert not stage_without_spark("apply_lfs", RunContext("unchanged", "bad"), settings)
    assert not stage_without_spark("ingest", RunContext("rebuild", "bad", mode="full"), settings)

    os.utime(settings.data_root / "bad" / "part2.csv")  # touched: it must be read again
    assert not stage_without_spark("ingest", RunContext("touched", "bad"), settings)
    assert run_record(None, settings, "touched", "bad") is None
    assert DeltaTable(str(source.path)).version() == version


def test_json_object_files_take_the_json_reader_and_read_as_line_by_line(spark, tmp_path: Path) -> None:
    """Real IMDB review lines: files of UTF-8 JSON objects are read by Spark's JSON reader, a file
    with a top-level array line or a byte that is not UTF-8 line by line; all rows equal reading
    every file line by line (the array is one malformed row, not one row per element)."""
    import gzip
    import json

    from jobs.stages.ingest.json_lines import _parsed_lines, files_read_by_line, read_json_lines

    with gzip.open(DATA_ROOT / "imdb" / "test.jsonl.gz", "rt", encoding="utf-8") as f:
        lines = [next(f) for _ in range(300)]
    paths = {name: tmp_path / f"{name}.json" for name in ("clean", "array", "latin")}
    paths["clean"].write_text("".join(lines[:200]) + "\t\n", encoding="utf-8")
    array = "[" + ", ".join(line.strip() for line in lines[200:202]) + "]\n"
    paths["array"].write_text("".join(lines[202:250]) + " \t \n" + array, encoding="utf-8")  # blank: skipped
    paths["latin"].write_bytes("".join(lines[250:]).encode() + b'{"id": "x", "text": "caf\xe9"}\n')
    files = [str(p) for p in paths.values()]

    assert [Path(uri).name for uri in files_read_by_line(spark, files)] == ["array.json", "latin.json"]
    columns = ["id", "label", "rating", "text"]
    ours = read_json_lines(spark, files, columns, "_corrupt_record", {}).drop("_block_start").toPandas()
    by_line = _parsed_lines(spark, files, columns, "_corrupt_record", {}).drop("_block_start").toPandas()
    assert len(ours) == 300 and sorted(map(str, ours.values.tolist())) == sorted(map(str, by_line.values.tolist()))
    assert ours["_corrupt_record"].dropna().map(json.loads).map(len).tolist() == [2]
    assert ours["_invalid_utf8"].notna().sum() == 1


def test_json_keys_with_dots_and_backticks_survive_the_duplicate_window(
    spark, tmp_path: Path, settings: Settings
) -> None:
    """Keys are column names, not paths: ``meta.source`` and a backticked key are read, hashed for the
    duplicate check (a repeated id takes the window path) and written under their sanitized names."""
    (tmp_path / "data" / "keys").mkdir(parents=True)
    lines = [
        {"COMMENT_ID": "k1", "CONTENT": "first", "CLASS": "0", "meta.source": "web", "`odd`": "tick"},
        {"COMMENT_ID": "k2", "CONTENT": "second", "CLASS": "1", "meta.source": "app"},
        {"COMMENT_ID": "k1", "CONTENT": "first, edited", "CLASS": "0", "meta.source": "web"},
    ]
    (tmp_path / "data" / "keys" / "part.json").write_text("".join(json.dumps(line) + "\n" for line in lines))
    lenient = {**YOUTUBE["expectations"], "max_quarantine_share": 0.5, "max_file_quarantine_share": 0.5}
    entry = {**YOUTUBE, "source_path": "keys/*.json", "format": "json", "expectations": lenient}
    config = write_config(tmp_path / "keys.toml", {"keys": entry})
    run_settings = dataclasses.replace(settings, data_root=tmp_path / "data", config_path=config)
    result = run_ingest(spark, get_dataset("keys", run_settings), run_settings, RunContext("r1", "keys"), utc_now())
    [(reason, rows)] = result.quarantined.items()
    assert result.accepted == 2 and rows == 1 and reason.startswith("duplicate id (conflicting content)")
    source = DeltaTable(str(table(run_settings, "keys", "source").path)).to_pandas().set_index("id")
    assert source.loc["k1", "meta_source"] == "web" and source.loc["k1", "odd"] == "tick"
    assert source.loc["k2", "meta_source"] == "app" and source.loc["k2", "odd"] is None
