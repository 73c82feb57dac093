"""The 73 SMS spam regex rules used by WRENCH's ``sms`` dataset (HAM = 0, SPAM = 1).

Reproduces the stored votes of WRENCH ``sms/train.json`` exactly
(``tests/lf_library/test_rule_packs.py``).
"""

from lf_library.core import LFPack
from lf_library.packs.regex_rules import rules_pack

CLASSES = ("HAM", "SPAM")


def build_pack() -> LFPack:
    return rules_pack(
        "sms_spam", CLASSES, "sms_spam.tsv", {"ham": "HAM", "spam": "SPAM"}, owner="Awasthi et al. 2020 (WRENCH sms)"
    )
