"""An LF tried inline on sms_spam (``--python tests.packs.try_lfs:many_digits``) and the pack that adds it."""

from __future__ import annotations

import re

from lf_library.core import LFPack
from lf_library.packs import load_pack
from lf_library.python_lf import PythonLF, labeling_function

_DIGITS = re.compile(r"\d")


@labeling_function(label="SPAM")
def many_digits(x: object) -> str | None:
    """Phone numbers and prize codes: ten digits or more."""
    return "SPAM" if len(_DIGITS.findall(str(getattr(x, "text", "") or ""))) >= 10 else None


def sms_plus_many_digits() -> LFPack:
    base = load_pack("sms_spam")
    assert isinstance(many_digits, PythonLF)
    return LFPack(base.name, base.classes, [*base, many_digits])
