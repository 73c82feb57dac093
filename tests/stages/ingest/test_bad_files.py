"""Files that are not what the dataset declares never reach the source table (issue 29, items 1, 2, 6).

Crafted from the real YouTube comments: a second CSV whose header has the
columns in another order, a gzip file and a JSON-lines file named ``.csv``,
an empty file that sorts first, and a compressed ``.csv.gz`` the dataset
declares. Ingest runs alone (no LF, no fit): these are about reading.
"""

from __future__ import annotations

import csv
import dataclasses
import gzip
import json
from pathlib import Path

import pytest
from deltalake import DeltaTable

from jobs.core.datasets import get_dataset
from jobs.core.errors import ValidationFailed
from jobs.core.lineage import RunContext, utc_now
from jobs.core.settings import Settings
from jobs.lake.tables import table
from jobs.stages.ingest.source_sniff import sniff_file
from jobs.stages.ingest.stage import run_ingest
from tests.conftest import DATA_ROOT, YOUTUBE, write_config

REAL = DATA_ROOT / "youtube_spam" / "Youtube01-Psy.csv"


def _real_rows(n: int, skip: int = 0) -> list[dict[str, str]]:
    with REAL.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))[skip : skip + n]


def _write_csv(path: Path, rows: list[dict[str, str]], columns: list[str]) -> str:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows({c: r[c] for c in columns} for r in rows)
    return path.read_text(encoding="utf-8")


def _settings(tmp_path: Path, settings: Settings, source_path: str, **expectations: object) -> Settings:
    entry = {**YOUTUBE, "source_path": source_path, "expectations": {**YOUTUBE["expectations"], **expectations}}
    config = write_config(tmp_path / "datasets.toml", {"yt": entry})
    return dataclasses.replace(settings, data_root=tmp_path / "data", config_path=config)


def test_junk_files_are_quarantined_whole_and_columns_map_by_name(spark, tmp_path: Path, settings: Settings) -> None:
    data = tmp_path / "data" / "yt"
    data.mkdir(parents=True)
    first, second = _real_rows(150), _real_rows(100, skip=150)
    text = _write_csv(data / "a.csv", first, ["COMMENT_ID", "AUTHOR", "DATE", "CONTENT", "CLASS"])
    _write_csv(data / "b.csv", second, ["CLASS", "COMMENT_ID", "CONTENT", "DATE", "AUTHOR"])  # other order
    (data / "c.csv").write_bytes(gzip.compress(text.encode()))  # gzip named .csv
    (data / "d.csv").write_text("\n".join(json.dumps(r) for r in _real_rows(60, skip=250)) + "\n")  # JSON lines
    (data / "0_empty.csv").write_bytes(b"")  # sorts first: its (missing) header must not be the schema
    strict = _settings(tmp_path, settings, "yt/*.csv")

    # Each junk file is one quarantined row but a third of the input's bytes: that blocks by default.
    with pytest.raises(ValidationFailed, match=r"source_quarantined_bytes_share .*observed 0\.[2-4]"):
        run_ingest(spark, get_dataset("yt", strict), strict, RunContext("r0", "yt"), utc_now())
    assert not table(strict, "yt", "source").exists()
    settings = _settings(tmp_path, settings, "yt/*.csv", max_quarantine_share=0.5)
    result = run_ingest(spark, get_dataset("yt", settings), settings, RunContext("r1", "yt"), utc_now())

    source = DeltaTable(str(table(settings, "yt", "source").path)).to_pandas().set_index("id")
    expected = {r["COMMENT_ID"]: r["CONTENT"] for r in first + second}
    assert result.accepted == len(expected) == len(source)
    assert source["text"].to_dict() == expected  # b.csv read by its own header: no text "0"/"1"
    assert not source.index.str.startswith("{").any()
    quarantine = DeltaTable(str(table(settings, "yt", "quarantine").path)).to_pandas()
    reasons = dict(zip(quarantine["_source_file"].str.rsplit("/", n=1).str[-1], quarantine["_reason"], strict=True))
    assert set(reasons) == {"c.csv", "d.csv"}
    assert "gzip-compressed" in reasons["c.csv"] and "JSON, not CSV" in reasons["d.csv"]
    assert result.input_rows == result.accepted + result.quarantined_total


