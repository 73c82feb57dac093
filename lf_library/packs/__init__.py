"""LF packs by name. A dataset's ``lf_pack`` key names one of these.

Each pack module exposes ``build_pack() -> LFPack``; packs are built on demand
so importing the registry costs nothing.
"""

from __future__ import annotations

import importlib

from jobs.errors import ConfigError
from lf_library.core import LFPack

PACKS = {
    "youtube_spam": "lf_library.packs.youtube_spam",
    "sms_spam": "lf_library.packs.sms_spam",
    "trec": "lf_library.packs.trec",
    "imdb": "lf_library.packs.imdb",
}


def load_pack(name: str) -> LFPack:
    """Build the pack called ``name``; the error lists the known packs."""
    if name not in PACKS:
        raise ConfigError(f"unknown LF pack {name!r}; known packs: {sorted(PACKS)}")
    return importlib.import_module(PACKS[name]).build_pack()
