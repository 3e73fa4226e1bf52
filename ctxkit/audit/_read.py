"""Reading log files safely: regular files only, a size cap, JSON depth bounded, lines
streamed.

Owns the rules every audit input passes before any format sees it: a path that is not a
regular file (a FIFO, a device, a socket, a symlink to one) is refused without being
opened for a blocking read, so ``ctxkit audit DIR`` never hangs on a FIFO named
``*.jsonl`` nor reads ``/dev/zero``; a file over ``max_bytes`` is refused before it is
read; JSON nested deeper than Python can parse is an error naming the file, not a
RecursionError. JSONL is read one line at a time (bounded memory), with the bytes read so
far for a progress bar. Knows no log format.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from .._errors import UserError

MAX_BYTES = 2 << 30  # 2 GiB: far above any real log, far below exhausting memory
MAX_LINE_BYTES = 256 << 20
BOM = b"\xef\xbb\xbf"  # UTF-8's byte order mark: Windows tools start files with it

Progress = Callable[[int], None]  # called with the bytes read so far in this file


def kind_of(mode: int) -> str:
    """A word for a non-regular file type."""
    for test, word in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISDIR, "a directory")):
        if test(mode):
            return word
    return "not a regular file"


def check_regular(path: Path, max_bytes: int = MAX_BYTES) -> int:
    """The size of ``path`` if it is a regular file within ``max_bytes``.

    Raises:
        UserError: it is something else (FIFO, device, socket), or too large.
    """
    try:
        st = os.stat(path)  # follows symlinks: a link to /dev/zero is a device
    except OSError as exc:
        raise UserError(f"{path}: cannot read it ({exc.strerror})") from exc
    if not stat.S_ISREG(st.st_mode):
        raise UserError(f"{path}: {kind_of(st.st_mode)}, not a regular file; ctxkit audit "
                        "reads regular files only")
    if st.st_size > max_bytes:
        raise UserError(f"{path}: {st.st_size:,} bytes, over the {max_bytes:,}-byte cap; "
                        "split the log or raise the cap with --max-bytes")
    return st.st_size


def open_regular(path: Path, max_bytes: int = MAX_BYTES) -> IO[bytes]:
    """Open ``path`` for reading, refusing anything but a regular file within the cap.

    The file is opened non-blocking and checked with ``fstat`` on the open descriptor, so a
    FIFO swapped in after the directory walk still cannot block the audit.
    """
    check_regular(path, max_bytes)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise UserError(f"{path}: cannot open it ({exc.strerror})") from exc
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_size > max_bytes:
        os.close(fd)
        raise UserError(f"{path}: changed while being read ({kind_of(st.st_mode)}, "
                        f"{st.st_size:,} bytes); ctxkit audit reads regular files only")
    if hasattr(os, "set_blocking"):
        os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def read_text(path: Path, max_bytes: int = MAX_BYTES) -> str:
    """The whole file as UTF-8 text (regular files within the cap only)."""
    with open_regular(path, max_bytes) as fh:
        data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise UserError(f"{path}: grew past the {max_bytes:,}-byte cap while being read")
    try:
        return data.removeprefix(BOM).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc


def iter_lines(path: Path, max_bytes: int = MAX_BYTES, progress: Progress | None = None
               ) -> Iterator[tuple[int, str]]:
    """(line number, text) of each non-blank line, read one at a time."""
    done = 0
    with open_regular(path, max_bytes) as fh:
        for n, raw in enumerate(iter(lambda: fh.readline(MAX_LINE_BYTES + 1), b""), start=1):
            done += len(raw)
            if done > max_bytes:
                raise UserError(f"{path}: grew past the {max_bytes:,}-byte cap")
            if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                raise UserError(f"{path}:{n}: a line over {MAX_LINE_BYTES:,} bytes; "
                                "ctxkit audit reads JSONL lines up to that size")
            if progress is not None:
                progress(done)
            if n == 1:
                raw = raw.removeprefix(BOM)
            if not raw.strip():
                continue
            try:
                yield n, raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise UserError(f"{path}:{n}: not UTF-8 text ({exc.reason})") from exc


def loads(text: str, where: str) -> Any:
    """``json.loads``, with nesting deeper than Python can parse as a UserError.

    Raises:
        ValueError: not JSON (the caller decides whether that is an error).
        UserError: nested too deep to parse.
    """
    try:
        return json.loads(text)
    except RecursionError as exc:
        raise UserError(f"{where}: JSON nested too deeply to read (over about "
                        "1,000 levels); ctxkit audit does not read it") from exc


def first_char(path: Path, max_bytes: int = MAX_BYTES) -> str:
    """The first non-space character of a regular file ('' when empty)."""
    with open_regular(path, max_bytes) as fh:
        chunk = fh.read(4096).removeprefix(BOM)
        while chunk:
            s = chunk.lstrip()
            if s:
                return chr(s[0])
            chunk = fh.read(4096)
    return ""
