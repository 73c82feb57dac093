"""LF packs for the gate tests: the youtube pack plus an LF that votes outside its declared label."""

from __future__ import annotations

from lf_library.core import LFPack
from lf_library.packs import load_pack
from lf_library.python_lf import labeling_function


@labeling_function(label="SPAM")
def says_ham_on_check(x):
    """Declared SPAM, returns HAM: the votes check must block it."""
    return "HAM" if "check" in x.text.lower() else None


def pack_wrong_label() -> LFPack:
    base = load_pack("youtube_spam")
    return LFPack(base.name, base.classes, [*base, says_ham_on_check])
