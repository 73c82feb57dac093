"""The README's LF example is real code: it runs on real YouTube comments and every LF votes."""

from __future__ import annotations

import json
import linecache
import os
import re
import shlex
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from jobs.stages.apply.votes import votes_long
from lf_library.apply_python import with_python_votes
from tests.conftest import DATA_ROOT, PROJECT_ROOT, shares_first_run


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


# --- every command the README shows works as written (issue 32) ---------------------------------

MARKED_BLOCK = re.compile(r"^( *)<!-- readme-test: (\w+)(?::[^>]*)? -->\n\1```(\w+)\n(.*?)^\1```", re.S | re.M)
LABELLAKE = ".venv/bin/labellake "


def _blocks(kind: str) -> list[tuple[str, str]]:
    """(language, code) of the README blocks marked ``kind``, dedented."""
    readme = (PROJECT_ROOT / "README.md").read_text()
    found = [(m.group(2), m.group(3), textwrap.dedent(m.group(4))) for m in MARKED_BLOCK.finditer(readme)]
    return [(lang, code) for marker, lang, code in found if marker == kind]


def _reference_args(line: str) -> list[str]:
    """A reference line's arguments as a user would type them: ``[optional]`` parts left out, the
    first of ``a|b`` alternatives taken, the comment dropped."""
    words = shlex.split(line.split(LABELLAKE, 1)[1], comments=True)
    args, depth = [], 0
    for word in words:
        if depth == 0 and not word.startswith("["):
            args.append(word.split("|")[0] if re.fullmatch(r"[\w.-]+(\|[\w.-]+)+", word) else word)
        depth += word.count("[") - word.count("]")
    return args


def test_every_shell_block_is_marked_and_every_shown_command_parses() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text()
    fences = re.findall(r"^ *```bash$", readme, re.M)
    marked = sum(lang == "bash" for kind in ("run", "parse", "skip") for lang, _ in _blocks(kind))
    assert len(fences) == marked, "a ```bash block without a <!-- readme-test: run|parse|skip --> line before it"

    from jobs.cli.main import build_parser

    parser = build_parser()
    lines = [line for _, code in _blocks("parse") for line in code.splitlines() if line.startswith(LABELLAKE)]
    assert len(lines) > 20
    for line in lines:
        try:
            parser.parse_args(_reference_args(line))
        except SystemExit:
            pytest.fail(f"README command does not parse: {line}")
    commands = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    for span in re.findall(r"`(?:\.venv/bin/)?labellake ([a-z][^`]*)`", readme):
        if "..." not in span:
            assert span.split()[0] in commands, f"README names `labellake {span}`: no such command"


@shares_first_run("youtube")
def test_the_readme_commands_marked_run_work_as_written(lake_after_run, tmp_path: Path) -> None:
    """After a first publish (what `make demo` leaves), from a folder with the project's `.venv`."""
    from tests.e2e.test_pipeline import FIRST_RUN

    yt, _ = lake_after_run(*FIRST_RUN)
    (tmp_path / ".venv").symlink_to(PROJECT_ROOT / ".venv")
    env = {**os.environ, "LABELLAKE_HOME": str(yt.home), "LABELLAKE_CONFIG": str(yt.config_path)}
    blocks = _blocks("run")
    assert {lang for lang, _ in blocks} == {"bash", "python"} and len(blocks) >= 4
    for lang, code in blocks:
        command = ["bash", "-euo", "pipefail", "-c", code] if lang == "bash" else [".venv/bin/python", "-c", code]
        done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, f"README block failed:\n{code}\n{done.stderr[-2000:]}"
    low = (tmp_path / "low.csv").read_text().splitlines()
    assert low[0].startswith('"id",') and len(low) > 1
