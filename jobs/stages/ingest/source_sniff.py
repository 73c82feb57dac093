"""Look at each raw file before Spark reads it: is it what the dataset declares?

Reads only the first bytes of each file (never its rows into the driver's
memory): empty files are skipped with a warning, files that are compressed,
binary or of another format than declared are quarantined whole with a reason,
and a CSV file's own header says where its columns are, so files whose columns
come in another order are read by name, not by position.
"""

from __future__ import annotations

import csv
import glob
import gzip
import io
import os
import zlib
from dataclasses import dataclass
from urllib.parse import urlparse
from urllib.request import url2pathname

from jobs.core.errors import ConfigError

HEAD_BYTES = 64 * 1024
GZIP_MAGIC = b"\x1f\x8b"
UTF16_32_BOMS = {
    b"\xff\xfe\x00\x00": "UTF-32",  # before UTF-16's little-endian mark, which it starts with
    b"\x00\x00\xfe\xff": "UTF-32",
    b"\xff\xfe": "UTF-16",
    b"\xfe\xff": "UTF-16",
}
COMPRESSED_MAGIC = {b"PK\x03\x04": "zip", b"BZh": "bzip2", b"\xfd7zXZ\x00": "xz", b"\x28\xb5\x2f\xfd": "zstd"}


def source_files(path: str, dataset: str = "") -> list[str]:
    """The files a source path names: a glob, local or on an object store (``s3a://``), is
    expanded (sorted) here, so each file is checked before Spark reads it and a path that
    matches nothing fails with the path in the message; other URLs go to Spark as they are."""
    if is_object_store(path):
        from jobs.lake.object_store import list_matching

        files = [o.uri for o in list_matching(path) if not o.uri.endswith("/")]
    elif "://" in path:
        return [path]
    else:
        files = sorted(p for p in glob.glob(path) if os.path.isfile(p))
    if not files:
        raise ConfigError(f"{f'dataset {dataset!r}: ' if dataset else ''}no source files match {path}")
    return files


@dataclass(frozen=True)
class SniffedFile:
    """One raw file: its CSV header (when the dataset reads headers), or why it is not read."""

    path: str
    header: tuple[str, ...] = ()
    problem: str | None = None
    """Why the whole file is quarantined; None for a readable file."""
    empty: bool = False


def is_object_store(path: str) -> bool:
    return path.startswith(("s3a://", "s3://"))


def file_size(path: str) -> int:
    if is_object_store(path):
        from jobs.lake.object_store import object_size

        return object_size(path)
    return os.path.getsize(path)


def _head(path: str) -> bytes:
    if is_object_store(path):
        from jobs.lake.object_store import read_head

        data = read_head(path, HEAD_BYTES * 8 if path.endswith(".gz") else HEAD_BYTES)
        if path.endswith(".gz"):
            return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data, HEAD_BYTES)
        return data
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        return bytes(f.read(HEAD_BYTES))


def _binary_problem(head: bytes, declared_encoding: str) -> str | None:
    """Why ``head`` is not text a CSV or JSON reader can parse, or None."""
    if head.startswith(GZIP_MAGIC):
        return "gzip-compressed content in a file not named .gz (name it .gz to have it decompressed)"
    for magic, kind in COMPRESSED_MAGIC.items():
        if head.startswith(magic):
            return f"{kind}-compressed content (not a supported input; decompress it or use gzip named .gz)"
    declared = declared_encoding.replace("-", "").replace("_", "").lower()
    if declared.startswith(("utf16", "utf32")):
        return None  # NUL bytes are how those encodings write ASCII
    for bom, name in UTF16_32_BOMS.items():
        if head.startswith(bom):
            return f"{name} text (byte-order mark): declare its encoding in read_options or save it as UTF-8"
    sample = head[:8192]
    nuls = sample.count(b"\x00")
    # A stray NUL in a text export is one bad byte, not a binary file: those (and UTF-16) are full of them.
    if nuls > 1 and nuls > len(sample) // 100:
        return f"binary content ({nuls} NUL bytes in the first {len(sample)}): not a text file"
    controls = sum(1 for b in sample if b < 9 or 13 < b < 32)
    if sample and controls / len(sample) > 0.05:
        return f"binary content ({controls} control bytes in the first {len(sample)}): not a text file"
    return None


