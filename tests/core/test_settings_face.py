"""One configuration face: every ``LABELLAKE_*`` variable is documented in ``jobs.core.settings`` and
read only there; the README's table lists them all."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from jobs.core.settings import VARIABLES, env_setting

ROOT = Path(__file__).resolve().parents[2]
CODE = ("jobs", "lf_library", "expectations", "dags")
SETTINGS = ROOT / "jobs" / "core" / "settings.py"


def _env_reads(tree: ast.Module) -> list[ast.expr]:
    """The key expressions of ``os.environ.get(K)``, ``os.getenv(K)`` and ``os.environ[K]`` reads."""
    keys: list[ast.expr] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args:
            target = ast.unparse(node.func)
            if target in ("os.environ.get", "os.getenv", "environ.get"):
                keys.append(node.args[0])
        elif isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load):
            if ast.unparse(node.value) in ("os.environ", "environ"):
                keys.append(node.slice)
    return keys


def _constants(tree: ast.Module) -> dict[str, str]:
    return {
        t.id: node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
        for t in node.targets
        if isinstance(t, ast.Name)
    }


def test_labellake_variables_are_read_only_through_settings() -> None:
    offenders = []
    for package in CODE:
        for path in (ROOT / package).rglob("*.py"):
            if path == SETTINGS:
                continue
            tree = ast.parse(path.read_text())
            constants = _constants(tree)
            for key in _env_reads(tree):
                name = key.value if isinstance(key, ast.Constant) else constants.get(getattr(key, "id", ""), "")
                if str(name).startswith("LABELLAKE_"):
                    offenders.append(f"{path.relative_to(ROOT)}:{key.lineno} reads {name}")
    assert not offenders, offenders


def test_every_variable_the_code_names_is_documented_in_the_readme() -> None:
    documented = {v.name for v in VARIABLES}
    named = set()
    for package in CODE:
        for path in (ROOT / package).rglob("*.py"):
            named |= set(re.findall(r"\bLABELLAKE_[A-Z_]*[A-Z]\b", path.read_text()))
    assert named <= documented, sorted(named - documented)
    readme = (ROOT / "README.md").read_text()
    assert not [v.name for v in VARIABLES if f"`{v.name}`" not in readme]


def test_an_undocumented_variable_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LABELLAKE_SHUFFLE_PARTITIONS", "32")
    assert env_setting("LABELLAKE_SHUFFLE_PARTITIONS") == "32"
    with pytest.raises(KeyError, match="LABELLAKE_SHUFLE_PARTITIONS is not a documented labellake setting"):
        env_setting("LABELLAKE_SHUFLE_PARTITIONS")
