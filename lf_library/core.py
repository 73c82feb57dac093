"""What an LF is: a declaration with a name, the class it votes for and its rule.

Declarative LFs (keywords, regex, word-count thresholds, raw SQL) are frozen
dataclasses; their parameters *are* their definition, so their version is a
hash of those parameters and nothing else. Renaming a variable elsewhere,
reformatting the pack or editing a comment cannot change a version; changing a
keyword always does. :mod:`lf_library.compile` turns them into Spark column
expressions, so applying them never runs Python per row.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

from lf_library.errors import LFDefinitionError

ABSTAIN = -1
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


@dataclass(frozen=True)
class LabelingFunction:
    """Base class of every LF.

    ``label`` is the class *name* the LF votes for (checked against the pack's
    classes when the pack is built), ``description`` and ``owner`` are for the
    people who maintain it and do not enter the version.
    """

    name: str
    label: str
    description: str = field(default="", compare=False)
    owner: str = field(default="", compare=False)

    kind: ClassVar[str] = "base"

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise LFDefinitionError(
                f"LF name {self.name!r} must be an identifier (letters, digits, _; not starting with a digit)"
            )

    def params(self) -> dict[str, Any]:
        """The parameters that determine this LF's votes (its definition)."""
        values = asdict(self)
        for key in ("name", "description", "owner"):
            values.pop(key)
        return values

    @property
    def version(self) -> str:
        """A stable 12-hex-digit hash of the kind and the parameters."""
        payload = json.dumps({"kind": self.kind, **self.params()}, sort_keys=True)
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:12]


@dataclass(frozen=True)
class KeywordLF(LabelingFunction):
    """Votes ``label`` when any keyword occurs in the text.

    ``match="substring"`` (Snorkel's ``keyword in x.text.lower()``) or
    ``"word"`` (whole words only); ``case_sensitive=False`` lowercases both.
    """

    keywords: tuple[str, ...] = ()
    match: str = "substring"
    case_sensitive: bool = False

    kind: ClassVar[str] = "keyword"

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.keywords or any(not k for k in self.keywords):
            raise LFDefinitionError(f"LF {self.name!r}: keywords must be non-empty strings")
        if self.match not in ("substring", "word"):
            raise LFDefinitionError(f"LF {self.name!r}: match must be 'substring' or 'word'")
        object.__setattr__(self, "keywords", tuple(self.keywords))


@dataclass(frozen=True)
class RegexLF(LabelingFunction):
    """Votes ``label`` when the Python-syntax ``pattern`` is found (``re.search``).

    ``lowercase=True`` searches ``text.lower()`` (rule sets written for
    lowercased text); ``ignore_case=True`` is the ``re.I`` flag.

    The pattern is checked with Python's ``re`` at declaration so a typo fails
    here, naming the LF, and not inside a Spark task.
    """

    pattern: str = ""
    ignore_case: bool = False
    lowercase: bool = False

    kind: ClassVar[str] = "regex"

    def __post_init__(self) -> None:
        super().__post_init__()
        try:
            re.compile(self.pattern)
        except re.error as exc:
            raise LFDefinitionError(f"LF {self.name!r}: invalid regex {self.pattern!r}: {exc}") from exc
        if not self.pattern:
            raise LFDefinitionError(f"LF {self.name!r}: empty regex")


@dataclass(frozen=True)
class WordCountLF(LabelingFunction):
    """Votes ``label`` when the number of whitespace-separated words is in range.

    Words are counted as Python's ``len(text.split())`` counts them (Unicode
    whitespace), so Snorkel LFs like ``short_comment`` port exactly.
    ``min_words`` is inclusive, ``max_words`` exclusive; either may be None.
    """

    min_words: int | None = None
    max_words: int | None = None

    kind: ClassVar[str] = "word_count"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.min_words is None and self.max_words is None:
            raise LFDefinitionError(f"LF {self.name!r}: set min_words and/or max_words")


@dataclass(frozen=True)
class SqlLF(LabelingFunction):
    """Votes ``label`` where the Spark SQL boolean ``condition`` is true.

    The escape hatch for rules over any source column, e.g.
    ``"length(text) > 500 AND author IS NULL"``.
    """

    condition: str = ""

    kind: ClassVar[str] = "sql"

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.condition.strip():
            raise LFDefinitionError(f"LF {self.name!r}: empty SQL condition")


_OPS = ("<", "<=", ">", ">=", "==", "!=")


@dataclass(frozen=True)
class ThresholdLF(LabelingFunction):
    """Votes ``label`` when a numeric column (or ``length(text)``) compares to ``value``.

    ``column`` is a source column name, or ``"text_length"`` for the text's
    length in characters. Rows where the column is null abstain.
    """

    column: str = ""
    op: str = ">"
    value: float = 0.0

    kind: ClassVar[str] = "threshold"

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.column:
            raise LFDefinitionError(f"LF {self.name!r}: column is required")
        if self.op not in _OPS:
            raise LFDefinitionError(f"LF {self.name!r}: op {self.op!r} not one of {_OPS}")


