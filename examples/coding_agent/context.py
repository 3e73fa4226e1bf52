"""What the agent knows about a repository before its first call: the project's own
instructions, a summary of its README, and a map of its files and definitions.

Owns building those texts once, at session start, as ``(label, text)`` pairs for
``Prefix(project=...)``. They are snapshots on purpose: the prefix is cached, so it must
not change when the agent edits a file mid-session (retrieval, refreshed after every edit,
is the agent's fresh view of the code). Knows nothing of layers or models.
"""

from __future__ import annotations

import ast
import os
from pathlib import Path

_SKIP = {"__pycache__", ".git", ".pytest_cache", ".venv", "node_modules", ".mypy_cache",
         ".ruff_cache"}
README_LINES = 40
MAP_CHARS = 6000


def project_context(root: Path) -> list[tuple[str, str]]:
    """``[("AGENTS.md", ...), ("README.md (summary)", ...), ("repo map", ...)]``, the
    parts that exist."""
    out: list[tuple[str, str]] = []
    agents = root / "AGENTS.md"
    if agents.is_file():
        out.append(("AGENTS.md", agents.read_text(encoding="utf-8", errors="replace")))
    readme = next((root / n for n in ("README.md", "README.rst", "README.txt", "README")
                   if (root / n).is_file()), None)
    if readme is not None:
        out.append((f"{readme.name} (summary)", readme_summary(readme)))
    out.append(("repo map", repo_map(root)))
    return out


def readme_summary(path: Path, max_lines: int = README_LINES) -> str:
    """The README up to its second section heading (at most ``max_lines`` lines)."""
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    out: list[str] = []
    headings = 0
    for line in lines[:max_lines]:
        if line.startswith("#"):
            headings += 1
            if headings > 1 and out:
                break
        out.append(line)
    if len(out) < len(lines):
        out.append(f"[... {len(lines) - len(out)} more lines in {path.name}]")
    return "\n".join(out).strip()


def repo_map(root: Path, max_chars: int = MAP_CHARS) -> str:
    """Every file, sorted; Python files with their top-level definitions and methods."""
    lines = []
    for path in _files(root):
        rel = path.relative_to(root).as_posix()
        defs = _definitions(path) if path.suffix == ".py" else []
        lines.append(f"{rel}: {', '.join(defs)}" if defs else rel)
    text = "\n".join(lines)
    if len(text) > max_chars:
        cut = text[:max_chars].rsplit("\n", 1)[0]
        text = f"{cut}\n[... {text[len(cut):].count(chr(10))} more files]"
    return text


def _files(root: Path) -> list[Path]:
    out: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP and not d.startswith("."))
        out += [Path(dirpath) / f for f in sorted(filenames) if not f.endswith(".pyc")]
    return out


def _definitions(path: Path) -> list[str]:
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (SyntaxError, UnicodeDecodeError, OSError):
        return []
    out = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            out.append(f"{node.name}()")
        elif isinstance(node, ast.ClassDef):
            methods = [m.name for m in node.body
                       if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef))
                       and not (m.name.startswith("__") and m.name != "__init__")]
            out.append(f"class {node.name}" + (f" [{', '.join(methods)}]" if methods else ""))
    return out
