"""Files the tools may touch: walked, resolved and kept under the root, regular only.

Owns the rules every file tool shares. A walk yields regular files only (a FIFO would
block a reader for ever, a device would never end) whose real path stays under the root
(a symlink to ``/etc/passwd`` is skipped, one to a file in the repository is kept under
its own name). Opening checks again on the open descriptor (``O_NONBLOCK``, then
``fstat``), so what was swapped since the walk is still refused. Lines are read in
bounded pieces, each cut to a maximum length. Knows nothing of tools' output formats.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

READ_CHUNK = 1 << 16


def is_inside(path: Path, root: Path) -> bool:
    return path == root or path.is_relative_to(root)


def regular_under(path: Path, root: Path) -> bool:
    """Whether ``path`` (a symlink followed) is a regular file whose real path is under
    ``root``."""
    try:
        real = path.resolve(strict=True)
        st = os.stat(real)
    except (OSError, RuntimeError):
        return False
    return stat.S_ISREG(st.st_mode) and is_inside(real, root)


def walk_files(top: Path, root: Path, skip_dirs: frozenset[str]) -> list[Path]:
    """Regular files under ``top`` (or ``top`` itself), sorted, kept under ``root``;
    directory symlinks are not entered, hidden and ``skip_dirs`` directories skipped."""
    if not top.is_dir():
        return [top] if regular_under(top, root) else []
    out: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames[:] = sorted(d for d in dirnames if d not in skip_dirs
                             and not d.startswith("."))
        out += [p for p in (Path(dirpath) / f for f in sorted(filenames))
                if regular_under(p, root)]
    return out


def open_regular(path: Path) -> BinaryIO | None:
    """``path`` opened for reading if it is a regular file now; None otherwise (a FIFO or
    device is refused without blocking)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)
                     | getattr(os, "O_NOCTTY", 0))
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            return None
        os.set_blocking(fd, True)
    except OSError:
        os.close(fd)
        return None
    return os.fdopen(fd, "rb")


def iter_lines(fh: BinaryIO, max_chars: int, *, strict: bool = False) -> Iterator[str]:
    """The file's lines without their newline, each cut to ``max_chars`` characters (with
    a note); read in bounded chunks, so one 5 GB line costs no more memory than a short
    one. ``strict`` raises UnicodeDecodeError on bytes that are not UTF-8."""
    errors = "strict" if strict else "replace"
    cap = max_chars * 4
    line = bytearray()
    length = 0
    while True:
        data = fh.read(READ_CHUNK)
        if not data:
            break
        start = 0
        while True:
            nl = data.find(b"\n", start)
            end = len(data) if nl < 0 else nl
            if len(line) < cap:
                line += data[start:min(end, start + cap - len(line))]
            length += end - start
            if nl < 0:
                break
            yield _text(line, length, max_chars, errors)
            line, length, start = bytearray(), 0, nl + 1
    if length:
        yield _text(line, length, max_chars, errors)


def _text(line: bytearray, length: int, max_chars: int, errors: str) -> str:
    if length > len(line):  # cut mid-way: the last character may be split
        text = bytes(line).decode("utf-8", "replace" if errors == "replace" else "ignore")
    else:
        text = bytes(line).decode("utf-8", errors)
    text = text.rstrip("\r")
    if len(text) > max_chars or length > len(line):
        return f"{text[:max_chars]}... [line cut at {max_chars} of {length} bytes]"
    return text
