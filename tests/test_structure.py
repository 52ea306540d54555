"""The shape of the code: imports inside ``heldout_core`` run one way (no cycles), and the core
imports no framework."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

CORE = Path(__file__).parent.parent / "heldout_core"


def module_name(path: Path) -> str:
    parts = path.relative_to(CORE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def core_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(CORE.rglob("*.py"))}


def imports_of(name: str, path: Path, modules: set[str]) -> set[str]:
    """Every heldout_core module ``name`` imports, at the top or inside functions."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            # `from pkg import sub` imports the submodule when there is one, else pkg itself
            targets = [f"{source}.{a.name}" if f"{source}.{a.name}" in modules else source for a in node.names]
        else:
            continue
        found |= {t for t in targets if t in modules and t != name}
    return found


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` as a list of modules, or None (depth-first search)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node):
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_core_has_no_import_cycles():
    modules = core_modules()
    graph = {name: imports_of(name, path, set(modules)) for name, path in modules.items()}
    assert len(graph) > 20 and graph["heldout_core.store"], "the walker found no imports; it is broken"
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_a_planted_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_relative_imports_resolve_to_modules(tmp_path):
    modules = set(core_modules())
    graph = imports_of("heldout_core.estimators._influence", CORE / "estimators" / "_influence.py", modules)
    assert {"heldout_core.kernels", "heldout_core.params", "heldout_core.atomic",
            "heldout_core.estimators._common"} <= graph


HEAVY = "('tensorflow', 'dask', 'distributed', 'dask_jobqueue', 'matplotlib', 'sonnet')"


@pytest.mark.parametrize("module", ["heldout_core", "heldout_core.cli", "heldout_core.plugins",
                                    "heldout_core.training", "heldout_core.loading", "heldout_core.report",
                                    "heldout_core.estimators"])
def test_core_imports_no_framework(module):
    code = f"import sys, {module}; heavy = [m for m in {HEAVY} if m in sys.modules]; print(','.join(heavy))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", f"importing {module} imported {out}"


def test_the_command_line_loads_dask_only_for_a_cluster_flag():
    """Building every command's parser (the cluster flags included) and running a command without
    a cluster flag import no Dask; the cluster code is loaded by a cluster flag alone."""
    code = ("import sys; from heldout_core.cli import build_parser, main; build_parser(); "
            "main(['estimate', '/nonexistent', '--out', '/nonexistent/out']); "
            f"print(','.join(m for m in {HEAVY} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", f"the command line imported {out}"
