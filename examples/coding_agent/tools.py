"""The agent's tools: ctxkit's ``RepoTools`` (list, read, grep, edit, write, run, test) plus
a dozen code-navigation and bookkeeping tools that a model needs less often.

Owns ``AgentTools``: ``core()`` is the stable set that goes into the cached prefix,
``extra()`` the rest, which ``ToolSearch`` serves on demand once the toolset passes its
threshold. Every tool is a bound method with a docstring (its description) and typed
arguments (its schema), confined to the repository like the core ones, with canonical
output. ``diff`` and ``revert_file`` compare with a snapshot taken when the tools were
made (the start of the session). Knows nothing of models, layers or the pipeline.
"""

from __future__ import annotations

import ast
import difflib
import hashlib
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ctxkit.tools import RepoTools, ToolError

MAX_SNAPSHOT_BYTES = 200_000
MAX_HITS = 60


class AgentTools(RepoTools):
    """``RepoTools`` plus the extended set; see the module docstring."""

    def __init__(self, root: str | Path, **kw: Any) -> None:
        super().__init__(root, **kw)
        self._snapshot = {self._rel(f): f.read_text(encoding="utf-8")
                          for f in self._files(self.root) if _is_text(f)}

    def core(self) -> list[Callable[..., str]]:
        """The tools every call shows the model."""
        return self.all_tools()

    def extra(self) -> list[Callable[..., str]]:
        """The tools found through ``search_tools`` when the toolset is large."""
        return [self.outline, self.find_definition, self.find_references, self.show_function,
                self.list_tests, self.imports, self.importers, self.check_syntax,
                self.file_info, self.diff, self.revert_file, self.todo_comments,
                self.python_info]

    def _py(self, path: str) -> tuple[Path, ast.Module]:
        f = self._resolve(path)
        if not f.is_file() or f.suffix != ".py":
            raise ToolError(f"{path!r} is not a Python file; list_dir('.') shows the files")
        try:
            return f, ast.parse(f.read_text(encoding="utf-8"), filename=path)
        except SyntaxError as exc:
            raise ToolError(f"{path} does not parse: line {exc.lineno}: {exc.msg}") from None

    def _py_files(self) -> list[Path]:
        return [f for f in self._files(self.root) if f.suffix == ".py"]

    # -- navigation ----------------------------------------------------------------------

    def outline(self, path: str) -> str:
        """List the classes, functions and methods of a Python file with their line
        numbers and signatures.

        Args:
            path: a .py file relative to the repository root.
        """
        def work() -> str:
            _, tree = self._py(path)
            lines: list[str] = []
            for node in tree.body:
                lines += _outline(node, "")
            return "\n".join(lines) or f"{path} defines no functions or classes"

        return self._log("outline", {"path": path}, work)

    def find_definition(self, name: str) -> str:
        """Find where a Python function, class or method called ``name`` is defined.

        Args:
            name: the bare name, e.g. "parse" or "Paginator".
        """
        def work() -> str:
            hits = [f"{self._rel(f)}:{line}: {sig}" for f in self._py_files()
                    for line, sig in _definitions(f, name)]
            return "\n".join(hits) or f"no definition of {name!r} in the repository"

        return self._log("find_definition", {"name": name}, work)

    def find_references(self, name: str) -> str:
        """Find the lines of Python files that use ``name`` (whole word), definitions left
        out.

        Args:
            name: the bare name, e.g. "num_pages".
        """
        def work() -> str:
            rx = re.compile(rf"\b{re.escape(name)}\b")
            skip = re.compile(rf"^\s*(def|class)\s+{re.escape(name)}\b")
            hits = []
            for f in self._py_files():
                for n, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1):
                    if rx.search(line) and not skip.match(line):
                        hits.append(f"{self._rel(f)}:{n}: {line.strip()}")
            more = len(hits) - MAX_HITS
            out = "\n".join(hits[:MAX_HITS]) or f"no references to {name!r}"
            return out + (f"\n... {more} more" if more > 0 else "")

        return self._log("find_references", {"name": name}, work)

    def show_function(self, path: str, name: str) -> str:
        """Show the source of one function, class or method (``Class.method``) with line
        numbers.

        Args:
            path: a .py file relative to the repository root.
            name: "func", "Class" or "Class.method".
        """
        def work() -> str:
            f, tree = self._py(path)
            node = _find(tree, name.split("."))
            if node is None:
                raise ToolError(f"no {name!r} in {path}; outline({path!r}) lists what it "
                                "defines")
            lines = f.read_text(encoding="utf-8").splitlines()
            start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            end = node.end_lineno or node.lineno
            return "\n".join(f"{n}\t{lines[n - 1]}" for n in range(start, end + 1))

        return self._log("show_function", {"path": path, "name": name}, work)

    def list_tests(self, path: str = "tests") -> str:
        """List the test functions (pytest node ids) under a file or directory, without
        running them.

        Args:
            path: a test file or directory relative to the repository root.
        """
        def work() -> str:
            ids = []
            for f in self._files(self._resolve(path)):
                if f.suffix != ".py" or not f.name.startswith("test"):
                    continue
                _, tree = self._py(self._rel(f))
                for node in tree.body:
                    if isinstance(node, ast.FunctionDef) and node.name.startswith("test"):
                        ids.append(f"{self._rel(f)}::{node.name}")
                    elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
                        ids += [f"{self._rel(f)}::{node.name}::{m.name}" for m in node.body
                                if isinstance(m, ast.FunctionDef) and m.name.startswith("test")]
            return "\n".join(ids) or f"no tests under {path}"

        return self._log("list_tests", {"path": path}, work)

    def imports(self, path: str) -> str:
        """List the modules a Python file imports, one per line.

        Args:
            path: a .py file relative to the repository root.
        """
        def work() -> str:
            _, tree = self._py(path)
            return "\n".join(sorted(_imported(tree))) or f"{path} imports nothing"

        return self._log("imports", {"path": path}, work)

    def importers(self, module: str) -> str:
        """List the Python files that import a module (or something from it).

        Args:
            module: a dotted module name, e.g. "pager.paginate", or its last part.
        """
        def work() -> str:
            out = []
            for f in self._py_files():
                try:
                    mods = _imported(ast.parse(f.read_text(encoding="utf-8")))
                except SyntaxError:
                    continue
                if any(m == module or m.endswith("." + module) or m.lstrip(".") == module
                       for m in mods):
                    out.append(self._rel(f))
            return "\n".join(out) or f"no file imports {module!r}"

        return self._log("importers", {"module": module}, work)

    # -- checks and bookkeeping ------------------------------------------------------------

    def check_syntax(self, path: str) -> str:
        """Check that a Python file parses; returns "ok" or the syntax error's line.

        Args:
            path: a .py file relative to the repository root.
        """
        return self._log("check_syntax", {"path": path}, lambda: self._py(path) and "ok")

    def file_info(self, path: str) -> str:
        """Size, line count and a short content hash of a file (to see if it changed).

        Args:
            path: a file relative to the repository root.
        """
        def work() -> str:
            f = self._resolve(path)
            if not f.is_file():
                raise ToolError(f"no file {path!r}")
            data = f.read_bytes()
            num_lines = data.count(b"\n") + (not data.endswith(b"\n") and bool(data))
            return (f"{path}: {len(data)} bytes, {num_lines} lines, sha256 "
                    f"{hashlib.sha256(data).hexdigest()[:12]}")

        return self._log("file_info", {"path": path}, work)

    def diff(self, path: str = "") -> str:
        """Show what changed since the session started, as a unified diff.

        Args:
            path: one file relative to the repository root; empty for every file.
        """
        def work() -> str:
            now = {self._rel(f): f.read_text(encoding="utf-8")
                   for f in self._files(self.root) if _is_text(f)}
            names = [path] if path else sorted(set(now) | set(self._snapshot))
            out: list[str] = []
            for name in names:
                self._resolve(name)
                a, b = self._snapshot.get(name, ""), now.get(name, "")
                out += difflib.unified_diff(a.splitlines(), b.splitlines(), f"a/{name}",
                                            f"b/{name}", lineterm="")
            return "\n".join(out) or "no changes since the session started"

        return self._log("diff", {"path": path}, work)

    def revert_file(self, path: str) -> str:
        """Undo every change to a file since the session started.

        Args:
            path: a file relative to the repository root.
        """
        def work() -> str:
            f = self._resolve(path)
            rel = self._rel(f)
            if rel not in self._snapshot:
                if not f.exists():
                    raise ToolError(f"{path!r} did not exist at the start and does not now")
                f.unlink()
                return f"removed {rel} (it did not exist when the session started)"
            f.write_text(self._snapshot[rel], encoding="utf-8")
            return f"reverted {rel} to its content at the start of the session"

        return self._log("revert_file", {"path": path}, work)

    def todo_comments(self) -> str:
        """List the TODO, FIXME and XXX comments of the repository."""
        def work() -> str:
            rx = re.compile(r"#\s*(TODO|FIXME|XXX)\b")
            hits = [f"{self._rel(f)}:{n}: {line.strip()}" for f in self._files(self.root)
                    if _is_text(f)
                    for n, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1)
                    if rx.search(line)]
            return "\n".join(hits[:MAX_HITS]) or "no TODO, FIXME or XXX comments"

        return self._log("todo_comments", {}, work)

    def python_info(self) -> str:
        """The Python version and the pytest version the tests run with."""
        def work() -> str:
            import platform

            import pytest

            return f"Python {platform.python_version()}, pytest {pytest.__version__}"

        return self._log("python_info", {}, work)