@dataclass(frozen=True)
class LookupLF(LabelingFunction):
    """Votes ``label`` when a column's value is in a lookup set.

    Build it with :meth:`from_file` (one value per line) or give ``values``;
    the values themselves are part of the version, so editing the lookup file
    is an LF change. ``normalize="lower"`` compares lowercased, trimmed values.
    """

    column: str = ""
    values: frozenset[str] = frozenset()
    normalize: str = "none"
    source: str = field(default="", compare=False)

    kind: ClassVar[str] = "lookup"

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.column or not self.values:
            raise LFDefinitionError(f"LF {self.name!r}: column and a non-empty set of values are required")
        if self.normalize not in ("none", "lower"):
            raise LFDefinitionError(f"LF {self.name!r}: normalize must be 'none' or 'lower'")
        values = (
            frozenset(v.strip().lower() for v in self.values) if self.normalize == "lower" else frozenset(self.values)
        )
        object.__setattr__(self, "values", values)

    def params(self) -> dict[str, Any]:
        return {"label": self.label, "column": self.column, "normalize": self.normalize, "values": sorted(self.values)}

    @classmethod
    def from_file(
        cls, name: str, label: str, column: str, path: str, normalize: str = "none", **kwargs: Any
    ) -> LookupLF:
        """Values from a text file, one per line (blank lines and ``#`` comments ignored)."""
        from pathlib import Path

        lines = Path(path).read_text(encoding="utf-8").splitlines()
        values = frozenset(v.strip() for v in lines if v.strip() and not v.lstrip().startswith("#"))
        return cls(name, label, column=column, values=values, normalize=normalize, source=str(path), **kwargs)

    @classmethod
    def from_table(
        cls,
        name: str,
        label: str,
        column: str,
        spark: Any,
        table_path: str,
        value_column: str,
        normalize: str = "none",
        **kwargs: Any,
    ) -> LookupLF:
        """Values from a column of a Delta table (a lookup table is small by nature)."""
        rows = spark.read.format("delta").load(table_path).select(value_column).distinct().collect()
        values = frozenset(str(r[0]) for r in rows if r[0] is not None)
        return cls(name, label, column=column, values=values, normalize=normalize, source=table_path, **kwargs)


class LFPack:
    """An ordered, named set of LFs over one label space.

    Names are unique and every LF's label is one of ``classes``; both are
    checked here, at registration, with an error naming the offending LF.
    The pack's order is the column order of the label matrix.
    """

    def __init__(self, name: str, classes: Iterable[str], lfs: Iterable[LabelingFunction]):
        self.name = name
        self.classes: tuple[str, ...] = tuple(classes)
        self._lfs: list[LabelingFunction] = []
        for lf in lfs:
            self.add(lf)

    def add(self, lf: LabelingFunction) -> None:
        if any(existing.name == lf.name for existing in self._lfs):
            raise LFDefinitionError(f"pack {self.name!r}: LF name {lf.name!r} is registered twice")
        if lf.label is not None and lf.label not in self.classes:
            raise LFDefinitionError(f"pack {self.name!r}: LF {lf.name!r} votes {lf.label!r}, not one of {self.classes}")
        self._lfs.append(lf)

    def __iter__(self) -> Iterator[LabelingFunction]:
        return iter(self._lfs)

    def __len__(self) -> int:
        return len(self._lfs)

    @property
    def names(self) -> list[str]:
        return [lf.name for lf in self._lfs]

    def label_index(self, lf: LabelingFunction) -> int:
        if lf.label is None:
            raise LFDefinitionError(f"LF {lf.name!r} declares no single label")
        return self.classes.index(lf.label)

    def vote_space(self) -> dict[str, tuple[int, ...]]:
        """The class indices each LF may vote: its one declared label, or every class."""
        every = tuple(range(len(self.classes)))
        return {lf.name: (self.label_index(lf),) if lf.label is not None else every for lf in self}

    @property
    def declarative(self) -> list[LabelingFunction]:
        """LFs that compile to Spark expressions, in pack order."""
        return [lf for lf in self._lfs if lf.kind != "python"]

    @property
    def python(self) -> list[LabelingFunction]:
        """LFs that run as Python in Arrow batches, in pack order."""
        return [lf for lf in self._lfs if lf.kind == "python"]

    @property
    def versions(self) -> dict[str, str]:
        """LF name -> version hash."""
        return {lf.name: lf.version for lf in self._lfs}

    @property
    def set_version(self) -> str:
        """One hash for the whole set: changes when any LF is added, removed or changed."""
        payload = json.dumps({"classes": self.classes, "lfs": sorted(self.versions.items())})
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:12]
