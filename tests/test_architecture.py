"""The layout the code keeps: no import cycles, each tunnel type in one place, small modules."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from netlab.model import Tunnel
from netlab.tunnels import TYPE_NAMES

PACKAGE = Path(__file__).resolve().parent.parent / "netlab"
# Ansible loads these by file, outside netlab's import graph.
OUTSIDE = ("ansible_plugins",)
MAX_LINES = 400


def modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        if any(part in OUTSIDE for part in rel.parts):
            continue
        name = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        out[name] = path
    return out


def _type_checking_only(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return True
    return False


def imports(path: Path, name: str, known: set[str]) -> set[str]:
    """netlab modules `path` imports, at the top or inside functions (not under TYPE_CHECKING)."""
    tree = ast.parse(path.read_text())
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = name if path.name == "__init__.py" else name.rpartition(".")[0]
                for _ in range(node.level - 1):
                    package = package.rpartition(".")[0]
                base = f"{package}.{base}".rstrip(".")
            # `from netlab.x import y` imports netlab.x, and netlab.x.y when y is a module.
            targets = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        else:
            continue
        if _type_checking_only(node, parents):
            continue
        found |= {t for t in targets if t in known and t != name}
    return found


def import_graph() -> dict[str, set[str]]:
    mods = modules()
    return {name: imports(path, name, set(mods)) for name, path in mods.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_the_import_walk_sees_a_cycle_when_there_is_one() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_import_walk_finds_function_level_imports(tmp_path: Path) -> None:
    mod = tmp_path / "m.py"
    mod.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import x.hidden\n"
                   "def f():\n    from x import late\n")
    assert imports(mod, "m", {"x", "x.late", "x.hidden"}) == {"x", "x.late"}


def test_netlab_has_no_import_cycles() -> None:
    assert cycles(import_graph()) == []


def test_providers_import_no_other_provider_and_not_the_configuration_stage() -> None:
    graph = import_graph()
    providers = {m for m in graph if m.startswith("netlab.providers.")}
    shared = {"netlab.providers.base", "netlab.providers.segments"}
    for name in providers:
        mine = name.split(".")[2]
        for target in graph[name]:
            assert not target.startswith("netlab.configure"), f"{name} imports {target}"
            if target.startswith("netlab.providers.") and target not in shared:
                assert target.split(".")[2] == mine, f"{name} imports another provider: {target}"
    # The registry only registers: it imports no provider module.
    assert graph["netlab.providers"] <= {"netlab.errors", "netlab.model", "netlab.providers.base",
                                         "netlab.settings"}


_TYPE_WORD = re.compile(r"\b(" + "|".join(TYPE_NAMES) + r")\b")


def _strings(tree: ast.AST) -> list[tuple[int, str]]:
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
    ]


# A field that a type shares its name with (`vlan: 100` of type vlan) is named as a field:
# a dict key or a field path, the whole string.
_FIELDS = frozenset(Tunnel.model_fields)


def test_only_the_tunnels_package_names_a_tunnel_type() -> None:
    named = [
        f"{path.relative_to(PACKAGE.parent)}:{line}: {text!r}"
        for name, path in modules().items()
        if not name.startswith("netlab.tunnels")
        for line, text in _strings(ast.parse(path.read_text()))
        if _TYPE_WORD.search(text) and text.lstrip(".") not in _FIELDS
    ]
    assert named == []


@pytest.mark.parametrize("name", sorted(modules()))
def test_no_module_is_over_400_lines(name: str) -> None:
    lines = len(modules()[name].read_text().splitlines())
    assert lines <= MAX_LINES, f"{name} has {lines} lines: split it by job"
