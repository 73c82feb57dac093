"""The 68 TREC question-type regex rules used by WRENCH's ``trec`` dataset (6 classes).

Class order follows WRENCH's ``label.json``: DESC, ENTY, HUM, ABBR, LOC, NUM.
Reproduces WRENCH ``trec/train.json`` and ``valid.json`` exactly.
"""

from lf_library.core import LFPack
from lf_library.packs.regex_rules import rules_pack

CLASSES = ("DESC", "ENTY", "HUM", "ABBR", "LOC", "NUM")
ALIASES = {
    "DESCRIPTION": "DESC",
    "ENTITY": "ENTY",
    "HUMAN": "HUM",
    "ABBREVIATION": "ABBR",
    "LOCATION": "LOC",
    "NUMERIC": "NUM",
}


def build_pack() -> LFPack:
    return rules_pack("trec", CLASSES, "trec.tsv", ALIASES, owner="Awasthi et al. 2020 (WRENCH trec)")
