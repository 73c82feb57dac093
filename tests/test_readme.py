"""The README's LF example is real code: it runs on real YouTube comments and every LF votes."""

from __future__ import annotations

import json
import linecache
import re
import sys
import types

from pyspark.sql import functions as F

from jobs.stages.apply.votes import votes_long
from lf_library.apply_python import with_python_votes
from tests.conftest import DATA_ROOT, PROJECT_ROOT


class _SnorkelStyleLF:
    """Stands in for ``snorkel.labeling.LabelingFunction``: ``.name`` and ``__call__(x)``."""

    def __init__(self, name, f, resources):
        self.name, self._f, self._resources = name, f, resources

    def __call__(self, x):
        return self._f(x, **self._resources)


def _keyword_lookup(x, keywords, label):
    return label if any(word in x.text.lower() for word in keywords) else -1


def test_readme_lf_example_runs_on_real_comments(spark, monkeypatch) -> None:
    readme = (PROJECT_ROOT / "README.md").read_text()
    section = readme[readme.index("## Writing LFs") :]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    module = types.ModuleType("my_lfs")
    monkeypatch.setitem(sys.modules, "my_lfs", module)
    filename = "<README.md: my_lfs.py>"  # registered so LF versions can read the functions' source
    linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
    exec(compile(code, filename, "exec"), module.__dict__)

    pack = module.build_pack(
        [_SnorkelStyleLF("keyword_subscribe", _keyword_lookup, {"keywords": ("subscribe",), "label": 1})]
    )
    assert len(pack) == 8 and len({lf.version for lf in pack}) == 8
    data = json.loads((DATA_ROOT / "wrench" / "youtube" / "train.json").read_text())
    source = spark.createDataFrame([(k, v["data"]["text"]) for k, v in data.items()], "id string, text string")
    votes = votes_long(with_python_votes(source, pack.python, pack.classes), pack)
    per_lf = {r["lf"]: r["count"] for r in votes.groupBy("lf").count().collect()}
    assert set(per_lf) == set(pack.names), set(pack.names) - set(per_lf)
    assert votes.where(F.col("lf") == "keyword_subscribe").count() == sum(
        "subscribe" in v["data"]["text"].lower() for v in data.values()
    )
