"""The week ``labellake bench week`` replays: the LF pack of each day and the source of each night."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.bench.incremental_bench import BASE_PACK_ENV, edit_lf
from jobs.core.settings import env_setting
from lf_library.core import KeywordLF, LabelingFunction, LFPack
from lf_library.packs import load_pack

EDITED_SUFFIX = " check out my channel and subscribe"
MALFORMED_LINES = (
    '{"id": "malformed-1", "text": "an unterminated string',
    "this line is not JSON at all",
    '{"id": "malformed-3" "text": "missing comma"}',
)
MALFORMED_FILE = "zz-partner-drop.json"


# ----------------------------------------------------------------- the LF packs of the week
def base_pack() -> LFPack:
    return load_pack(env_setting(BASE_PACK_ENV))


def edit_target(pack: LFPack) -> LabelingFunction:
    keyword_lfs = [lf for lf in pack if isinstance(lf, KeywordLF)]
    target = next((lf for lf in keyword_lfs if len(lf.keywords) > 1), None) or next(
        (lf for lf in pack if edit_lf(lf) is not None), None
    )
    if target is None:
        raise ValueError(f"pack {pack.name!r} has no keyword or regex LF to edit")
    return target


def _edited(lf: LabelingFunction) -> LabelingFunction:
    """A real edit: drop a keyword LF's last keyword when it has several (votes change), else add an
    alternative (:func:`jobs.bench.incremental_bench.edit_lf`)."""
    if isinstance(lf, KeywordLF) and len(lf.keywords) > 1:
        return dataclasses.replace(lf, keywords=lf.keywords[:-1])
    edited = edit_lf(lf)
    if edited is None:
        raise ValueError(f"LF {lf.name!r} has no alternative to add or remove")
    return edited


def week_pack_day1() -> LFPack:
    return base_pack()


def week_pack_day4() -> LFPack:
    """Day 4 on: one keyword LF edited."""
    pack = base_pack()
    target = edit_target(pack)
    return LFPack(pack.name, pack.classes, [_edited(lf) if lf is target else lf for lf in pack])


def removed_lf_name(pack: LFPack) -> str:
    """The LF day 6 removes: the pack's last LF that is not the edited one."""
    target = edit_target(pack)
    return next(lf.name for lf in reversed(list(pack)) if lf.name != target.name)


def week_pack_day6() -> LFPack:
    """Day 6 on: the day-4 pack without one LF."""
    pack = week_pack_day4()
    removed = removed_lf_name(base_pack())
    return LFPack(pack.name, pack.classes, [lf for lf in pack if lf.name != removed])


PACKS = {1: "week_pack_day1", 4: "week_pack_day4", 6: "week_pack_day6"}


def pack_for(day: int) -> str:
    return PACKS[max(d for d in PACKS if d <= day)]


# ----------------------------------------------------------------- the source of each night
@dataclass(frozen=True)
class Night:
    day: int
    change: str
    source_changes: bool


NIGHTS = (
    Night(1, "first load (90% of rows)", True),
    Night(2, "rows appended (the other 10%)", True),
    Night(3, "texts edited and rows deleted (1% each)", True),
    Night(4, "one LF edited", False),
    Night(5, "a malformed file arrives", True),
    Night(6, "one LF removed", False),
    Night(7, "nothing changed", False),
)


def indexed(scaled: DataFrame) -> DataFrame:
    return scaled.withColumn("_i", F.substring("id", 2, 20).cast("long"))


def night_source(scaled: DataFrame, rows: int, day: int) -> DataFrame:
    """The base rows live on ``day``: ``(id, text)``; the malformed file's rows come on top."""
    frame = indexed(scaled)
    if day == 1:
        frame = frame.where(F.col("_i") < int(rows * 0.9))
    if day >= 3:
        frame = frame.where(F.col("_i") % 100 != 3).withColumn(
            "text", F.when(F.col("_i") % 100 == 7, F.concat("text", F.lit(EDITED_SUFFIX))).otherwise(F.col("text"))
        )
    return frame.select("id", "text")


def write_partner_file(path: Path, texts: list[str]) -> int:
    """The day-5 file: good rows with new ids, one row with empty text, and malformed lines."""
    lines = [json.dumps({"id": f"partner-{i:04d}", "text": t}) for i, t in enumerate(texts)]
    lines.insert(len(lines) // 2, json.dumps({"id": "partner-empty", "text": "  "}))
    lines[1:1] = list(MALFORMED_LINES)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(texts)
