"""The package's shape: examples use only the public API, and the root holds only the spine."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PRIVATE = re.compile(r"^\s*(?:from|import)\s+ctxkit(?:\.\w+)*\._\w+", re.M)

# The spine (DESIGN.md, "Package layout"): block, draft, layer protocol, budget, cache
# model, drift, pipeline, record, tokens, profiles, errors, and their small helpers.
SPINE = {
    "__init__.py", "__main__.py", "_assembly.py", "_backend.py", "_block.py", "_budget.py",
    "_cache.py", "_capture.py", "_deprecated.py", "_draft.py", "_drift.py", "_errors.py",
    "_layer.py",
    "_pipeline.py", "_profile.py", "_record.py", "_subagent.py", "_tokens.py", "_tools.py",
    "_types.py", "py.typed",
}


def test_examples_import_no_private_ctxkit_module() -> None:
    offenders = []
    for path in sorted((REPO / "examples").rglob("*.py")):
        for match in PRIVATE.finditer(path.read_text(encoding="utf-8")):
            offenders.append(f"{path.relative_to(REPO)}: {match.group(0).strip()}")
    assert not offenders, "examples must use only ctxkit's public API:\n" + "\n".join(offenders)


def test_the_private_import_check_catches_one() -> None:
    assert PRIVATE.search("from ctxkit._demo_tools import RepoTools")
    assert PRIVATE.search("import ctxkit.report._html")
    assert not PRIVATE.search("from ctxkit.tools import RepoTools")


def test_package_root_lists_only_spine_modules() -> None:
    files = {p.name for p in (REPO / "ctxkit").iterdir() if p.is_file()}
    extra = sorted(files - SPINE)
    assert not extra, (f"{extra} sit at the package root; the root holds the spine only — "
                       "put role code in its package (DESIGN.md, 'Package layout')")


def _import_graph() -> dict[str, set[str]]:
    """Module -> ctxkit modules it imports at run time, at any depth (lazy imports in
    functions count); imports under ``if TYPE_CHECKING:`` never run and do not count."""
    import ast

    root = REPO / "ctxkit"
    mods: dict[str, Path] = {}
    for p in root.rglob("*.py"):
        if "sample_repo" in p.parts:
            continue
        parts = p.relative_to(REPO).with_suffix("").parts
        mods[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = p

    def typing_only(tree: ast.AST) -> set[int]:
        skip: set[int] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                skip |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
        return skip

    graph: dict[str, set[str]] = {m: set() for m in mods}
    for name, path in mods.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = typing_only(tree)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(tree):
            if id(node) in skip or not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*up, *([node.module] if node.module else [])])
                subs = [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in mods]
                targets = subs or [base]
            for t in targets:
                while t and t not in mods:
                    t = t.rpartition(".")[0]
                if t and t != name and t.startswith("ctxkit"):
                    graph[name].add(t)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles() -> None:
    cycles = _cycles(_import_graph())
    assert not cycles, ("import cycles (point dependencies down: DESIGN.md, 'Package "
                        f"layout'): {cycles}")


def test_the_cycle_finder_finds_one() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]
