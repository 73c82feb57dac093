"""Python LFs, for rules that cannot be a Spark expression.

Two decorators, in Snorkel's spirit:

- :func:`labeling_function`: a row-wise function ``f(x) -> vote`` where ``x``
  has the row's columns (and preprocessor outputs) as attributes;
- :func:`batch_labeling_function`: a vectorized function
  ``f(df: pandas.DataFrame) -> sequence of votes`` for one Arrow batch.

A vote is a class index, a class name, ``-1`` or ``None`` (abstain).
Preprocessors (:func:`preprocessor`) are vectorized functions computed once per
batch and shared by every LF that lists them in ``pre``.

Both kinds run inside one ``mapInArrow`` pass (see
:mod:`lf_library.apply_python`), never through ``rdd.map``.

The version of a Python LF hashes its *normalized* source: the AST of the
function (so comments, blank lines and formatting do not count), its
``resources``, its label and its preprocessors' versions.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import json
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from lf_library.core import LabelingFunction
from lf_library.errors import LFDefinitionError


def normalized_source(func: Callable[..., Any]) -> str:
    """The function's AST dump without docstrings: stable under comment and whitespace edits."""
    try:
        source = textwrap.dedent(inspect.getsource(func))
    except (OSError, TypeError):
        return f"<no source: {getattr(func, '__module__', '?')}.{getattr(func, '__qualname__', func)!r}>"
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            node.decorator_list = []
            body = node.body
            first = body[0] if body else None
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree, annotate_fields=False, include_attributes=False)


def _hash(payload: object) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=repr).encode("utf-8")).hexdigest()[:12]


@dataclass(frozen=True)
class Preprocessor:
    """A vectorized ``f(df) -> column`` whose result is added to the batch as ``name``."""

    name: str
    func: Callable[[Any], Any] = field(compare=False)

    @property
    def version(self) -> str:
        return _hash({"name": self.name, "source": normalized_source(self.func)})


def preprocessor(name: str | None = None) -> Callable[[Callable[[Any], Any]], Preprocessor]:
    """Declare a vectorized preprocessor: ``@preprocessor()`` over ``def word_count(df): ...``."""

    def wrap(func: Callable[[Any], Any]) -> Preprocessor:
        return Preprocessor(name or func.__name__, func)

    return wrap


@dataclass(frozen=True)
class PythonLF(LabelingFunction):
    """An LF backed by Python code. ``label`` is optional: such an LF may vote any class."""

    label: str | None = None  # type: ignore[assignment]
    func: Callable[..., Any] | None = field(default=None, compare=False)
    vectorized: bool = False
    pre: tuple[Preprocessor, ...] = ()
    resources: tuple[tuple[str, Any], ...] = ()
    fingerprint: str = ""

    kind: ClassVar[str] = "python"

    def __post_init__(self) -> None:
        super().__post_init__()
        if not callable(self.func):
            raise LFDefinitionError(f"LF {self.name!r}: func must be callable")

    def params(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "vectorized": self.vectorized,
            "source": normalized_source(self.func) if self.func else "",
            "resources": [[k, repr(v)] for k, v in self.resources],
            "pre": [p.version for p in self.pre],
            "fingerprint": self.fingerprint,
        }

    def call_row(self, row: Any) -> Any:
        return self.func(row, **dict(self.resources))  # type: ignore[misc]

    def call_batch(self, frame: Any) -> Any:
        return self.func(frame, **dict(self.resources))  # type: ignore[misc]


def labeling_function(
    name: str | None = None,
    label: str | None = None,
    pre: list[Preprocessor] | None = None,
    resources: dict[str, Any] | None = None,
    description: str = "",
    owner: str = "",
) -> Callable[[Callable[..., Any]], PythonLF]:
    """Declare a row-wise Python LF::

    @labeling_function(label="SPAM")
    def many_exclamations(x):
        return "SPAM" if x.text.count("!") > 3 else None
    """

    def wrap(func: Callable[..., Any]) -> PythonLF:
        return PythonLF(
            name or func.__name__,
            label,
            description or (func.__doc__ or "").strip(),
            owner,
            func=func,
            vectorized=False,
            pre=tuple(pre or ()),
            resources=tuple(sorted((resources or {}).items())),
        )

    return wrap


def batch_labeling_function(
    name: str | None = None,
    label: str | None = None,
    pre: list[Preprocessor] | None = None,
    resources: dict[str, Any] | None = None,
    description: str = "",
    owner: str = "",
) -> Callable[[Callable[..., Any]], PythonLF]:
    """Declare a vectorized Python LF taking a pandas DataFrame (one Arrow batch)::

    @batch_labeling_function(label="HAM", pre=[word_count])
    def short(df):
        return np.where(df.word_count < 5, 0, -1)
    """

    def wrap(func: Callable[..., Any]) -> PythonLF:
        return PythonLF(
            name or func.__name__,
            label,
            description or (func.__doc__ or "").strip(),
            owner,
            func=func,
            vectorized=True,
            pre=tuple(pre or ()),
            resources=tuple(sorted((resources or {}).items())),
        )

    return wrap


def from_snorkel(lf: Any, label: str | None = None, owner: str = "") -> PythonLF:
    """Wrap a Snorkel ``LabelingFunction`` (anything with ``.name`` and ``__call__(x)``).

    Snorkel is not needed at run time: the object is called on a row with the
    row's fields as attributes, exactly as Snorkel's appliers call it. The
    version hashes the wrapped function's source and resources when Snorkel
    exposes them (``_f``, ``_resources``, ``_pre``), else the object's class.
    """
    if not hasattr(lf, "name") or not callable(lf):
        raise LFDefinitionError(f"{lf!r} is not a Snorkel-style LF (needs .name and a call on a row)")
    inner = getattr(lf, "_f", None)
    fingerprint = {
        "source": normalized_source(inner) if inner is not None else type(lf).__qualname__,
        "resources": repr(sorted(getattr(lf, "_resources", {}).items())),
        "pre": [
            normalized_source(getattr(p, "_f", p)) if callable(getattr(p, "_f", p)) else repr(p)
            for p in getattr(lf, "_pre", [])
        ],
    }

    def call_snorkel(x: Any, _lf: Any = lf) -> Any:
        return _lf(x)

    return PythonLF(lf.name, label, f"Snorkel LF {lf.name}", owner, func=call_snorkel, fingerprint=_hash(fingerprint))
