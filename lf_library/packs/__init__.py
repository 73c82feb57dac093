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
    """Build the pack called ``name``: a registered name, or ``"package.module:function"``
    for a team's own pack outside this repository. The error lists the known packs."""
    if ":" in name:
        module_name, _, function = name.partition(":")
        try:
            builder = getattr(importlib.import_module(module_name), function)
        except (ImportError, AttributeError) as exc:
            raise ConfigError(f"cannot load LF pack {name!r}: {exc}") from exc
        pack = builder()
    elif name in PACKS:
        pack = importlib.import_module(PACKS[name]).build_pack()
    else:
        raise ConfigError(f"unknown LF pack {name!r}; known packs: {sorted(PACKS)} or 'module:function'")
    if not isinstance(pack, LFPack):
        raise ConfigError(f"LF pack {name!r} built a {type(pack).__name__}, not an LFPack")
    return pack
