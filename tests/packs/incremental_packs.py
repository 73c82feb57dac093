"""LF pack versions for the incremental-rerun tests: the youtube pack, then an edit of it.

``pack_v2`` changes one LF's keywords, removes one LF and adds one, the three
kinds of LF change an incremental run must handle.
"""

from __future__ import annotations

import dataclasses

from lf_library.core import KeywordLF, LFPack, SqlLF
from lf_library.packs import load_pack


def pack_v1() -> LFPack:
    return load_pack("youtube_spam")


def pack_v2() -> LFPack:
    base = load_pack("youtube_spam")
    lfs = []
    for lf in base:
        if lf.name == "keyword_song":
            continue  # removed
        if lf.name == "keyword_please":
            lf = dataclasses.replace(lf, keywords=("please", "plz", "pls"))  # changed
        lfs.append(lf)
    lfs.append(KeywordLF("keyword_free", "SPAM", keywords=("free", "win"), description="giveaways", owner="tests"))
    return LFPack(base.name, base.classes, lfs)


def pack_spam_everywhere() -> LFPack:
    """The youtube pack plus a broken LF that votes SPAM on every row (an LF edit gone wrong)."""
    base = load_pack("youtube_spam")
    always = SqlLF("always_spam", "SPAM", condition="true", description="a bad edit", owner="tests")
    return LFPack(base.name, base.classes, [*base, always])


def pack_v3() -> LFPack:
    """``pack_v2`` with two LFs edited and none added or removed (the patterns are updated, not rebuilt)."""
    base = pack_v2()
    edits = {"keyword_please": ("please", "plz", "pls", "subscribe"), "keyword_free": ("free", "win", "gift")}
    return LFPack(
        base.name,
        base.classes,
        [dataclasses.replace(lf, keywords=edits[lf.name]) if lf.name in edits else lf for lf in base],
    )
