"""LF packs by name. A dataset's ``lf_pack`` key names one of these.

Each pack module exposes ``build_pack() -> LFPack``; packs are built on demand
so importing the registry costs nothing.
"""

from __future__ import annotations

import importlib
import traceback
from pathlib import Path

from jobs.core.errors import ConfigError
from lf_library.core import LFPack

PACKS = {
    "youtube_spam": "lf_library.packs.youtube_spam",
    "sms_spam": "lf_library.packs.sms_spam",
    "trec": "lf_library.packs.trec",
    "imdb": "lf_library.packs.imdb",
}


def load_pack(name: str) -> LFPack:
    """Build the pack called ``name``: a registered name, or ``"package.module:function"``
    for a team's own pack outside this repository. The error lists the known packs; a pack
    that raises (at import or while building) is a ConfigError naming it, the exception and
    the pack's own line."""
    if ":" not in name and name not in PACKS:
        raise ConfigError(f"unknown LF pack {name!r}; known packs: {sorted(PACKS)} or 'module:function'")
    module_name, _, function = name.partition(":") if ":" in name else (PACKS[name], "", "build_pack")
    try:
        builder = getattr(importlib.import_module(module_name), function)
        pack = builder()
    except Exception as exc:  # noqa: BLE001 - any failure of a pack's own code is a pack error
        raise ConfigError(f"LF pack {name!r} failed to load: {_where(exc)}") from exc
    if not isinstance(pack, LFPack):
        raise ConfigError(f"LF pack {name!r} built a {type(pack).__name__}, not an LFPack")
    if not len(pack):
        raise ConfigError(f"LF pack {name!r} ({pack.name!r}) has no LFs: nothing would vote")
    return pack


def _where(exc: BaseException) -> str:
    """``Type: message (at file:line)``, the line being the deepest frame outside the import system."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if not f.filename.startswith("<frozen")]
    message = " ".join(str(exc).split()) or "(no message)"
    at = f" (at {Path(frames[-1].filename).name}:{frames[-1].lineno})" if frames else ""
    return f"{type(exc).__name__}: {message}{at}"
