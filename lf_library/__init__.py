"""The labeling-function SDK and the LF packs.

- ``lf_library.core``     what an LF is: name, the class it votes, its rule, its version
- ``lf_library.compile``  where a declarative LF becomes a Spark column expression
- ``lf_library.packs``    the LF packs, one module per dataset family

An LF votes a class index or abstains (``ABSTAIN`` = -1).
"""

from lf_library.core import (
    ABSTAIN,
    KeywordLF,
    LabelingFunction,
    LFPack,
    LookupLF,
    RegexLF,
    SqlLF,
    ThresholdLF,
    WordCountLF,
)

__all__ = [
    "ABSTAIN",
    "KeywordLF",
    "LabelingFunction",
    "LFPack",
    "LookupLF",
    "RegexLF",
    "SqlLF",
    "ThresholdLF",
    "WordCountLF",
]
