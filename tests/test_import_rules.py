"""The layering the code keeps, read from its imports (issue 31): no cycles; the LF library, the
expectations and the label models import only the core of ``jobs``; reports import no stage."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("jobs", "lf_library", "expectations", "dags")
CORE = {"jobs.errors", "jobs.settings", "jobs.datasets"}
STAGES = {"jobs.ingest", "jobs.apply_lfs", "jobs.fit_label_model", "jobs.validate", "jobs.publish", "jobs.stages"}
REPORTS = {"jobs.summary", "jobs.label_history", "jobs.run_report", "jobs.svg_charts", "jobs.lf_library_status"}


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


def import_graph() -> dict[str, set[str]]:
    """Each project module and the project modules it imports, at module level or inside functions."""
    modules = _modules()

    def owner(name: str) -> str:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name

    graph: dict[str, set[str]] = {m: set() for m in modules}
    for module, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
            for name in names:
                target = owner(name) if name.split(".")[0] in PACKAGES else ""
                if target and target != module and not module.startswith(target + "."):
                    graph[module].add(target)
    return graph


def _cycle_from(graph: dict[str, set[str]], start: str) -> list[str] | None:
    """A path start -> ... -> start, if there is one (depth-first)."""
    stack, seen = [(start, [start])], set()
    while stack:
        node, path = stack.pop()
        for nxt in sorted(graph[node]):
            if nxt == start:
                return [*path, start]
            if nxt not in seen:
                seen.add(nxt)
                stack.append((nxt, [*path, nxt]))
    return None


def test_no_import_cycles() -> None:
    graph = import_graph()
    cycles = [cycle for m in sorted(graph) if (cycle := _cycle_from(graph, m))]
    assert not cycles, cycles[0]


def test_library_expectations_and_label_models_import_only_the_core() -> None:
    graph = import_graph()
    for module, imported in graph.items():
        if module.startswith(("lf_library", "expectations", "jobs.label_models")):
            outside = {m for m in imported if m.startswith(("jobs", "dags")) and not m.startswith("jobs.label_models")}
            assert outside <= CORE, (module, sorted(outside - CORE))


def test_reports_import_no_stage() -> None:
    graph = import_graph()
    assert set(graph) >= REPORTS | STAGES
    for report in REPORTS:
        assert not graph[report] & (STAGES | {"jobs.pipeline"}), (report, sorted(graph[report] & STAGES))