def test_declared_gzip_input_is_read_and_a_file_of_garbage_lines_is_rejected(
    spark, tmp_path: Path, settings: Settings
) -> None:
    data = tmp_path / "data" / "yt"
    data.mkdir(parents=True)
    rows = _real_rows(80)
    text = _write_csv(tmp_path / "plain.csv", rows, ["COMMENT_ID", "AUTHOR", "DATE", "CONTENT", "CLASS"])
    (data / "a.csv.gz").write_bytes(gzip.compress(text.encode()))
    # The right header, then lines with too many fields: most records fail to parse.
    garbage = "COMMENT_ID,AUTHOR,DATE,CONTENT,CLASS\n" + "".join(f"g{i},x,y,z,w,v,u,{i}\n" for i in range(30))
    (data / "b.csv.gz").write_bytes(gzip.compress(garbage.encode()))
    # Two exports concatenated (the header again mid-file) with a trailing comma on each line, and
    # a file holding only a byte-order mark.
    header = "COMMENT_ID,AUTHOR,DATE,CONTENT,CLASS,"
    joined = f"{header}\nj1,a,d,first,0,\n{header}\nj2,a,d,second,1,\n"
    (data / "c.csv.gz").write_bytes(gzip.compress(joined.encode()))
    (data / "d.csv.gz").write_bytes(gzip.compress(b"\xef\xbb\xbf"))
    settings = _settings(tmp_path, settings, "yt/*.csv.gz", max_quarantine_share=0.5)

    result = run_ingest(spark, get_dataset("yt", settings), settings, RunContext("r1", "yt"), utc_now())

    source = DeltaTable(str(table(settings, "yt", "source").path)).to_pandas()
    assert sorted(source["id"]) == sorted([r["COMMENT_ID"] for r in rows] + ["j1", "j2"])
    assert not source["id"].str.startswith("g").any()
    assert result.quarantined["a repeated header line"] == 1
    [(reason, n)] = [(k, v) for k, v in result.quarantined.items() if "b.csv.gz" in k or "do not parse" in k]
    assert n == 30 and "30 of 30 records do not parse" in reason


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary content"),
        (b"PK\x03\x04rest-of-a-zip", "zip-compressed"),
        (b"id;text\n1;hello\n", "header lacks column(s)"),
        ("COMMENT_ID,CONTENT\nx,y\n".encode("utf-16"), "UTF-16 text (byte-order mark)"),
        (b"COMMENT_ID,CONTENT,content\nx,y,z\n", "header repeats column(s) ['CONTENT', 'content']"),
        (b"comment_id, CONTENT \nx,y\n", "'COMMENT_ID' is written 'comment_id'; 'CONTENT' is written ' CONTENT '"),
    ],
)
def test_sniff_names_what_a_file_is(tmp_path: Path, content: bytes, problem: str) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes(content)
    sniffed = sniff_file(str(path), "csv", {"header": "true"}, ["COMMENT_ID", "CONTENT"])
    assert sniffed.problem is not None and problem in sniffed.problem


def test_a_separator_of_several_characters_reads_the_header_by_name(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes(b"CONTENT;;COMMENT_ID;;\nhello;;x1;;\n")  # Spark takes sep ";;"; Python's csv does not
    sniffed = sniff_file(str(path), "csv", {"header": "true", "sep": ";;"}, ["COMMENT_ID", "CONTENT"])
    assert sniffed.problem is None and sniffed.header == ("CONTENT", "COMMENT_ID", "_c2")


def test_a_stray_nul_byte_is_text_and_a_declared_encoding_is_sniffed_in_it(tmp_path: Path) -> None:
    stray = tmp_path / "stray.csv"
    rows = b"".join(b"id%d,comment %d\n" % (i, i) for i in range(20))
    stray.write_bytes(b"COMMENT_ID,CONTENT\n" + rows + b"a,b\x00c\n")
    assert sniff_file(str(stray), "csv", {"header": "true"}, ["COMMENT_ID", "CONTENT"]).problem is None
    wide = tmp_path / "wide.csv"
    wide.write_bytes("COMMENT_ID,CONTENT\nx,y\n".encode("utf-16"))
    sniffed = sniff_file(str(wide), "csv", {"header": "true", "encoding": "UTF-16"}, ["COMMENT_ID", "CONTENT"])
    assert sniffed.problem is None and sniffed.header == ("COMMENT_ID", "CONTENT")


def test_json_keys_that_differ_only_in_case_and_a_json_array_do_not_fail_the_read(
    spark, tmp_path: Path, settings: Settings
) -> None:
    """One line spelling the id key ``ID`` made Spark's inference fail the whole dataset; a JSON array
    file where lines are declared was a 'does not parse' with no hint."""
    data = tmp_path / "data" / "js"
    data.mkdir(parents=True)
    rows = [{"id": r["COMMENT_ID"], "text": r["CONTENT"], "label": r["CLASS"]} for r in _real_rows(40)]
    lines = [json.dumps(r) for r in rows] + [json.dumps({"ID": "upper", "text": "check my channel", "label": "1"})]
    (data / "a.json").write_text("\n".join(lines) + "\n")
    (data / "b.json").write_text(json.dumps(rows[:3]))  # an array document
    entry = {**YOUTUBE, "source_path": "js/*.json", "format": "json", "id_column": "id", "text_column": "text"}
    entry = {**entry, "gold_column": "label", "expectations": {**YOUTUBE["expectations"], "max_quarantine_share": 0.5}}
    settings = dataclasses.replace(
        settings, data_root=tmp_path / "data", config_path=write_config(tmp_path / "d.toml", {"js": entry})
    )

    result = run_ingest(spark, get_dataset("js", settings), settings, RunContext("r1", "js"), utc_now())

    source = DeltaTable(str(table(settings, "js", "source").path)).to_pandas()
    assert sorted(source["id"]) == sorted(r["id"] for r in rows) and result.accepted == 40
    reasons = DeltaTable(str(table(settings, "js", "quarantine").path)).to_pandas()["_reason"].tolist()
    assert sorted(reasons) == sorted(
        [
            "null or empty id",
            'file quarantined whole: one JSON array, not JSON lines: declare read_options multiLine = "true"',
        ]
    )
