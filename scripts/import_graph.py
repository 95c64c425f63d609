"""Figures of xyzfarm's import graph: cycles, imports that point up a layer, imports in functions.

Usage: ``python scripts/import_graph.py [PACKAGE_DIR] [--edges]`` (default ``xyzfarm``).

Reads the source with :mod:`ast` (nothing is imported), so it measures any checkout, old or new.
Every import of a module of the package counts, at module level or inside a function, except
those under ``if TYPE_CHECKING:`` (they never run). A module's layer is its sub-package as laid
out by issue 14; a module of the flat layout from before is placed by :data:`OLD_HOME`, so both
layouts are measured against the same order. Layers, lowest first, are :data:`LAYERS`; an import
from a lower layer to a higher one is an *upward edge*.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

#: lowest first; an import may point only to its own layer or one below it
LAYERS = ["errors", "store", "sweep", "schedulers", "folder", "node", "crop", "api"]

#: a flat module of the old layout -> the layer it moved to
OLD_HOME = {
    "arguments": "sweep",
    "combos": "sweep",
    "execute": "sweep",
    "assemble": "sweep",
    "sweep": "sweep",
    "storage": "store",
    "datafile": "store",
    "merge": "store",
    "inplace": "store",
    "crop": "crop",
    "crop_base": "crop",
    "crop_grow": "crop",
    "crop_reap": "crop",
    "crop_farmer": "crop",
    "sow": "crop",
    "growing": "crop",
    "reap": "crop",
    "cluster": "crop",
    "schedulers.submit": "crop",
    "layout": "folder",
    "manifest": "folder",
    "records": "folder",
    "results": "folder",
    "state": "folder",
    # the crop folder's format left node/ for folder/ (issue 24): node.<m> of the layout before
    **{
        f"node.{m}": "folder"
        for m in (
            "display",
            "failures",
            "layout",
            "manifest",
            "outcomes",
            "provenance",
            "records",
            "results",
            "state",
            "submissions",
            "throttle",
        )
    },
    "worker": "node",
    "worker_cli": "node",
    "pool": "node",
    "slots": "node",
    "sentinel": "node",
    "shipping": "node",
    "nested": "sweep",
    "raw_reap": "crop",
    "cluster_keywords": "crop",
    "frames": "manage",
    "case_search": "manage",
    "reshape": "manage",
    "file_merge": "manage",
    "disk_cache": "manage",
    "worker.__main__": "api",
    "slurm_outputs": "manage",
    "errors": "errors",
}


def layer_of(module: str) -> str:
    """The layer of ``module`` (dotted, without the package name)."""
    if module in OLD_HOME:
        return "api" if OLD_HOME[module] == "manage" else OLD_HOME[module]
    head = module.split(".")[0]
    if head == "manage":  # xyzpy's manage helpers are part of the user's API
        return "api"
    if head in LAYERS:
        return head
    return "api"


def modules(root: Path) -> dict[str, Path]:
    """Dotted module name (without the package) -> file, for every module under ``root``."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts) or "__init__"] = path
    return found


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, in_function: bool = False) -> Iterator[tuple[ast.AST, bool]]:
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                yield from _imports(child, in_function)
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node, in_function
        inner = in_function or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        yield from _imports(node, inner)


def _from_targets(stem: str, node: ast.ImportFrom) -> list[str]:
    # ``from .p import m`` imports the module p.m when there is one, else a name of p
    return [f"{stem}.{a.name}" for a in node.names] + [stem]


def edges(package: str, known: dict[str, Path]) -> list[tuple[str, str, bool]]:
    """(importer, imported, inside a function) for each import between the package's modules."""
    found = []
    for name, path in known.items():
        is_package = path.name == "__init__.py"
        here = name.split(".") if name != "__init__" else []
        base = here if is_package else here[:-1]
        for node, in_function in _imports(ast.parse(path.read_text(), str(path))):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level:
                up = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                stem = ".".join([package, *up, *([node.module] if node.module else [])])
                targets = _from_targets(stem, node)
            elif isinstance(node, ast.ImportFrom) and node.module:
                targets = _from_targets(node.module, node)
            dotted = [t[len(package) + 1 :] for t in targets if t.startswith(package + ".")]
            named = [d for d in dotted if d in known]
            # ``from . import x`` names the module x; ``from .x import y`` names x
            submodules = [d for d in named[:-1]] if isinstance(node, ast.ImportFrom) else named
            for target in submodules or named[-1:]:
                if target != name:
                    found.append((name, target, in_function))
    return sorted(set(found))


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def main(argv: list[str]) -> int:
    root = Path(next((a for a in argv if not a.startswith("-")), "xyzfarm"))
    known = modules(root)
    found = edges(root.name, known)
    graph: dict[str, set[str]] = {}
    for a, b, _ in found:
        graph.setdefault(a, set()).add(b)
    rank = {layer: i for i, layer in enumerate(LAYERS)}
    upward = sorted({(a, b) for a, b, _ in found if rank[layer_of(a)] < rank[layer_of(b)]})
    in_functions = [(a, b) for a, b, f in found if f]
    components = cycles(graph)
    print(f"modules: {len(known)}  imports between them: {len(found)}")
    print(f"cycles: {len(components)}  (modules in them: {sum(map(len, components))})")
    for component in components:
        print("  cycle:", " ".join(component))
    print(f"upward edges: {len(upward)}")
    for a, b in upward:
        print(f"  {a} ({layer_of(a)}) -> {b} ({layer_of(b)})")
    print(f"imports inside functions: {len(in_functions)}")
    if "--edges" in argv:
        for a, b, f in found:
            print(f"  {a} -> {b}{'  (in a function)' if f else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
