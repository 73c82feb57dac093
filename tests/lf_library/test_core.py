"""LF declarations: names, labels and versions behave as the SDK promises."""

from __future__ import annotations

import pytest

from lf_library import KeywordLF, LFPack, RegexLF, SqlLF, WordCountLF
from lf_library.errors import LFDefinitionError


def test_version_depends_on_parameters_only() -> None:
    a = KeywordLF("kw", "SPAM", keywords=("my",), description="one", owner="ann")
    b = KeywordLF("kw_renamed", "SPAM", keywords=("my",), description="other words", owner="bob")
    c = KeywordLF("kw", "SPAM", keywords=("mine",))
    assert a.version == b.version  # name, description and owner are not part of the rule
    assert a.version != c.version  # a changed keyword is a new version
    assert a.version != KeywordLF("kw", "HAM", keywords=("my",)).version
    assert len(a.version) == 12


def test_pack_rejects_duplicate_names_and_unknown_labels() -> None:
    with pytest.raises(LFDefinitionError, match="'kw' is registered twice"):
        LFPack(
            "p", ("HAM", "SPAM"), [KeywordLF("kw", "SPAM", keywords=("a",)), KeywordLF("kw", "HAM", keywords=("b",))]
        )
    with pytest.raises(LFDefinitionError, match="votes 'EGGS'"):
        LFPack("p", ("HAM", "SPAM"), [KeywordLF("kw", "EGGS", keywords=("a",))])


@pytest.mark.parametrize(
    "make",
    [
        lambda: KeywordLF("bad name", "SPAM", keywords=("a",)),
        lambda: KeywordLF("kw", "SPAM", keywords=()),
        lambda: RegexLF("rx", "SPAM", pattern="check(out"),
        lambda: WordCountLF("wc", "HAM"),
        lambda: SqlLF("sq", "HAM", condition="  "),
    ],
)
def test_malformed_lfs_fail_at_declaration(make) -> None:
    with pytest.raises(LFDefinitionError):
        make()


def test_set_version_changes_with_any_lf() -> None:
    base = [KeywordLF("a", "SPAM", keywords=("x",)), WordCountLF("b", "HAM", max_words=5)]
    p1 = LFPack("p", ("HAM", "SPAM"), base)
    p2 = LFPack("p", ("HAM", "SPAM"), base[:1] + [WordCountLF("b", "HAM", max_words=6)])
    p3 = LFPack("p", ("HAM", "SPAM"), list(reversed(base)))
    assert p1.set_version != p2.set_version
    assert p1.set_version == p3.set_version  # order of declaration is not a rule change
