"""An LF Python accepts but Spark cannot run fails before any task, naming the LF (issue 29, items 7, 16)."""

from __future__ import annotations

import pytest

from lf_library.compile import check_with_spark
from lf_library.core import KeywordLF, LFPack, RegexLF, SqlLF
from lf_library.errors import LFDefinitionError


@pytest.mark.parametrize(
    ("lf", "message"),
    [
        (RegexLF("nested_class", "SPAM", pattern="[[a]x"), "LF 'nested_class': regex '[[a]x' is invalid for Java"),
        (SqlLF("broken_sql", "SPAM", condition="text LIKE ('a'"), "LF 'broken_sql': SQL condition"),
        (SqlLF("no_such_column", "SPAM", condition="txet = 'a'"), "LF 'no_such_column': SQL condition"),
    ],
)
def test_patterns_java_rejects_and_broken_sql_name_the_lf(spark, lf, message: str) -> None:
    pack = LFPack("p", ("HAM", "SPAM"), [KeywordLF("ok", "HAM", keywords=("fine",)), lf])
    with pytest.raises(LFDefinitionError) as raised:
        check_with_spark(spark, pack, spark.createDataFrame([("1", "fine")], "id string, text string"))
    assert message in str(raised.value) and "\n" not in str(raised.value)


def test_valid_patterns_pass(spark) -> None:
    pack = LFPack(
        "p",
        ("HAM", "SPAM"),
        [RegexLF("r", "SPAM", pattern=r"(?P<w>check)\s+out"), SqlLF("s", "HAM", condition="length(text) < 5")],
    )
    check_with_spark(spark, pack)
