"""Plain-Python versions of the declarative LFs, with the semantics they are specified by.

Used as the row-at-a-time baseline of ``labellake bench lfs`` (the way
Snorkel's ``SparkLFApplier`` runs LFs) and to cross-check the compiled Spark
expressions. Never used in a labeling run.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from lf_library.core import ABSTAIN, KeywordLF, LabelingFunction, LFPack, RegexLF, WordCountLF


def python_lf(lf: LabelingFunction, pack: LFPack) -> Callable[[str | None], int]:
    """``f(text) -> vote`` for a declarative LF (SqlLF and Python LFs have none)."""
    label = pack.label_index(lf)
    if isinstance(lf, KeywordLF):
        keywords = lf.keywords if lf.case_sensitive else tuple(k.lower() for k in lf.keywords)
        if lf.match == "substring":

            def keyword(text: str | None) -> int:
                if text is None:
                    return ABSTAIN
                hay = text if lf.case_sensitive else text.lower()
                return label if any(k in hay for k in keywords) else ABSTAIN

            return keyword
        pattern = re.compile(r"\b(?:" + "|".join(re.escape(k) for k in keywords) + r")\b")

        def word(text: str | None) -> int:
            if text is None:
                return ABSTAIN
            return label if pattern.search(text if lf.case_sensitive else text.lower()) else ABSTAIN

        return word
    if isinstance(lf, RegexLF):
        compiled = re.compile(lf.pattern, re.I if lf.ignore_case else 0)

        def regex(text: str | None) -> int:
            if text is None:
                return ABSTAIN
            return label if compiled.search(text.lower() if lf.lowercase else text) else ABSTAIN

        return regex
    if isinstance(lf, WordCountLF):

        def word_count(text: str | None) -> int:
            if text is None:
                return ABSTAIN
            n = len(text.split())
            ok = (lf.min_words is None or n >= lf.min_words) and (lf.max_words is None or n < lf.max_words)
            return label if ok else ABSTAIN

        return word_count
    raise TypeError(f"LF {lf.name!r} ({lf.kind}) has no plain-Python reference")
