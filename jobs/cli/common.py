"""What every command group shares: printing a result and the ``examples:`` epilog."""

from __future__ import annotations

import argparse
import json
from typing import Any

Subparsers = argparse._SubParsersAction  # argparse has no public name for it


def emit(data: object, as_json: bool, as_text: str | None = None) -> None:
    """Print ``data`` as JSON, or the human-readable ``as_text``."""
    print(json.dumps(data, indent=2, default=str) if as_json or as_text is None else as_text)


def examples(*lines: str) -> dict[str, Any]:
    """``add_parser`` keywords for an ``examples:`` epilog shown verbatim by ``--help``."""
    return {
        "epilog": "examples:\n" + "\n".join(f"  {line}" for line in lines),
        "formatter_class": argparse.RawDescriptionHelpFormatter,
    }