def _is_text(f: Path) -> bool:
    """A UTF-8 text file small enough to snapshot."""
    try:
        if f.stat().st_size > MAX_SNAPSHOT_BYTES:
            return False
        f.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    return True


def _signature(node: ast.AST) -> str:
    if isinstance(node, ast.ClassDef):
        bases = ", ".join(ast.unparse(b) for b in node.bases)
        return f"class {node.name}({bases})" if bases else f"class {node.name}"
    assert isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    ret = f" -> {ast.unparse(node.returns)}" if node.returns else ""
    kw = "async def" if isinstance(node, ast.AsyncFunctionDef) else "def"
    return f"{kw} {node.name}({ast.unparse(node.args)}){ret}"


def _outline(node: ast.AST, indent: str) -> list[str]:
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return []
    out = [f"{node.lineno}\t{indent}{_signature(node)}"]
    if isinstance(node, ast.ClassDef):
        for child in node.body:
            out += _outline(child, indent + "    ")
    return out


def _definitions(f: Path, name: str) -> list[tuple[int, str]]:
    try:
        tree = ast.parse(f.read_text(encoding="utf-8"))
    except (SyntaxError, UnicodeDecodeError):
        return []
    return [(n.lineno, _signature(n)) for n in ast.walk(tree)
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            and n.name == name]


def _find(tree: ast.AST, parts: list[str]) -> Any:
    scope: Any = tree
    for part in parts:
        scope = next((n for n in getattr(scope, "body", [])
                      if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                      and n.name == part), None)
        if scope is None:
            return None
    return scope


def _imported(tree: ast.Module) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            out.add("." * node.level + (node.module or ""))
    return out
