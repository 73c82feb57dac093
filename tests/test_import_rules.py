"""The layering the code keeps, read from its imports (issue 31): no cycles; the LF library, the
expectations and the label models import only the core of ``jobs``; reports import no stage."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("jobs", "lf_library", "expectations", "dags", "labellake")
TOP_LEVEL_LIMIT = 10
MODULE_LINE_LIMIT = 400


def _under(module: str, *packages: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


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


def test_the_core_imports_nothing_else_of_the_project() -> None:
    graph = import_graph()
    for module, imported in graph.items():
        if _under(module, "jobs.core"):
            outside = {m for m in imported if not _under(m, "jobs.core") and m != "jobs"}
            assert not outside, (module, sorted(outside))


def test_library_expectations_and_label_models_import_only_the_core() -> None:
    graph = import_graph()
    for module, imported in graph.items():
        if _under(module, "lf_library", "expectations", "jobs.label_models"):
            outside = {
                m
                for m in imported
                if _under(m, "jobs", "dags") and not _under(m, "jobs.core", "jobs.label_models") and m != "jobs"
            }
            assert not outside, (module, sorted(outside))


BELOW = {
    "jobs.core": set(),
    "jobs.spark": {"jobs.core", "lf_library"},
    "jobs.lake": {"jobs.core", "jobs.spark"},
    "jobs.patterns": {"jobs.core", "jobs.lake"},
    "jobs.label_models": {"jobs.core"},
    "jobs.hand_labels": {"jobs.core", "jobs.spark", "jobs.lake", "jobs.patterns", "jobs.label_models"},
    "jobs.stages": {"jobs.core", "jobs.spark", "jobs.lake", "jobs.patterns", "jobs.label_models", "jobs.hand_labels"}
    | {"lf_library", "expectations"},
    "jobs.reports": {"jobs.core", "jobs.spark", "jobs.lake", "jobs.patterns", "jobs.label_models", "jobs.hand_labels"}
    | {"lf_library"},
    "lf_library": {"jobs.core"},
    "expectations": {"jobs.core"},
}
"""What each layer may import besides itself (the README's table): the platform, the patterns and
the label models serve the stages; the read-side reports never import a stage, the CLI or a bench."""


def _layer(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "jobs" and len(parts) > 1 else parts[0]


def test_each_layer_imports_only_the_layers_below_it() -> None:
    graph = import_graph()
    for module, imported in graph.items():
        layer = _layer(module)
        if layer not in BELOW:
            continue  # cli, bench, pipeline, dags: the top, they may import anything
        reached = {_layer(m) for m in imported if m != "jobs"} - {layer} - BELOW[layer]
        assert not reached, (module, sorted(reached))


def test_jobs_is_a_few_folders_of_modules_under_400_lines() -> None:
    top = [p.name for p in (ROOT / "jobs").glob("*.py")]
    assert len(top) <= TOP_LEVEL_LIMIT, sorted(top)
    long = {
        str(path.relative_to(ROOT)): n
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if (n := len(path.read_text().splitlines())) > MODULE_LINE_LIMIT
    }
    assert not long, long
