"""Python by syntax: one chunk per function, per method, per class header (signature,
docstring, attributes and the names of its methods), and blank-line blocks of the module
code between definitions. Every chunk names its file and enclosing class in a header line;
a definition longer than the window is cut into windows that repeat its signature.

Owns the walk over the ``ast``. Falls back to the plain source chunker when the file does
not parse. Knows nothing of files on disk or indexes.
"""

from __future__ import annotations

import ast

from ._spans import ChunkConfig, Span, join, line_blocks

_Def = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def chunk_python(text: str, path: str, cfg: ChunkConfig) -> list[Span]:
    """Chunks of a Python module by syntax (see the module docstring)."""
    lines = text.splitlines()
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError):
        return [Span(s, e, f"# {path}\n{join(lines, s, e)}")
                for s, e in line_blocks(lines, 1, len(lines), cfg.max_lines)]
    out: list[Span] = []
    _body(tree.body, lines, path, [], 1, len(lines), cfg, out)
    out.sort(key=lambda s: (s.start_line, s.end_line))
    return out


def _start(node: ast.AST) -> int:
    decos = getattr(node, "decorator_list", None) or []
    first: int = getattr(node, "lineno", 1)
    return min([first] + [int(d.lineno) for d in decos])


def _header(path: str, scope: list[str]) -> str:
    return f"# {path}" + (f" · in class {'.'.join(scope)}" if scope else "")


def _body(body: list[ast.stmt], lines: list[str], path: str, scope: list[str], lo: int,
          hi: int, cfg: ChunkConfig, out: list[Span]) -> None:
    """Chunk the statements ``body`` spanning lines ``lo..hi``: definitions on their own,
    the code between them in blocks."""
    cursor = lo
    for node in body:
        if not isinstance(node, _Def):
            continue
        start, end = _start(node), node.end_lineno or node.lineno
        _gap(lines, path, scope, cursor, start - 1, cfg, out)
        if isinstance(node, ast.ClassDef):
            _class(node, lines, path, scope, start, end, cfg, out)
        else:
            _definition(lines, path, scope, node.name, start, end, node.lineno, cfg, out)
        cursor = end + 1
    _gap(lines, path, scope, cursor, hi, cfg, out)


def _gap(lines: list[str], path: str, scope: list[str], lo: int, hi: int, cfg: ChunkConfig,
         out: list[Span]) -> None:
    if hi < lo:
        return
    head = _header(path, scope)
    symbol = ".".join(scope)
    for s, e in line_blocks(lines, lo, hi, cfg.max_lines):
        out.append(Span(s, e, f"{head}\n{join(lines, s, e)}", symbol))


def _definition(lines: list[str], path: str, scope: list[str], name: str, start: int,
                end: int, def_line: int, cfg: ChunkConfig, out: list[Span]) -> None:
    """A function or method: whole when it fits ``max_def_lines``, else windows that each
    repeat the signature so every piece says what it belongs to."""
    head = _header(path, scope)
    symbol = ".".join([*scope, name])
    if end - start + 1 <= cfg.max_def_lines:
        out.append(Span(start, end, f"{head}\n{join(lines, start, end)}", symbol))
        return
    signature = lines[def_line - 1].strip()
    pieces = line_blocks(lines, start, end, cfg.max_lines)
    for i, (s, e) in enumerate(pieces, 1):
        note = "" if i == 1 else f" · {signature} (part {i}/{len(pieces)})"
        out.append(Span(s, e, f"{head}{note}\n{join(lines, s, e)}", symbol))


def _class(node: ast.ClassDef, lines: list[str], path: str, scope: list[str], start: int,
           end: int, cfg: ChunkConfig, out: list[Span]) -> None:
    """A class: its header (up to the first definition inside) listing its methods, then
    each method and nested class in the class's scope."""
    inner = [n for n in node.body if isinstance(n, _Def)]
    if not inner:
        _definition(lines, path, scope, node.name, start, end, node.lineno, cfg, out)
        return
    first = _start(inner[0])
    head_end = first - 1
    while head_end > start and not lines[head_end - 1].strip():
        head_end -= 1
    names = ", ".join(n.name for n in inner)
    member_scope = [*scope, node.name]
    body_text = join(lines, start, head_end)
    if head_end - start + 1 > cfg.max_lines:
        body_text = join(lines, start, start + cfg.max_lines - 1)
        _gap(lines, path, member_scope, start + cfg.max_lines, head_end, cfg, out)
        head_end = start + cfg.max_lines - 1
    out.append(Span(start, head_end,
                    f"{_header(path, scope)}\n{body_text}\n    # members: {names}",
                    ".".join(member_scope)))
    _body(node.body, lines, path, member_scope, first, end, cfg, out)