def _csv_header(head: bytes, options: dict[str, str]) -> tuple[str, ...]:
    """The first record of ``head`` parsed as CSV with the dataset's separator and quote; an empty
    name (a trailing comma in a spreadsheet export) gets Spark's own name for it, ``_c<position>``."""
    declared = options.get("encoding", options.get("charset", "utf-8"))
    try:
        text = head.decode(declared, errors="replace").lstrip("\ufeff")
    except LookupError:  # a Java charset name Python does not know: the header's ASCII still reads
        text = head.decode("utf-8", errors="replace").lstrip("\ufeff")
    quote = options.get("quote", '"')
    separator = options.get("sep", options.get("delimiter", ",")) or ","
    if len(separator) == 1:
        reader = csv.reader(
            io.StringIO(text),
            delimiter=separator,
            quotechar=quote or None,
            quoting=csv.QUOTE_MINIMAL if quote else csv.QUOTE_NONE,
        )
        try:
            cells = next(reader)
        except (StopIteration, csv.Error):
            return ()
    else:  # Spark takes separators of several characters; Python's csv module does not
        first = text.splitlines()[0] if text.strip() else ""
        cells = [cell.strip(quote) if quote else cell for cell in first.split(separator)]
    return tuple(cell if cell.strip() else f"_c{i}" for i, cell in enumerate(cells))


def sniff_file(path: str, file_format: str, options: dict[str, str], required: list[str]) -> SniffedFile:
    """What ``path`` is, for a dataset of ``file_format`` whose rows need the ``required`` columns."""
    if file_size(path) == 0:
        return SniffedFile(path, empty=True)
    try:
        head = _head(path)
    except (OSError, EOFError, zlib.error) as exc:  # a truncated or corrupt .gz
        return SniffedFile(path, problem=f"unreadable: {exc}")
    if not head.removeprefix(b"\xef\xbb\xbf").strip():  # nothing, or only a byte-order mark and blanks
        return SniffedFile(path, empty=True)
    problem = _binary_problem(head, options.get("encoding", options.get("charset", "UTF-8")))
    if problem:
        return SniffedFile(path, problem=problem)
    first = head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if file_format == "json" and first not in (b"{", b"["):
        return SniffedFile(path, problem="not JSON: the first character is not '{' or '['")
    multiline = {k.lower(): str(v).lower() for k, v in options.items()}.get("multiline") == "true"
    if file_format == "json" and first == b"[" and not multiline:
        return SniffedFile(path, problem='one JSON array, not JSON lines: declare read_options multiLine = "true"')
    if file_format != "csv" or options.get("header", "true").lower() != "true":
        return SniffedFile(path)
    header = _csv_header(head, options)
    return SniffedFile(path, header, problem=_header_problem(header, required, first in (b"{", b"[")))


def _header_problem(header: tuple[str, ...], required: list[str], looks_like_json: bool) -> str | None:
    """Why a CSV header cannot be read by name: a required column missing (with the near misses
    that differ only in case or surrounding spaces), or a name repeated (Spark's names ignore case)."""
    missing = [c for c in required if c not in header]
    if missing:
        shown = ", ".join(repr(c[:40]) for c in header[:6]) + (", ..." if len(header) > 6 else "")
        kind = " (JSON, not CSV)" if looks_like_json else ""
        near = {c: h for c in missing for h in header if h.strip().lower() == c.lower()}
        hint = "; ".join(f"{c!r} is written {h!r}" for c, h in near.items())
        return f"header lacks column(s) {missing}{kind}; header: [{shown}]" + (f" ({hint})" if hint else "")
    folded = [h.lower() for h in header]
    repeated = sorted({h for h in header if folded.count(h.lower()) > 1})
    if repeated:
        return f"header repeats column(s) {repeated} (names are compared ignoring case)"
    return None


def quarantined_bytes_share(file_shares: dict[str, float]) -> float:
    """The input's quarantined share by bytes: each local file's size times its quarantined share of
    rows, over all their sizes (remote files, not sized here, are left out)."""
    sizes = {}
    for uri in file_shares:
        path = url2pathname(urlparse(uri).path) if uri.startswith("file:") else uri
        if is_object_store(path):
            sizes[uri] = file_size(path)
        elif "://" not in path and os.path.isfile(path):
            sizes[uri] = os.path.getsize(path)
    total = sum(sizes.values())
    return sum(size * file_shares[uri] for uri, size in sizes.items()) / total if total else 0.0
