"""No import cycle between the modules of pipeline/: every import counts, also one inside a function
(a cycle held apart by a function-local import is still a cycle); ``if TYPE_CHECKING:`` imports do not."""

from __future__ import annotations

import ast
from pathlib import Path

PIPELINE = Path(__file__).resolve().parents[2] / "pipeline"


def module_name(path: Path, root: Path = PIPELINE) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_only(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return True
    return False


def import_graph(root: Path = PIPELINE) -> dict[str, set[str]]:
    """Module -> modules it imports (only modules of ``root``'s package)."""
    modules = {module_name(p, root): p for p in root.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Import, ast.ImportFrom)) or _type_checking_only(node, parents):
                continue
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
            for target in targets:
                while target and target not in modules:  # `from pkg import name`: name may be a function
                    target = target.rpartition(".")[0]
                if target and target != name and not name.startswith(target + "."):
                    graph[name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """Each group of modules that import one another: the strongly connected components (Tarjan)
    of more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[frozenset[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(frozenset(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_graph_sees_function_local_and_relative_imports(tmp_path):
    package = tmp_path / "pipeline"
    (package / "a").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "a" / "__init__.py").write_text("")
    (package / "a" / "x.py").write_text("def f():\n    from pipeline.a.y import g\n")
    (package / "a" / "y.py").write_text("from .x import f\nfrom typing import TYPE_CHECKING\n"
                                        "if TYPE_CHECKING:\n    from pipeline.a import z\n")
    (package / "a" / "z.py").write_text("from pipeline.a import y\n")
    graph = import_graph(package)
    assert cycles(graph) == [frozenset({"pipeline.a.x", "pipeline.a.y"})]
    assert "pipeline.a.z" not in graph["pipeline.a.y"] and graph["pipeline.a.z"] == {"pipeline.a.y"}


def test_no_import_cycle_in_pipeline():
    found = cycles(import_graph())
    assert not found, f"import cycles: {[sorted(c) for c in found]}"
