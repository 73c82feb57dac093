"""The keyword / bigram LFs for IMDB sentiment (NEG = 0, POS = 1), after WeaSEL (Cachay et al.).

The phrase list is read from ``<data root>/imdb/lf_keywords_imdb.txt``
(``phrase index`` per line; lines 1-57 vote POS, the rest NEG: 136 phrases,
the shared README counts 135 because the last line has no newline), so the
pack is exactly the published list; each phrase matches as whole words in the
lowercased review. The LF versions hash the phrases themselves, so an edited
list shows up as changed LFs.
"""

from __future__ import annotations

import re
from pathlib import Path

from jobs.core.errors import ConfigError
from jobs.core.settings import Settings
from lf_library.core import KeywordLF, LFPack

CLASSES = ("NEG", "POS")
POSITIVE_LINES = 57
KEYWORDS_FILE = "imdb/lf_keywords_imdb.txt"


def _keyword_lines(root: Path | str) -> list[str]:
    """WeaSEL's keyword list under the data root: a folder, or an ``s3a://`` URI on an object store."""
    if isinstance(root, str):
        import obstore
        from obstore.store import S3Store

        bucket, _, prefix = root.removeprefix("s3a://").partition("/")
        key = f"{prefix}/{KEYWORDS_FILE}".lstrip("/")
        try:
            return bytes(obstore.get(S3Store(bucket), key).bytes()).decode().splitlines()
        except FileNotFoundError:
            raise ConfigError(f"LF pack imdb: keyword list {root}/{KEYWORDS_FILE} not found") from None
    path = root / KEYWORDS_FILE
    if not path.exists():
        raise ConfigError(f"LF pack imdb: keyword list {path} not found (set LABELLAKE_DATA_ROOT)")
    return path.read_text().splitlines()


def build_pack(settings: Settings | None = None) -> LFPack:
    lines = _keyword_lines((settings or Settings.from_env()).data_root)
    phrases = [line.rsplit(" ", 1)[0].strip() for line in lines if line.strip()]
    lfs = []
    for index, phrase in enumerate(phrases):
        label = "POS" if index < POSITIVE_LINES else "NEG"
        slug = re.sub(r"[^a-z0-9]+", "_", phrase.lower()).strip("_")
        lfs.append(
            KeywordLF(
                f"{label.lower()}_{slug}",
                label,
                keywords=(phrase,),
                match="word",
                owner="WeaSEL (autonlab/weasel) IMDB keyword list",
                description=f"'{phrase}' appears in the review",
            )
        )
    return LFPack("imdb", CLASSES, lfs)
