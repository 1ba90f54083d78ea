"""No import cycles in judgekit and judgekit_evaluators, and no core module importing the
``judgekit`` package root (issue 19, item 3).

The graph is read from the source with :mod:`ast`, not by importing it: module-level imports
(what runs when a module is first imported) must form no cycle; imports inside functions may
close one (they run later, often to keep start-up fast), so they are checked apart and only
listed. ``if TYPE_CHECKING:`` blocks never run and are left out.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {"judgekit": ROOT / "judgekit",
            "judgekit_evaluators": ROOT / "evaluators" / "judgekit_evaluators"}

Graph = dict[str, set[str]]


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package, folder in PACKAGES.items():
        for path in sorted(folder.rglob("*.py")):
            parts = [package, *path.relative_to(folder).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST, in_function: bool = False) -> Iterator[tuple[ast.AST, bool]]:
    """Every import statement under ``tree``, with whether it sits inside a function."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node, in_function
        elif isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                yield from _imports(ast.Module(body=[child], type_ignores=[]), in_function)
        else:
            nested = in_function or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                      ast.Lambda))
            yield from _imports(node, nested)


def _targets(node: ast.AST, module: str, is_package: bool, known: set[str]) -> Iterator[str]:
    """The project modules an import statement loads (the names it takes from a package's
    ``__init__`` count as an import of that ``__init__``)."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.name in known:
                yield alias.name
        return
    assert isinstance(node, ast.ImportFrom)
    if node.level:
        base = module.split(".")
        base = base[:len(base) - node.level + (1 if is_package else 0)]
        source = ".".join([*base, node.module] if node.module else base)
    else:
        source = node.module or ""
    if source not in known:
        return
    for alias in node.names:
        sub = f"{source}.{alias.name}"
        yield sub if sub in known else source


def import_graphs() -> tuple[Graph, Graph]:
    """(module-level graph, function-level graph) over the project's modules."""
    modules = _modules()
    known = set(modules)
    top: Graph = {m: set() for m in modules}
    lazy: Graph = {m: set() for m in modules}
    for module, path in modules.items():
        tree = ast.parse(path.read_text(), str(path))
        is_package = path.name == "__init__.py"
        for node, in_function in _imports(tree):
            for target in _targets(node, module, is_package, known):
                if target != module:
                    (lazy if in_function else top)[module].add(target)
    return top, lazy


def cycles(graph: Graph) -> list[list[str]]:
    """One cycle through each strongly connected component of more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's algorithm; the graph has ~150 nodes
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
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

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_module_level_imports_form_no_cycle() -> None:
    top, _ = import_graphs()
    assert cycles(top) == []


def test_the_graph_reads_absolute_relative_and_lazy_imports() -> None:
    top, lazy = import_graphs()
    assert "judgekit.types" in top["judgekit.recording"]  # from judgekit.types import ...
    assert "judgekit.models.pricing" in lazy["judgekit.models.calls"]  # inside a function
    assert "judgekit.models.pricing" not in top["judgekit.models.calls"]
    assert "judgekit_evaluators.cot_qa" in top["judgekit_evaluators"]


def test_no_core_module_imports_the_package_root() -> None:
    # judgekit/__init__ is the public face: it imports the core, so the core importing names
    # from it (rather than from the module defining them) is a cycle waiting to happen.
    top, lazy = import_graphs()
    upward = sorted(m for m in top if m != "judgekit" and "judgekit" in top[m] | lazy[m])
    assert upward == []


def test_the_cycle_finder_finds_cycles() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_evaluator_module_imports_back_through_its_package() -> None:
    # judgekit_evaluators/__init__ imports the judges' modules: each takes what it needs from
    # the module defining it (_common, _judge, ...), never from the package.
    top, lazy = import_graphs()
    back = sorted(m for m in top if m.startswith("judgekit_evaluators.")
                  and "judgekit_evaluators" in top[m] | lazy[m])
    assert back == []


def test_settings_and_the_call_layer_are_not_in_one_cycle_even_lazily() -> None:
    # settings is the bottom layer: calls registers its runtime reset with it (no import back).
    top, lazy = import_graphs()
    full = {m: top[m] | lazy[m] for m in top}
    assert not [c for c in cycles(full) if "judgekit.models.settings" in c]
