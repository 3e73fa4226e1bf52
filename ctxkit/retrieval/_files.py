"""Files: walking roots, reading text safely, and deciding what changed.

Owns which files are looked at (hidden and vendored directories are not), what is skipped
and why (binary, too large, not UTF-8, unreadable: counted, never raised), and the content
hash. Knows nothing of chunks or indexes.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

IGNORED_DIRS = frozenset({"node_modules", "__pycache__", "venv", "site-packages",
                          "dist-packages", "target"})


@dataclass(frozen=True, slots=True)
class FileState:
    """What the manifest remembers of a file."""

    path: str  # absolute
    size: int
    mtime: float


def content_hash(data: bytes | str) -> str:
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    return hashlib.sha256(data).hexdigest()[:32]


def walk(roots: Sequence[str], exclude: Sequence[str] = ()) -> Iterator[FileState]:
    """Every regular file under ``roots`` (files or directories), sorted, once each.

    Directories whose name starts with "." or is in IGNORED_DIRS are not entered; paths
    matching a glob in ``exclude`` (against the path relative to its root, or the name)
    are left out.
    """
    seen: set[str] = set()
    for root in roots:
        root = os.path.abspath(root)
        if os.path.isfile(root):
            candidates: Iterable[str] = [root]
        else:
            candidates = _walk_dir(root, exclude)
        for path in candidates:
            if path in seen:
                continue
            seen.add(path)
            try:
                st = os.stat(path)
            except OSError:
                continue
            yield FileState(path, st.st_size, st.st_mtime)


def _walk_dir(root: str, exclude: Sequence[str]) -> Iterator[str]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames
                             if not d.startswith(".") and d not in IGNORED_DIRS
                             and not _excluded(os.path.join(dirpath, d), root, exclude))
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            if not _excluded(path, root, exclude) and os.path.isfile(path):
                yield path


def _excluded(path: str, root: str, patterns: Sequence[str]) -> bool:
    if not patterns:
        return False
    rel = os.path.relpath(path, root)
    name = os.path.basename(path)
    return any(fnmatch.fnmatch(rel, p) or fnmatch.fnmatch(name, p) for p in patterns)


def under(path: str, roots: Sequence[str]) -> bool:
    """Whether ``path`` is one of ``roots`` or inside one."""
    for r in roots:
        if path == r or path.startswith(r.rstrip(os.sep) + os.sep):
            return True
    return False


def read_text(path: str, max_bytes: int) -> tuple[str | None, str | None, str]:
    """(text, hash, reason): the text and its hash, or None and why it was skipped."""
    try:
        if os.path.getsize(path) > max_bytes:
            return None, None, "too_large"
        with open(path, "rb") as fh:
            data = fh.read(max_bytes + 1)
    except OSError:
        return None, None, "unreadable"
    if len(data) > max_bytes:
        return None, None, "too_large"
    if b"\x00" in data[:8192]:
        return None, None, "binary"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None, None, "not_utf8"
    return text, content_hash(data), ""
