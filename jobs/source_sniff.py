"""Look at each raw file before Spark reads it: is it what the dataset declares?

Reads only the first bytes of each file (never its rows into the driver's
memory): empty files are skipped with a warning, files that are compressed,
binary or of another format than declared are quarantined whole with a reason,
and a CSV file's own header says where its columns are, so files whose columns
come in another order are read by name, not by position.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
from dataclasses import dataclass

HEAD_BYTES = 64 * 1024
GZIP_MAGIC = b"\x1f\x8b"
COMPRESSED_MAGIC = {b"PK\x03\x04": "zip", b"BZh": "bzip2", b"\xfd7zXZ\x00": "xz", b"\x28\xb5\x2f\xfd": "zstd"}


@dataclass(frozen=True)
class SniffedFile:
    """One raw file: its CSV header (when the dataset reads headers), or why it is not read."""

    path: str
    header: tuple[str, ...] = ()
    problem: str | None = None
    """Why the whole file is quarantined; None for a readable file."""
    empty: bool = False


def _head(path: str) -> bytes:
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        return bytes(f.read(HEAD_BYTES))


def _binary_problem(path: str, head: bytes) -> str | None:
    """Why ``head`` is not text a CSV or JSON reader can parse, or None."""
    if head.startswith(GZIP_MAGIC):
        return "gzip-compressed content in a file not named .gz (name it .gz to have it decompressed)"
    for magic, kind in COMPRESSED_MAGIC.items():
        if head.startswith(magic):
            return f"{kind}-compressed content (not a supported input; decompress it or use gzip named .gz)"
    sample = head[:8192]
    if b"\x00" in sample:
        return "binary content (NUL bytes): not a text file"
    controls = sum(1 for b in sample if b < 9 or 13 < b < 32)
    if sample and controls / len(sample) > 0.05:
        return f"binary content ({controls} control bytes in the first {len(sample)}): not a text file"
    return None


def _csv_header(head: bytes, options: dict[str, str]) -> tuple[str, ...]:
    """The first record of ``head`` parsed as CSV with the dataset's separator and quote."""
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff")
    quote = options.get("quote", '"')
    reader = csv.reader(
        io.StringIO(text),
        delimiter=options.get("sep", options.get("delimiter", ",")) or ",",
        quotechar=quote or None,
        quoting=csv.QUOTE_MINIMAL if quote else csv.QUOTE_NONE,
    )
    try:
        return tuple(next(reader))
    except (StopIteration, csv.Error):
        return ()


def sniff_file(path: str, file_format: str, options: dict[str, str], required: list[str]) -> SniffedFile:
    """What ``path`` is, for a dataset of ``file_format`` whose rows need the ``required`` columns."""
    if os.path.getsize(path) == 0:
        return SniffedFile(path, empty=True)
    try:
        head = _head(path)
    except (OSError, EOFError) as exc:  # a truncated or corrupt .gz
        return SniffedFile(path, problem=f"unreadable: {exc}")
    if not head.strip():
        return SniffedFile(path, empty=True)
    problem = _binary_problem(path, head)
    if problem:
        return SniffedFile(path, problem=problem)
    first = head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if file_format == "json" and first not in (b"{", b"["):
        return SniffedFile(path, problem="not JSON: the first character is not '{' or '['")
    if file_format != "csv" or options.get("header", "true").lower() != "true":
        return SniffedFile(path)
    header = _csv_header(head, options)
    missing = [c for c in required if c not in header]
    if missing:
        shown = ", ".join(repr(c[:40]) for c in header[:6]) + (", ..." if len(header) > 6 else "")
        kind = " (JSON, not CSV)" if first in (b"{", b"[") else ""
        return SniffedFile(path, header, problem=f"header lacks column(s) {missing}{kind}; header: [{shown}]")
    return SniffedFile(path, header)
