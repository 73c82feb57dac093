"""Packs defined by a rules file: one ``CLASS<TAB>regex`` line per LF.

Rule sets from the literature (e.g. the SMS and TREC rules of Awasthi et al.,
ICLR 2020, used by WRENCH) are lists of regexes with a class each. Keeping
them as a rules file (``lf_library/packs/rules/*.tsv``) keeps the pack code to
one call, and names each LF after its index, class and first keyword so a
vote table or an LF report reads like the rule list.
"""

from __future__ import annotations

import re
from pathlib import Path

from lf_library.core import LFPack, RegexLF

RULES_DIR = Path(__file__).parent / "rules"
_WORD = re.compile(r"[a-z0-9]+")


def _rule_name(index: int, label: str, pattern: str) -> str:
    words = _WORD.findall(pattern.lower())
    hint = "_".join(dict.fromkeys(w for w in words if w not in {"w", "s", "0", "1"}))[:40].strip("_")
    return f"{label.lower()}_{index:02d}_{hint or 'rule'}"


def rules_pack(
    name: str, classes: tuple[str, ...], rules_file: str, aliases: dict[str, str], owner: str, lowercase: bool = True
) -> LFPack:
    """A pack of :class:`RegexLF` s, in file order, from ``rules/<rules_file>``.

    ``aliases`` maps the file's class words to the pack's class names.
    """
    lfs = []
    lines = [
        line for line in (RULES_DIR / rules_file).read_text().splitlines() if line.strip() and not line.startswith("#")
    ]
    for index, line in enumerate(lines):
        label_word, pattern = line.split("\t", 1)
        label = aliases.get(label_word, label_word)
        lfs.append(
            RegexLF(
                _rule_name(index, label, pattern),
                label,
                pattern=pattern,
                lowercase=lowercase,
                owner=owner,
                description=f"rule {index} of {rules_file}: {pattern}",
            )
        )
    return LFPack(name, classes, lfs)
